//! Grouping Accuracy of the log analyzer on Loghub-2k, as logpai's evaluator computes it. Lines
//! go through the whole [`Analyzer`] (memos of exact repeats and of number skeletons, then the
//! template miner), as `homeostat analyze` and log sources run them; the table also says whether
//! the bare template miner grouped every line the same.
//! Usage: `cargo run --release --example ga_eval [DATA_DIR] [--dump DATASET]`.

use std::collections::HashMap;
use std::error::Error;
use std::path::Path;

use homeostat::logs::miner::{ClusterId, MinerConfig, TemplateMiner};
use homeostat::logs::{Analyzer, Classifier};

/// The ten Loghub-2k datasets of the benchmark.
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

/// Reads `(Content, EventId)` pairs from a `*_structured.csv` file.
fn load(dir: &Path, name: &str) -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let path = dir.join(name).join(format!("{name}_2k.log_structured.csv"));
    let mut rd = csv::Reader::from_path(&path)?;
    let headers = rd.headers()?.clone();
    let col = |c: &str| {
        headers
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| format!("{}: no column {c}", path.display()))
    };
    let (content, event) = (col("Content")?, col("EventId")?);
    let mut rows = Vec::new();
    for rec in rd.records() {
        let rec = rec?;
        let get = |i: usize| rec.get(i).unwrap_or("").to_owned();
        rows.push((get(content), get(event)));
    }
    Ok(rows)
}

/// Grouping Accuracy: lines in predicted groups that exactly equal one ground-truth group.
fn grouping_accuracy(pred: &[ClusterId], truth: &[String]) -> f64 {
    let mut truth_sizes: HashMap<&str, usize> = HashMap::new();
    for t in truth {
        *truth_sizes.entry(t.as_str()).or_default() += 1;
    }
    let mut groups: HashMap<ClusterId, Vec<&str>> = HashMap::new();
    for (p, t) in pred.iter().zip(truth) {
        groups.entry(*p).or_default().push(t.as_str());
    }
    let correct: usize = groups
        .values()
        .filter(|g| g.iter().all(|t| *t == g[0]) && truth_sizes.get(g[0]) == Some(&g.len()))
        .map(Vec::len)
        .sum();
    correct as f64 / truth.len().max(1) as f64
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dump = args
        .iter()
        .position(|a| a == "--dump")
        .and_then(|i| args.get(i + 1).cloned());
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--") && Some(*a) != dump.as_ref())
        .cloned()
        .unwrap_or_else(|| "../shared/data/loghub-2k".to_owned());
    let mut sum = 0.0;
    println!(
        "{:<10} {:>6} {:>9} {:>9} {:>10}",
        "dataset", "GA", "clusters", "events", "bare miner"
    );
    for name in DATASETS {
        let rows = load(Path::new(&dir), name)?;
        let mut analyzer = Analyzer::new(Classifier::builtin(), MinerConfig::default());
        let pred: Vec<ClusterId> = rows
            .iter()
            .enumerate()
            .map(|(i, (c, _))| analyzer.analyze_line(c, i as u64).cluster)
            .collect();
        let mut miner = TemplateMiner::new(MinerConfig::default());
        let bare: Vec<ClusterId> = rows
            .iter()
            .enumerate()
            .map(|(i, (c, _))| miner.add(c, i as u64).0)
            .collect();
        let truth: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        let ga = grouping_accuracy(&pred, &truth);
        let events = truth.iter().collect::<std::collections::HashSet<_>>().len();
        let same = if same_groups(&pred, &bare) {
            "yes"
        } else {
            "NO"
        };
        println!(
            "{name:<10} {ga:>6.4} {:>9} {events:>9} {same:>10}",
            analyzer.miner().len()
        );
        sum += ga;
        if dump.as_deref() == Some(*name) {
            dump_errors(analyzer.miner(), &pred, &rows);
        }
    }
    println!("{:<10} {:>6.4}", "mean", sum / DATASETS.len() as f64);
    Ok(())
}

/// True when two runs put the same lines together (cluster ids aside).
fn same_groups(a: &[ClusterId], b: &[ClusterId]) -> bool {
    let (mut ab, mut ba) = (HashMap::new(), HashMap::new());
    a.iter()
        .zip(b)
        .all(|(x, y)| *ab.entry(x).or_insert(y) == y && *ba.entry(y).or_insert(x) == x)
}

/// Prints, for each ground-truth event split or mixed by the miner, its clusters' templates.
fn dump_errors(miner: &TemplateMiner, pred: &[ClusterId], rows: &[(String, String)]) {
    let mut by_event: HashMap<&str, HashMap<ClusterId, usize>> = HashMap::new();
    let mut by_cluster: HashMap<ClusterId, HashMap<&str, usize>> = HashMap::new();
    for (p, (_, e)) in pred.iter().zip(rows) {
        *by_event.entry(e).or_default().entry(*p).or_default() += 1;
        *by_cluster.entry(*p).or_default().entry(e).or_default() += 1;
    }
    let mut events: Vec<_> = by_event.iter().collect();
    events.sort_by_key(|x| x.0);
    for (e, cl) in events {
        let mixed = cl.keys().any(|c| by_cluster[c].len() > 1);
        if cl.len() == 1 && !mixed {
            continue;
        }
        let n: usize = cl.values().sum();
        println!("--- {e} ({n} lines) split into {} clusters", cl.len());
        for (c, k) in cl {
            let t = miner.cluster(*c).map(|c| c.template()).unwrap_or_default();
            let others: Vec<_> = by_cluster[c].iter().filter(|x| x.0 != e).collect();
            println!("   {k:>4} x [{c}] {t}   others={others:?}");
            if let Some(s) = miner.cluster(*c).and_then(|c| c.samples.first()) {
                println!("          e.g. {s}");
            }
        }
    }
}
