//! Per-line analysis: every line is clustered into a template, and additionally classified
//! into a known failure category when one matches. It runs in two halves — [`Triage`] (cut,
//! recall, classify) and [`Clusterer`] (mask and mine) — which [`Analyzer`] runs one after the
//! other and [`super::pipeline`] runs on two threads, with the same results.

use super::category::{CategoryId, Classifier};
use super::mask::{Masker, Token};
use super::memo::SlotValues;
use super::miner::{ClusterId, ClusterRef, MinerConfig, TemplateMiner};
use super::triage::{Triage, Triaged};

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

/// The second half of a line's analysis: the template miner, and the cluster each line the
/// triage memo keeps joined (so an exact repeat is counted without being masked again).
pub struct Clusterer {
    miner: TemplateMiner,
    joined: SlotValues<ClusterRef>,
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
        let repeat_of = found
            .memo
            .filter(|_| found.repeat)
            .and_then(|slot| self.joined.get(slot));
        if let Some(at) = repeat_of
            && self.miner.add_repeat(at, line, now_ms)
        {
            return LineResult {
                category: found.category,
                cluster: at.id,
                new_cluster: false,
            };
        }
        // A new line, or a repeat whose cluster was evicted since: mine it.
        let (at, new_cluster) = match masked {
            Some(tokens) => self.miner.add_masked(line, tokens, now_ms),
            None => self.miner.add_located(line, now_ms),
        };
        if let Some(slot) = found.memo {
            self.joined.set(slot, at);
        }
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
                miner: TemplateMiner::new(config),
                joined: SlotValues::default(),
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
