//! Per-line analysis: every line is clustered into a template, and additionally classified
//! into a known failure category when one matches.

use super::category::{CategoryId, Classifier};
use super::mask::Masker;
use super::memo::{LineMemo, Recalled};
use super::miner::{ClusterId, MinerConfig, TemplateMiner};

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

/// Classifier plus template miner, fed one line at a time.
pub struct Analyzer {
    classifier: Classifier,
    miner: TemplateMiner,
    truncator: Masker,
    memo: LineMemo,
}

impl Analyzer {
    /// Creates an analyzer from a classifier and a miner configuration.
    pub fn new(classifier: Classifier, config: MinerConfig) -> Self {
        Analyzer {
            truncator: Masker::new(config.mask.clone()),
            classifier,
            miner: TemplateMiner::new(config),
            memo: LineMemo::default(),
        }
    }

    /// Classifies and clusters one line (cut to the configured `max_bytes` first). An exact
    /// repeat of a recent line takes that line's category and cluster at once.
    pub fn analyze_line(&mut self, line: &str, now_ms: u64) -> LineResult {
        let line = self.truncator.truncate(line);
        let key = self.memo.key(line);
        if let Some(r) = key.and_then(|k| self.memo.recall(k, line))
            && self.miner.add_repeat(r.cluster, line, now_ms)
        {
            return LineResult {
                category: r.category,
                cluster: r.cluster.id,
                new_cluster: false,
            };
        }
        let category = self.classifier.classify_learning(line);
        let (cluster, new_cluster) = self.miner.add_located(line, now_ms);
        if let Some(k) = key {
            self.memo.remember(k, line, Recalled { category, cluster });
        }
        LineResult {
            category,
            cluster: cluster.id,
            new_cluster,
        }
    }

    /// The classifier in use.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// The template miner and its clusters.
    pub fn miner(&self) -> &TemplateMiner {
        &self.miner
    }

    /// The template miner, to change (e.g. to keep and drain evicted clusters).
    pub fn miner_mut(&mut self) -> &mut TemplateMiner {
        &mut self.miner
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
