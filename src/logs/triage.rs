//! The first half of a line's analysis: cut it to size, recognise an exact repeat of a recent
//! line, and classify it into a failure category. It needs no cluster state, so it can run on
//! another thread than the template miner (see [`super::pipeline`]).

use super::category::{CategoryId, Classifier};
use super::mask::{Masker, Token};
use super::memo::{LineMemo, MemoSlot};

/// What triage found out about one line, for [`super::analyzer::Clusterer::cluster`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triaged {
    /// The first matching category, if any.
    pub category: Option<CategoryId>,
    /// Where the memo keeps this line, when it keeps it.
    pub memo: Option<MemoSlot>,
    /// True when the line is an exact repeat of the line kept at `memo`.
    pub repeat: bool,
}

/// Truncation, the memo of recent exact lines and the classifier (and a masker with the
/// miner's limits).
pub struct Triage {
    classifier: Classifier,
    masker: Masker,
    memo: LineMemo,
}

impl Triage {
    /// Triage with `classifier`'s categories, cutting (and masking) lines as `masker` does.
    pub fn new(classifier: Classifier, masker: Masker) -> Self {
        Triage {
            classifier,
            masker,
            memo: LineMemo::default(),
        }
    }

    /// Cuts `line` to the configured `max_bytes` and triages it; returns the cut line (what
    /// every later step must see) and the findings. An exact repeat of a remembered line takes
    /// that line's category without being classified again.
    #[inline]
    pub fn triage<'a>(&mut self, line: &'a str) -> (&'a str, Triaged) {
        let line = self.masker.truncate(line);
        let key = self.memo.key(line);
        if let Some((slot, category)) = key.and_then(|k| self.memo.recall(k, line)) {
            let found = Triaged {
                category,
                memo: Some(slot),
                repeat: true,
            };
            return (line, found);
        }
        let category = self.classifier.classify_learning(line);
        let found = Triaged {
            category,
            memo: key.map(|k| self.memo.remember(k, line, category)),
            repeat: false,
        };
        (line, found)
    }

    /// Masks a line this triage cut (into `out`), as the miner would: lets the triage thread
    /// take masking work off the clustering thread when that one falls behind.
    pub fn mask(&self, line: &str, out: &mut Vec<Token>) {
        self.masker.mask(line, out);
    }

    /// The classifier in use.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}
