//! Single-thread throughput of classify + cluster over Loghub-2k content lines, repeated to
//! at least 1,000,000 lines. Usage: `cargo run --release --example throughput [DATA_DIR]`.

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use homeostat::logs::{Analyzer, Classifier, MinerConfig, TemplateMiner};

const DATASETS: &[&str] = &[
    "HDFS",
    "Hadoop",
    "Spark",
    "Zookeeper",
    "BGL",
    "Android",
    "HealthApp",
    "Apache",
    "Proxifier",
    "OpenSSH",
];

const TARGET_LINES: usize = 1_000_000;

/// Reads the Content column of every dataset.
fn load(dir: &Path) -> Result<Vec<String>, Box<dyn Error>> {
    let mut lines = Vec::new();
    for name in DATASETS {
        let path = dir.join(name).join(format!("{name}_2k.log_structured.csv"));
        let mut rd = csv::Reader::from_path(&path)?;
        let col = rd
            .headers()?
            .iter()
            .position(|h| h == "Content")
            .ok_or_else(|| format!("{}: no Content column", path.display()))?;
        for rec in rd.records() {
            lines.push(rec?.get(col).unwrap_or("").to_owned());
        }
    }
    Ok(lines)
}

/// Runs `f` over `total` lines cycling through `lines`; returns lines per second.
fn measure(lines: &[String], total: usize, mut f: impl FnMut(&str, u64) -> usize) -> (f64, usize) {
    let start = Instant::now();
    let mut sink = 0usize;
    for i in 0..total {
        sink = sink.wrapping_add(f(&lines[i % lines.len()], i as u64));
    }
    (total as f64 / start.elapsed().as_secs_f64(), sink)
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/loghub-2k".to_owned());
    let lines = load(Path::new(&dir))?;
    if lines.is_empty() {
        return Err("no lines".into());
    }
    let total = TARGET_LINES.div_ceil(lines.len()) * lines.len();
    let bytes: usize = lines.iter().map(String::len).sum::<usize>() * (total / lines.len());
    println!(
        "{} distinct lines, {total} lines fed, {bytes} bytes",
        lines.len()
    );

    let classifier = Classifier::builtin();
    let (rate, hits) = measure(&lines, total, |l, _| {
        usize::from(classifier.classify(l).is_some())
    });
    println!("classify only:      {rate:>12.0} lines/s ({hits} classified)");

    let mut miner = TemplateMiner::new(MinerConfig::default());
    let (rate, _) = measure(&lines, total, |l, t| usize::from(miner.add(l, t).1));
    println!(
        "cluster only:       {rate:>12.0} lines/s ({} clusters)",
        miner.len()
    );

    let mut analyzer = Analyzer::default();
    let (rate, _) = measure(&lines, total, |l, t| {
        usize::from(analyzer.analyze_line(l, t).category.is_some())
    });
    println!(
        "classify + cluster: {rate:>12.0} lines/s, {:.1} MB/s ({} clusters)",
        rate * bytes as f64 / total as f64 / 1e6,
        analyzer.miner().len()
    );
    Ok(())
}
