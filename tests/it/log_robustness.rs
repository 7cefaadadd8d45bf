//! Robustness: the masker, miner and analyzer never panic on arbitrary input, and the
//! miner's cluster count and bytes stay bounded under adversarial (all-unique) lines.

use std::sync::LazyLock;

use homeostat::logs::{Analyzer, Classifier, MaskConfig, Masker, MinerConfig, TemplateMiner};
use proptest::prelude::*;

/// Compiled once: building the regex set per proptest case would dominate the run time.
static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(Classifier::builtin);

fn analyzer() -> Analyzer {
    Analyzer::new(CLASSIFIER.clone(), MinerConfig::default())
}

/// Small deterministic xorshift generator for adversarial lines.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A line of 1..=24 random lowercase words (no digits, so nothing is masked).
    fn line(&mut self) -> String {
        let words = 1 + self.next() % 24;
        let mut s = String::new();
        for _ in 0..words {
            if !s.is_empty() {
                s.push(' ');
            }
            for _ in 0..(1 + self.next() % 8) {
                s.push(char::from(b'a' + (self.next() % 26) as u8));
            }
        }
        s
    }
}

#[test]
fn unique_lines_keep_clusters_bounded() {
    let cfg = MinerConfig {
        max_clusters: 500,
        ..MinerConfig::default()
    };
    let mut miner = TemplateMiner::new(cfg);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for t in 0..200_000u64 {
        let (id, _) = miner.add(&rng.line(), t);
        assert!(miner.len() <= 500);
        assert!(
            miner.cluster(id).is_some(),
            "the line's own cluster is live"
        );
    }
    assert_eq!(miner.clusters().count(), miner.len());
    assert!(miner.clusters().all(|c| c.samples.len() <= 3));
}

/// Long unique lines: what the clusters hold stays under `max_bytes`, however many clusters
/// `max_clusters` would allow (10,000 of these would hold ~170 MB).
#[test]
fn long_unique_lines_keep_cluster_bytes_bounded() {
    const BUDGET: usize = 4 << 20;
    let mut miner = TemplateMiner::new(MinerConfig {
        max_bytes: BUDGET,
        ..MinerConfig::default()
    });
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for t in 0..1_500u64 {
        // ~16 KiB of letters-only words: a template of its own, nothing masked.
        let mut line = String::new();
        while line.len() < 16_000 {
            line.push_str(&rng.line());
            line.push(' ');
        }
        let (id, _) = miner.add(&line, t);
        assert!(miner.bytes() <= BUDGET, "{} bytes", miner.bytes());
        assert!(
            miner.cluster(id).is_some(),
            "the line's own cluster is live"
        );
    }
    let held: usize = miner
        .clusters()
        .map(|c| {
            c.tokens.iter().flatten().map(|t| t.len()).sum::<usize>()
                + c.samples.iter().map(String::len).sum::<usize>()
        })
        .sum();
    assert!(
        held <= miner.bytes(),
        "the weight counts all the text: {held} > {}",
        miner.bytes()
    );
    assert!(
        (100..500).contains(&miner.len()),
        "evicted by bytes, not by count: {} clusters",
        miner.len()
    );
}

#[test]
fn huge_line_is_capped() {
    let mut miner = TemplateMiner::new(MinerConfig::default());
    let line = "é".repeat(1 << 20);
    let (id, _) = miner.add(&line, 0);
    let c = miner.cluster(id).expect("cluster exists");
    assert!(c.samples.iter().all(|s| s.len() <= 16 * 1024));
    assert!(c.tokens.len() <= MaskConfig::default().max_tokens);
}

proptest! {
    #[test]
    fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let line = String::from_utf8_lossy(&bytes);
        let masker = Masker::new(MaskConfig { max_bytes: 300, max_tokens: 16 });
        let mut toks = Vec::new();
        let src = masker.mask(&line, &mut toks);
        prop_assert!(src.len() <= 300);
        prop_assert!(toks.len() <= 16);
        for t in &toks {
            let _ = t.text(src);
        }
        let mut a = analyzer();
        a.analyze_line(&line, 0);
        a.analyze_line(&line, 1);
    }

    #[test]
    fn never_panics_on_strings(lines in proptest::collection::vec(".{0,200}", 1..20)) {
        let mut miner = TemplateMiner::new(MinerConfig { max_clusters: 4, max_samples: 1, ..MinerConfig::default() });
        for (i, l) in lines.iter().enumerate() {
            let (id, _) = miner.add(l, i as u64);
            prop_assert!(miner.cluster(id).is_some());
            prop_assert!(miner.len() <= 4);
        }
    }

    #[test]
    fn never_panics_on_log_like_text(lines in proptest::collection::vec(
        r#"([a-z]{1,6}|[0-9]{1,5}|[=:,;()\[\]{}"'/\\. <>*-]|0x[0-9a-f]{2}|\s){0,40}"#, 1..30)) {
        let mut a = analyzer();
        for (i, l) in lines.iter().enumerate() {
            let r = a.analyze_line(l, i as u64);
            prop_assert!(a.miner().cluster(r.cluster).is_some());
        }
    }
}
