//! Per-line analysis: every line is clustered into a template, and additionally classified
//! into a known failure category when one matches. It runs in two halves — [`Triage`] (cut,
//! recall, classify) and [`Clusterer`] (mask and mine) — which [`Analyzer`] runs one after the
//! other and [`super::pipeline`] runs on two threads, with the same results.

use super::category::Classifier;
use super::mask::{Masker, Token};
use super::memo::SlotValues;
use super::miner::{ClusterId, ClusterRef, MinerConfig, TemplateMiner};
use super::skeleton;
use super::triage::{Triage, Triaged};
use crate::model::CategoryId;

/// What the analyzer learned about one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineResult {
    /// The first matching category, if any.
    pub category: Option<CategoryId>,
    /// The template cluster the line joined.
    pub cluster: ClusterId,
    /// True when this line created its cluster.
    pub new_cluster: bool,
}

/// The second half of a line's analysis: the masker and the template miner, and the cluster
/// each line the triage memos keep joined (so an exact repeat, or a line with a recent line's
/// number skeleton, is counted without being masked).
pub struct Clusterer {
    masker: Masker,
    miner: TemplateMiner,
    /// The cluster each line of the triage memo joined.
    joined: SlotValues<ClusterRef>,
    /// The cluster each skeleton of the triage's skeleton memo joined, when every line of that
    /// skeleton is masked alike (see [`skeleton::has_digit_literal`]).
    twins: SlotValues<ClusterRef>,
    /// Tokens of the line at hand.
    tokens: Vec<Token>,
}

impl Clusterer {
    /// Clusters a triaged line (already cut by [`Triage::triage`]), seen at `now_ms`; `masked`
    /// is its tokens when [`Triage::mask`] made them already. Lines must come in the order
    /// they were triaged.
    #[inline]
    pub fn cluster(
        &mut self,
        line: &str,
        found: Triaged,
        masked: Option<&[Token]>,
        now_ms: u64,
    ) -> LineResult {
        let known = if found.repeat {
            found.memo.and_then(|slot| self.joined.get(slot))
        } else if found.twin {
            found.skeleton.and_then(|slot| self.twins.get(slot))
        } else {
            None
        };
        if let Some(at) = known
            && self.miner.add_repeat(at, line, now_ms)
        {
            if !found.repeat
                && let Some(slot) = found.memo
            {
                self.joined.set(slot, Some(at));
            }
            return LineResult {
                category: found.category,
                cluster: at.id,
                new_cluster: false,
            };
        }
        // A new line, or one whose twin's cluster was evicted since: mine it.
        let mut tokens = std::mem::take(&mut self.tokens);
        let tokens_of_line = match masked {
            Some(given) => given,
            None => {
                self.masker.mask(line, &mut tokens);
                &tokens[..]
            }
        };
        let (at, new_cluster) = self.miner.add_masked(line, tokens_of_line, now_ms);
        if let Some(slot) = found.memo {
            self.joined.set(slot, Some(at));
        }
        if let Some(slot) = found.skeleton {
            let alike = !skeleton::has_digit_literal(tokens_of_line, line);
            self.twins.set(slot, alike.then_some(at));
        }
        self.tokens = tokens;
        LineResult {
            category: found.category,
            cluster: at.id,
            new_cluster,
        }
    }

    /// The template miner and its clusters.
    pub fn miner(&self) -> &TemplateMiner {
        &self.miner
    }
}

/// Classifier plus template miner, fed one line at a time.
pub struct Analyzer {
    triage: Triage,
    clusterer: Clusterer,
}

impl Analyzer {
    /// Creates an analyzer from a classifier and a miner configuration.
    pub fn new(classifier: Classifier, config: MinerConfig) -> Self {
        Analyzer {
            triage: Triage::new(classifier, Masker::new(config.mask.clone())),
            clusterer: Clusterer {
                masker: Masker::new(config.mask.clone()),
                miner: TemplateMiner::new(config),
                joined: SlotValues::default(),
                twins: SlotValues::default(),
                tokens: Vec::new(),
            },
        }
    }

    /// Classifies and clusters one line (cut to the configured `max_bytes` first). An exact
    /// repeat of a recent line takes that line's category and cluster at once.
    #[inline]
    pub fn analyze_line(&mut self, line: &str, now_ms: u64) -> LineResult {
        let (line, found) = self.triage.triage(line);
        self.clusterer.cluster(line, found, None, now_ms)
    }

    /// The two halves, to run apart (each line through the first, then in the same order
    /// through the second).
    pub fn halves(&mut self) -> (&mut Triage, &mut Clusterer) {
        (&mut self.triage, &mut self.clusterer)
    }

    /// The classifier in use.
    pub fn classifier(&self) -> &Classifier {
        self.triage.classifier()
    }

    /// The template miner and its clusters.
    pub fn miner(&self) -> &TemplateMiner {
        &self.clusterer.miner
    }

    /// The template miner, to change (e.g. to keep and drain evicted clusters).
    pub fn miner_mut(&mut self) -> &mut TemplateMiner {
        &mut self.clusterer.miner
    }
}

impl Default for Analyzer {
    /// The built-in categories and the default miner configuration.
    fn default() -> Self {
        Analyzer::new(Classifier::builtin(), MinerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_and_clusters() {
        let mut a = Analyzer::default();
        let r1 = a.analyze_line("open() \"/a\" failed (2: No such file or directory)", 1);
        let r2 = a.analyze_line("open() \"/b/c\" failed (2: No such file or directory)", 2);
        let r3 = a.analyze_line("worker 3 started", 3);
        assert_eq!(r1.category, a.classifier().id_of("missing_file"));
        assert!(r1.new_cluster && !r2.new_cluster);
        assert_eq!(r1.cluster, r2.cluster);
        assert_eq!(r3.category, None);
        assert_ne!(r3.cluster, r1.cluster);
        assert_eq!(a.miner().len(), 2);
    }

    #[test]
    fn lines_differing_in_numbers_get_what_the_bare_classifier_and_miner_give_them() {
        let mut a = Analyzer::default();
        let classifier = Classifier::builtin();
        let mut miner = TemplateMiner::new(MinerConfig::default());
        let mut state = 7u64;
        let mut n = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 40
        };
        // Cluster ids of the analyzer's run for each id of the bare miner's.
        let mut same = std::collections::HashMap::new();
        let mut back = std::collections::HashMap::new();
        let mut twins = 0;
        for i in 0..20_000u64 {
            let line = match i % 9 {
                0 => format!(
                    "worker {} finished job {} in {} ms",
                    n() % 4,
                    n(),
                    n() % 900
                ),
                // The key keeps its digits: twins by skeleton, not by mask.
                1 => format!("x{}=5 sent {} bytes", n() % 30, n()),
                2 => format!(
                    "10.0.0.{} - - [02/Jan/2024:10:00:{:02} +0000] \"GET /a HTTP/1.1\" {} {}",
                    n() % 9,
                    n() % 60,
                    [200, 503, 404, 500][(n() % 4) as usize],
                    n()
                ),
                3 => format!(
                    "connect failed: error {}",
                    [10061, 1006, 100610][(n() % 3) as usize]
                ),
                4 => format!(
                    "user{} logged in from 10.1.{}.{}",
                    n() % 5,
                    n() % 3,
                    n() % 3
                ),
                5 => format!("session {} closed", n() % 3),
                6 => format!("disk {} full: No space left on device", n() % 2),
                7 => format!("status=5{:02} for request {}", n() % 100, n()),
                _ => format!("step{} took {}.{}s", n() % 3, n() % 10, n() % 1000),
            };
            let got = a.analyze_line(&line, i);
            twins += usize::from(!got.new_cluster);
            assert_eq!(got.category, classifier.classify(&line), "{line}");
            let (want, _) = miner.add(&line, i);
            let mapped = *same.entry(want).or_insert(got.cluster);
            let back = *back.entry(got.cluster).or_insert(want);
            assert_eq!((got.cluster, want), (mapped, back), "{line}");
        }
        assert_eq!(a.miner().len(), miner.len());
        assert!(twins > 19_000);
    }

    #[test]
    fn a_repeat_is_counted_into_its_cluster_or_clustered_anew_after_eviction() {
        let mut a = Analyzer::new(
            Classifier::builtin(),
            MinerConfig {
                max_clusters: 1,
                ..MinerConfig::default()
            },
        );
        let line = "connect to db failed: Connection refused";
        let first = a.analyze_line(line, 1);
        let again = a.analyze_line(line, 2);
        assert_eq!(
            (again.cluster, again.category),
            (first.cluster, first.category)
        );
        assert!(!again.new_cluster);
        assert_eq!(a.miner().cluster(first.cluster).map(|c| c.count), Some(2));
        // Another template evicts the only cluster; the repeat must not count into a ghost.
        a.analyze_line("worker pool resized", 3);
        let after = a.analyze_line(line, 4);
        assert!(after.new_cluster && after.cluster != first.cluster);
        assert_eq!(after.category, first.category);
        assert_eq!(a.miner().cluster(after.cluster).map(|c| c.count), Some(1));
    }
}
