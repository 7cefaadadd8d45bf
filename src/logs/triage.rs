//! The first half of a line's analysis: cut it to size, recognise an exact repeat of a recent
//! line or a line with the number skeleton of a recent one (see [`super::skeleton`]), and
//! classify it into a failure category. It needs no cluster state, so it can run on another
//! thread than the template miner (see [`super::pipeline`]).

use super::category::Classifier;
use super::mask::{Masker, Token};
use super::memo::{LineMemo, MemoSlot};
use super::prefilter::Candidates;
use super::skeleton;
use crate::model::CategoryId;

/// What triage found out about one line, for [`super::analyzer::Clusterer::cluster`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triaged {
    /// The first matching category, if any.
    pub category: Option<CategoryId>,
    /// Where the memo keeps this line, when it keeps it.
    pub memo: Option<MemoSlot>,
    /// True when the line is an exact repeat of the line kept at `memo`.
    pub repeat: bool,
    /// Where the skeleton memo keeps this line's number skeleton, when it was looked up (not
    /// for exact repeats, nor for lines too long to remember).
    pub skeleton: Option<MemoSlot>,
    /// True when an earlier line had the same skeleton (the one that filed it at `skeleton`).
    pub twin: bool,
}

/// Truncation, the memos of recent exact lines and of their number skeletons, and the
/// classifier (and a masker with the miner's limits).
pub struct Triage {
    classifier: Classifier,
    masker: Masker,
    /// Recent lines, and their categories.
    memo: LineMemo<Option<CategoryId>>,
    /// Recent lines' number skeletons, and the categories their lines may match.
    skeletons: LineMemo<Candidates>,
    /// Room for the skeleton of the line at hand.
    scratch: Vec<u8>,
}

impl Triage {
    /// Triage with `classifier`'s categories, cutting (and masking) lines as `masker` does.
    pub fn new(classifier: Classifier, masker: Masker) -> Self {
        Triage {
            classifier,
            masker,
            memo: LineMemo::default(),
            skeletons: LineMemo::default(),
            scratch: Vec::new(),
        }
    }

    /// Cuts `line` to the configured `max_bytes` and triages it; returns the cut line (what
    /// every later step must see) and the findings. An exact repeat of a remembered line takes
    /// that line's category without being classified again; a line with a remembered skeleton
    /// is only matched against the categories its skeleton allows (often none).
    #[inline]
    pub fn triage<'a>(&mut self, line: &'a str) -> (&'a str, Triaged) {
        let line = self.masker.truncate(line);
        let Some(key) = self.memo.key(line.as_bytes()) else {
            // Too long to remember (long lines rarely repeat).
            let found = Triaged {
                category: self.classifier.classify_learning(line),
                memo: None,
                repeat: false,
                skeleton: None,
                twin: false,
            };
            return (line, found);
        };
        if let Some((slot, category)) = self.memo.recall(key, line.as_bytes()) {
            let found = Triaged {
                category,
                memo: Some(slot),
                repeat: true,
                skeleton: None,
                twin: false,
            };
            return (line, found);
        }
        let skeleton = skeleton::write(line.as_bytes(), &mut self.scratch);
        let (skeleton, twin, category) = match self.skeletons.key(skeleton) {
            Some(skey) => match self.skeletons.recall(skey, skeleton) {
                Some((slot, among)) => {
                    let category = self.classifier.classify_among(line, among);
                    (Some(slot), true, category)
                }
                None => {
                    let category = self.classifier.classify_learning(line);
                    let among = self.classifier.skeleton_candidates(skeleton);
                    let slot = self.skeletons.remember(skey, skeleton, among);
                    (Some(slot), false, category)
                }
            },
            None => (None, false, self.classifier.classify_learning(line)),
        };
        let found = Triaged {
            category,
            memo: Some(self.memo.remember(key, line.as_bytes(), category)),
            repeat: false,
            skeleton,
            twin,
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
