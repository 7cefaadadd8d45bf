//! `homeostat analyze`: categories with advice, clusters, `--assignments` for every line, JSON
//! output, garbage input (binary, overlong, invalid UTF-8) counted instead of fatal, and the
//! config's own `[[category]]` tables.

use crate::common;

use common::homeostat;
use std::path::Path;

fn analyze(args: &[&str]) -> (i32, String, String) {
    analyze_in(Path::new("."), args)
}

/// `homeostat analyze ARGS` run in `dir` (without HOMEOSTAT_CONFIG).
fn analyze_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = homeostat()
        .current_dir(dir)
        .env_remove("HOMEOSTAT_CONFIG")
        .arg("analyze")
        .args(args)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sample_log(dir: &std::path::Path) -> String {
    let mut lines = Vec::new();
    for i in 0..20 {
        lines.push(format!(
            "2026-11-22 10:00:{i:02} worker {i} finished job {} in {i}ms",
            1000 + i
        ));
    }
    lines.push(
        "2026-11-22 10:01:00 ERROR: could not connect to server: Connection refused".to_string(),
    );
    lines.push("2026-11-22 10:01:01 kernel: Out of memory: Killed process 1234 (java)".to_string());
    let path = dir.join("app.log");
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\x00binary\x01garbage\n");
    bytes.extend(std::iter::repeat_n(b'x', 3 * 1024 * 1024));
    bytes.extend_from_slice(b"\nlast line without newline");
    std::fs::write(&path, bytes).expect("write log");
    path.display().to_string()
}

#[test]
fn assignments_cover_every_line_with_stable_cluster_ids() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = sample_log(dir.path());
    let (code, stdout, stderr) = analyze(&["--assignments", &log]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.splitn(3, '\t').collect())
        .collect();
    assert_eq!(rows.len(), 25, "{stdout}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 3, "row {i}: {row:?}");
        assert_eq!(row[0], (i + 1).to_string());
        assert!(row[1].parse::<u64>().is_ok(), "{row:?}");
    }
    // The 20 worker lines are one template.
    assert!(rows[..20].iter().all(|r| r[1] == rows[0][1]), "{stdout}");
    assert!(
        rows[0][2].contains("worker") && rows[0][2].contains("<*>"),
        "{}",
        rows[0][2]
    );
}

/// With `--assignments`, stdout holds nothing but the rows; the summary goes to stderr, in
/// either format.
#[test]
fn assignments_keep_stdout_to_the_rows_and_the_summary_goes_to_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = sample_log(dir.path());
    let (code, stdout, stderr) = analyze(&["--assignments", "--format", "json", &log]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 25, "{stdout}");
    assert!(
        stdout.lines().all(|l| l.split('\t').count() == 3),
        "{stdout}"
    );
    let summary: serde_json::Value = serde_json::from_str(&stderr).expect("JSON summary on stderr");
    assert_eq!(summary["lines"], 25, "{summary}");
    let (code, stdout, stderr) = analyze(&["--assignments", &log]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 25, "{stdout}");
    assert!(stderr.contains("worker"), "the table on stderr: {stderr}");
}

/// More templates than the miner keeps (10,000): a line whose cluster was evicted still gets
/// its template printed.
#[test]
fn assignments_name_the_template_of_evicted_clusters_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.log");
    // 12,000 templates of letters only (nothing masked), no word shared by two lines.
    let word = |mut n: usize| -> String {
        let mut w = String::from("w");
        for _ in 0..4 {
            w.push(char::from(b'a' + (n % 26) as u8));
            n /= 26;
        }
        w
    };
    let lines: Vec<String> = (0..12_000)
        .map(|i| {
            (0..4)
                .map(|k| word(4 * i + k))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).expect("write");
    let (code, stdout, stderr) = analyze(&["--assignments", &path.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 12_000);
    for (row, line) in rows.iter().zip(&lines) {
        let template = row.splitn(3, '\t').nth(2).unwrap_or_default();
        assert_eq!(template, line, "{row}");
    }
}

#[test]
fn json_summary_names_categories_with_advice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = sample_log(dir.path());
    let (code, stdout, stderr) = analyze(&["--format", "json", &log]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["lines"], 25);
    let names = common::strings_of(&report["categories"], "name");
    assert!(names.len() >= 2, "{report}");
    assert!(report["categories"].as_array().is_some_and(|c| {
        c.iter()
            .all(|c| !c["advice"].as_str().unwrap_or_default().is_empty())
    }));
    assert!(
        report["clusters"][0]["count"].as_u64() >= Some(20),
        "{report}"
    );

    let (code, table, _) = analyze(&[&log]);
    assert_eq!(code, 0);
    assert!(
        table.contains("CATEGORIES") && table.contains("TOP CLUSTERS"),
        "{table}"
    );
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let (code, _, stderr) = analyze(&["/nonexistent/file.log"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("cannot open /nonexistent/file.log"),
        "{stderr}"
    );
}

/// A config whose own category catches payment gateway lines (which also say "connection
/// refused") and which turns the built-in `out_of_memory` off.
const CATEGORIES: &str = r#"
[[runbook]]
name = "restart-vpn"
steps = [ { run = ["true"] } ]

[[category]]
name = "payment_gateway_down"
patterns = ['(?i)payment gateway .* unreachable', 'PGW-5\d\d']
severity = "critical"
advice = "The payment gateway is unreachable; check the VPN tunnel."
runbooks = ["restart-vpn"]

[[category]]
name = "out_of_memory"
disabled = true
"#;

/// The category names of a JSON report.
fn category_names(stdout: &str) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_str(stdout).expect("json");
    report["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn config_categories_are_used_from_config_or_the_current_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("homeostat.toml");
    std::fs::write(&config, CATEGORIES).expect("write config");
    let log = dir.path().join("app.log");
    std::fs::write(
        &log,
        "checkout: payment gateway eu-1 unreachable: connection refused
         kernel: Out of memory: Killed process 1234 (java)
",
    )
    .expect("write log");
    let (log, config) = (log.display().to_string(), config.display().to_string());

    let (code, stdout, stderr) = analyze(&["--config", &config, "--format", "json", &log]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        category_names(&stdout),
        ["payment_gateway_down"],
        "{stdout}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let hit = &report["categories"][0];
    assert_eq!(hit["severity"], "critical");
    assert_eq!(hit["runbooks"], serde_json::json!(["restart-vpn"]));
    assert!(
        hit["advice"]
            .as_str()
            .is_some_and(|a| a.contains("VPN tunnel")),
        "{hit}"
    );
    let (code, table, _) = analyze(&["--config", &config, &log]);
    assert_eq!(code, 0);
    assert!(
        table.contains("payment_gateway_down") && table.contains("runbooks: restart-vpn"),
        "{table}"
    );

    // ./homeostat.toml is found; without any config the built-in pack applies.
    let (code, stdout, stderr) = analyze_in(dir.path(), &["--format", "json", "app.log"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        category_names(&stdout),
        ["payment_gateway_down"],
        "{stdout}"
    );
    let (code, stdout, stderr) = analyze(&["--format", "json", &log]);
    assert_eq!(code, 0, "{stderr}");
    let mut names = category_names(&stdout);
    names.sort();
    assert_eq!(names, ["connection_refused", "out_of_memory"], "{stdout}");
}

#[test]
fn an_invalid_category_config_is_explained_at_file_line_col() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("h.toml");
    std::fs::write(&config, "[[category]]\nname = \"x\"\npatterns = ['(']\n").expect("write");
    let log = dir.path().join("app.log");
    std::fs::write(&log, "hello\n").expect("write log");
    let config = config.display().to_string();
    let (code, stdout, stderr) = analyze(&["--config", &config, &log.display().to_string()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stderr.contains(&format!("{config}:3:13: invalid pattern")),
        "{stderr}"
    );
}

/// The summary of a JSON report without its timing.
fn without_timing(stdout: &str) -> serde_json::Value {
    let mut report: serde_json::Value = serde_json::from_str(stdout).expect("json");
    report["elapsed_seconds"] = serde_json::Value::Null;
    report
}

#[test]
fn two_threads_assign_every_line_exactly_as_one_thread_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two files, many batches: categories, exact repeats, variables, a long line, bad bytes.
    let mut files = Vec::new();
    for f in 0..2 {
        let mut log = Vec::new();
        for i in 0..60_000u32 {
            let line = match i % 6 {
                0 => format!("connect to 10.0.{f}.{} failed: Connection refused", i % 7),
                1 => "session closed for user root".to_owned(),
                2 => format!("job{} step{} took {} ms", i % 301, i % 13, i),
                3 => format!("GET /api/{} HTTP/1.1\" 503 {}", i % 40, i % 900),
                4 if i % 5000 == 4 => "y".repeat(70_000),
                4 => format!("disk sd{} full: No space left on device", i % 9),
                _ => format!("user{} logged in from host{}", i % 97, i % 3),
            };
            log.extend_from_slice(line.as_bytes());
            log.extend_from_slice(if i % 1000 == 0 { b"\xff\r\n" } else { b"\n" });
        }
        let path = dir.path().join(format!("app{f}.log"));
        std::fs::write(&path, log).expect("write log");
        files.push(path.display().to_string());
    }
    let run = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(files.iter().map(String::as_str));
        let (code, stdout, stderr) = analyze(&args);
        assert_eq!(code, 0, "{stderr}");
        stdout
    };
    let one = run(&["--threads", "1", "--assignments"]);
    let two = run(&["--threads", "2", "--assignments"]);
    assert_eq!(one.lines().count(), 120_000);
    assert!(one == two, "--threads 2 assigned lines differently");
    let one = without_timing(&run(&["--threads", "1", "--format", "json"]));
    let two = without_timing(&run(&["--threads", "2", "--format", "json"]));
    assert_eq!(one, two);
    assert!(one["classified_lines"].as_u64() >= Some(39_000), "{one}");

    let (code, _, stderr) = analyze(&["--threads", "3", &files[0]]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--threads"), "{stderr}");
}
