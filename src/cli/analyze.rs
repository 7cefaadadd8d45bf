//! `homeostat analyze FILE...`: offline log analysis — known error categories with advice, and
//! template clusters of everything else; `--assignments` prints every line's cluster.

use crate::logs::{Analyzer, Classifier, ClusterId, MinerConfig};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Instant;

/// How the summary is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    #[default]
    Table,
    /// One JSON document.
    Json,
}

/// One category that matched.
#[derive(Debug, Serialize)]
pub struct CategoryHit {
    /// Category name.
    pub name: String,
    /// Its severity.
    pub severity: crate::logs::Severity,
    /// Matching lines.
    pub count: u64,
    /// What to do about it.
    pub advice: String,
    /// Candidate runbooks.
    pub runbooks: Vec<String>,
    /// The first matching line.
    pub sample: String,
}

/// One template cluster.
#[derive(Debug, Serialize)]
pub struct ClusterSummary {
    /// Stable id.
    pub id: ClusterId,
    /// Template with `<*>` for variables.
    pub template: String,
    /// Lines in it.
    pub count: u64,
    /// A few example lines.
    pub samples: Vec<String>,
}

/// The whole analysis.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Files read.
    pub files: Vec<PathBuf>,
    /// Lines read.
    pub lines: u64,
    /// Lines that matched a category.
    pub classified_lines: u64,
    /// Categories hit, most lines first.
    pub categories: Vec<CategoryHit>,
    /// Number of clusters.
    pub cluster_count: usize,
    /// Clusters, largest first (at most `--top`).
    pub clusters: Vec<ClusterSummary>,
    /// Wall time of reading and analysing.
    pub elapsed_seconds: f64,
}

/// Longest line accepted before it is cut (never fatal).
const MAX_LINE: usize = 1024 * 1024;

/// Analyses `files` with `classifier`'s categories (the config's, or the built-in pack);
/// writes the assignments (when asked) and then the summary to `out`.
pub fn run(
    files: &[PathBuf],
    classifier: Classifier,
    format: Format,
    assignments: bool,
    top: usize,
    out: &mut dyn Write,
) -> Result<()> {
    let started = Instant::now();
    let mut analyzer = Analyzer::new(classifier, MinerConfig::default());
    let mut per_line: Vec<ClusterId> = Vec::new();
    let mut hits: HashMap<usize, (u64, String)> = HashMap::new();
    let mut lines = 0u64;
    let mut buf = Vec::new();
    for path in files {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        loop {
            buf.clear();
            let n = read_line_capped(&mut reader, &mut buf)
                .with_context(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            // Valid UTF-8 (nearly every line) is checked by the fast validator; only a line
            // that fails it pays for the replacement of its bad bytes.
            let line = match std::str::from_utf8(&buf) {
                Ok(line) => std::borrow::Cow::Borrowed(line),
                Err(_) => String::from_utf8_lossy(&buf),
            };
            let result = analyzer.analyze_line(&line, 0);
            lines += 1;
            if assignments {
                per_line.push(result.cluster);
            }
            if let Some(category) = result.category {
                hits.entry(category)
                    .or_insert_with(|| (0, line.into_owned()))
                    .0 += 1;
            }
        }
    }
    if assignments {
        let mut templates: HashMap<ClusterId, String> = HashMap::new();
        for (i, id) in per_line.iter().enumerate() {
            let template = templates.entry(*id).or_insert_with(|| {
                analyzer
                    .miner()
                    .cluster(*id)
                    .map_or_else(|| "<evicted>".to_string(), |c| c.template())
            });
            writeln!(out, "{}\t{id}\t{template}", i + 1)?;
        }
    }
    let report = build_report(
        &analyzer,
        files,
        lines,
        hits,
        top,
        started.elapsed().as_secs_f64(),
    );
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Table if !assignments => print_table(&report, out)?,
        Format::Table => {}
    }
    Ok(())
}

/// Reads one line (up to and including `\n`), keeping at most `MAX_LINE` bytes of it.
fn read_line_capped(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let keep = MAX_LINE.saturating_sub(buf.len()).min(chunk.len());
        buf.extend_from_slice(&chunk[..keep]);
        let used = chunk.len();
        reader.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

fn build_report(
    analyzer: &Analyzer,
    files: &[PathBuf],
    lines: u64,
    hits: HashMap<usize, (u64, String)>,
    top: usize,
    elapsed_seconds: f64,
) -> Report {
    let classified_lines = hits.values().map(|(n, _)| n).sum();
    let mut categories: Vec<CategoryHit> = hits
        .into_iter()
        .filter_map(|(id, (count, sample))| {
            let c = analyzer.classifier().category(id)?;
            Some(CategoryHit {
                name: c.name.clone(),
                severity: c.severity,
                count,
                advice: c.advice.clone(),
                runbooks: c.runbooks.clone(),
                sample,
            })
        })
        .collect();
    categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    let mut clusters: Vec<&crate::logs::Cluster> = analyzer.miner().clusters().collect();
    clusters.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
    Report {
        files: files.to_vec(),
        lines,
        classified_lines,
        categories,
        cluster_count: clusters.len(),
        clusters: clusters
            .into_iter()
            .take(top)
            .map(|c| ClusterSummary {
                id: c.id,
                template: c.template(),
                count: c.count,
                samples: c.samples.clone(),
            })
            .collect(),
        elapsed_seconds,
    }
}

fn print_table(report: &Report, out: &mut dyn Write) -> Result<()> {
    let rate = if report.elapsed_seconds > 0.0 {
        report.lines as f64 / report.elapsed_seconds
    } else {
        0.0
    };
    writeln!(
        out,
        "{} lines in {:.2} s ({rate:.0} lines/s); {} classified; {} clusters",
        report.lines, report.elapsed_seconds, report.classified_lines, report.cluster_count
    )?;
    if !report.categories.is_empty() {
        writeln!(
            out,
            "\nCATEGORIES\n{:>8}  {:<9} {:<28} ADVICE",
            "LINES", "SEVERITY", "CATEGORY"
        )?;
        for c in &report.categories {
            let severity = serde_json::to_value(c.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            writeln!(
                out,
                "{:>8}  {:<9} {:<28} {}",
                c.count, severity, c.name, c.advice
            )?;
            writeln!(out, "{:>8}  e.g. {}", "", c.sample)?;
            if !c.runbooks.is_empty() {
                writeln!(out, "{:>8}  runbooks: {}", "", c.runbooks.join(", "))?;
            }
        }
    }
    writeln!(out, "\nTOP CLUSTERS\n{:>8}  {:>6}  TEMPLATE", "LINES", "ID")?;
    for c in &report.clusters {
        writeln!(out, "{:>8}  {:>6}  {}", c.count, c.id, c.template)?;
    }
    Ok(())
}
