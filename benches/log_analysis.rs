//! Criterion benchmarks of the log analysis path, one line at a time: masking, classification
//! (prefilter + pattern set) and the whole analyzer (memo, classify, cluster).
//!
//! Input: the `Content` column of the Loghub-2k samples (`HOMEOSTAT_LOGHUB`, default
//! `../shared/data/loghub-2k`); where they are absent (a clean clone elsewhere) a generated log
//! of the same flavour, so that `cargo test --all-targets` still runs every benchmark once.
//! Run: `cargo bench --bench log_analysis`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use homeostat::logs::{Analyzer, Classifier, MaskConfig, Masker};

/// The benchmark input and where it came from.
fn lines() -> (Vec<String>, &'static str) {
    let dir = std::env::var_os("HOMEOSTAT_LOGHUB").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/loghub-2k"),
        PathBuf::from,
    );
    let mut lines = Vec::new();
    let files = std::fs::read_dir(&dir).into_iter().flatten().flatten();
    for entry in files {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path().join(format!("{name}_2k.log_structured.csv"));
        let Ok(mut rd) = csv::Reader::from_path(&path) else {
            continue;
        };
        let Some(col) = rd
            .headers()
            .ok()
            .and_then(|h| h.iter().position(|c| c == "Content"))
        else {
            continue;
        };
        lines.extend(
            rd.records()
                .flatten()
                .filter_map(|r| r.get(col).map(str::to_owned)),
        );
    }
    if !lines.is_empty() {
        return (lines, "loghub");
    }
    let generated = (0..20_000u32)
        .map(|i| match i % 5 {
            0 => format!(
                "Receiving block blk_{} src: /10.0.{}.{}:50010",
                i * 7919,
                i % 250,
                i % 7
            ),
            1 => format!("session opened for user u{} by (uid={})", i % 40, i % 3),
            2 => format!(
                "connect to 10.1.{}.{}:5432 failed: Connection refused",
                i % 9,
                i % 200
            ),
            3 => format!("GET /api/items/{i} HTTP/1.1 200 {} ms", i % 900),
            _ => format!(
                "worker {} finished job {} in {}.{} s",
                i % 8,
                i,
                i % 60,
                i % 10
            ),
        })
        .collect();
    (generated, "generated")
}

fn bench(c: &mut Criterion) {
    let (lines, origin) = lines();
    let mut group = c.benchmark_group(format!("log_analysis/{origin}"));
    group.throughput(Throughput::Elements(lines.len() as u64));

    let masker = Masker::new(MaskConfig::default());
    let mut tokens = Vec::new();
    group.bench_function("mask", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(masker.mask(l, &mut tokens));
            }
        })
    });

    let mut classifier = Classifier::builtin();
    group.bench_function("classify_learning", |b| {
        b.iter(|| {
            for l in &lines {
                black_box(classifier.classify_learning(l));
            }
        })
    });

    // The same lines with a non-ASCII character in every third one (a user name, a localized
    // word): they are ruled in or out by their words like any other line.
    let accented: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| match i % 3 {
            0 => format!("{l} \u{e9}"),
            _ => l.clone(),
        })
        .collect();
    let mut classifier = Classifier::builtin();
    group.bench_function("classify_learning_non_ascii", |b| {
        b.iter(|| {
            for l in &accented {
                black_box(classifier.classify_learning(l));
            }
        })
    });

    let mut analyzer = Analyzer::default();
    let mut t = 0u64;
    group.bench_function("analyze_line", |b| {
        b.iter(|| {
            for l in &lines {
                t += 1;
                black_box(analyzer.analyze_line(l, t));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
