//! `homeostat analyze FILE...`: offline log analysis — known error categories with advice, and
//! template clusters of everything else; `--assignments` prints every line's cluster.

use crate::logs::{Analyzer, Classifier, ClusterId, MinerConfig, analyze_stream};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::io::{Read, Write};
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
    pub severity: crate::model::Severity,
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
/// Bytes asked for per read.
const READ: usize = 64 * 1024;

/// How `homeostat analyze` runs and what it prints.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The summary's format.
    pub format: Format,
    /// Print `line_no<TAB>cluster_id<TAB>template` for every line.
    pub assignments: bool,
    /// Clusters in the summary at most.
    pub top: usize,
    /// 1, or 2: reading and classifying on one thread, clustering on the other (the results
    /// are the same).
    pub threads: usize,
}

/// Analyses `files` with `classifier`'s categories (the config's, or the built-in pack); writes
/// the summary to `out`, or with `assignments` the assignments to `out` and the summary to
/// `summary` (so that `out` holds nothing but assignment rows).
pub fn run(
    files: &[PathBuf],
    classifier: Classifier,
    options: Options,
    out: &mut dyn Write,
    summary: &mut dyn Write,
) -> Result<()> {
    let Options {
        format,
        assignments,
        top,
        threads,
    } = options;
    let started = Instant::now();
    let mut analyzer = Analyzer::new(classifier, MinerConfig::default());
    if assignments {
        // Every line's template is printed at the end: the templates of clusters evicted
        // meanwhile are kept for it (so `--assignments` memory grows with their number).
        analyzer.miner_mut().keep_evicted_templates();
    }
    let mut per_line: Vec<ClusterId> = Vec::new();
    let mut hits: HashMap<usize, (u64, String)> = HashMap::new();
    let mut lines = 0u64;
    let mut buf = vec![0u8; MAX_LINE];
    analyze_stream(
        &mut analyzer,
        threads,
        0,
        |line, result| {
            lines += 1;
            if assignments {
                per_line.push(result.cluster);
            }
            if let Some(category) = result.category {
                hits.entry(category)
                    .or_insert_with(|| (0, line.to_owned()))
                    .0 += 1;
            }
        },
        |feed| {
            for path in files {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                for_each_line(file, &mut buf, |line| feed.line(line))
                    .with_context(|| format!("reading {}", path.display()))?;
            }
            anyhow::Ok(())
        },
    )?;
    if assignments {
        let mut templates: HashMap<ClusterId, String> = analyzer
            .miner_mut()
            .drain_evicted()
            .map(|c| (c.id, c.template()))
            .collect();
        for (i, id) in per_line.iter().enumerate() {
            let template = templates.entry(*id).or_insert_with(|| {
                analyzer
                    .miner()
                    .cluster(*id)
                    .map_or_else(String::new, |c| c.template())
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
    let print = |to: &mut dyn Write| match format {
        Format::Json => Ok(writeln!(to, "{}", serde_json::to_string_pretty(&report)?)?),
        Format::Table => print_table(&report, to),
    };
    if assignments {
        // The rows first, also where stdout and stderr are one terminal.
        out.flush()?;
        print(summary)
    } else {
        print(out)
    }
}

/// Calls `f` with every line of `file` (without its line break), using `buf` (at least one
/// byte) as the read buffer: a line is cut to `buf.len()` bytes, never fatal. Lines are handed
/// out from the buffer without copying; only a line that is not valid UTF-8 pays for the
/// replacement of its bad bytes.
fn for_each_line(
    mut file: impl Read,
    buf: &mut [u8],
    mut f: impl FnMut(&str),
) -> std::io::Result<()> {
    let mut filled = 0;
    // True while the rest of a cut line is being skipped.
    let mut skipping = false;
    loop {
        // Small reads keep the lines in the cache from the read to their analysis.
        let want = buf.len().min(filled + READ);
        let n = match file.read(&mut buf[filled..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        let eof = n == 0;
        let block = &buf[..filled];
        let complete = match memchr::memrchr(b'\n', block) {
            _ if eof => filled, // the last line may lack its line break
            Some(i) => i + 1,
            None if filled == buf.len() => filled, // a line too long: cut here
            None => 0,
        };
        let (lines, rest) = block.split_at(complete);
        // One UTF-8 check for the whole read (a few dozen KiB, still in the cache) is cheaper
        // than one per line; a read with a bad byte anywhere is checked line by line.
        let text = std::str::from_utf8(lines).ok();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', lines)
            .chain((complete > 0 && !lines.ends_with(b"\n")).then_some(complete))
        {
            let range = start..end;
            start = end + 1;
            if std::mem::take(&mut skipping) {
                continue;
            }
            if let Some(line) = text.and_then(|t| t.get(range.clone())) {
                f(line.trim_end_matches('\r'));
                continue;
            }
            let mut line = &lines[range];
            while let [head @ .., b'\r'] = line {
                line = head;
            }
            match std::str::from_utf8(line) {
                Ok(line) => f(line),
                Err(_) => f(&String::from_utf8_lossy(line)),
            }
        }
        if complete == filled && !eof && !lines.ends_with(b"\n") {
            skipping = true; // the line was cut at the buffer's size: drop the rest of it
        }
        let kept = rest.len();
        buf.copy_within(complete..filled, 0);
        filled = kept;
        if eof {
            return Ok(());
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reader that hands out its bytes in chunks of the given sizes (short reads).
    struct Chunky<'a> {
        data: &'a [u8],
        sizes: std::iter::Cycle<std::vec::IntoIter<usize>>,
    }

    impl Read for Chunky<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self
                .sizes
                .next()
                .unwrap_or(1)
                .min(out.len())
                .min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// What `for_each_line` must produce: every line, its line break and trailing `\r`s
    /// removed, cut to `cap` bytes.
    fn expected(data: &[u8], cap: usize) -> Vec<String> {
        let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        if pieces.last().is_some_and(|p| p.is_empty()) {
            pieces.pop();
        }
        pieces
            .into_iter()
            .map(|p| {
                let mut p = &p[..p.len().min(cap)];
                while let [head @ .., b'\r'] = p {
                    p = head;
                }
                String::from_utf8_lossy(p).into_owned()
            })
            .collect()
    }

    fn lines_of(data: &[u8], cap: usize, sizes: Vec<usize>) -> Vec<String> {
        let mut buf = vec![0u8; cap];
        let mut got = Vec::new();
        let reader = Chunky {
            data,
            sizes: sizes.into_iter().cycle(),
        };
        for_each_line(reader, &mut buf, |l| got.push(l.to_owned())).expect("no I/O error");
        got
    }

    #[test]
    fn splits_lines_cuts_long_ones_and_keeps_a_last_line_without_break() {
        let data = b"one\r\ntwo\n\nabcdefghij-long\nlast";
        assert_eq!(
            lines_of(data, 8, vec![3, 100]),
            ["one", "two", "", "abcdefgh", "last"]
        );
        assert_eq!(lines_of(b"", 8, vec![5]), Vec::<String>::new());
        assert_eq!(lines_of(b"\xffok\n", 8, vec![5]), ["\u{fffd}ok"]);
    }

    proptest! {
        #[test]
        fn every_line_once_whatever_the_reads(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(0xe9u8), Just(b'a'), any::<u8>()], 0..400),
            cap in 1usize..40,
            sizes in proptest::collection::vec(1usize..50, 1..5),
        ) {
            prop_assert_eq!(lines_of(&data, cap, sizes), expected(&data, cap));
        }
    }
}
