//! `homeostat analyze`: categories with advice, clusters, `--assignments` for every line, JSON
//! output, and garbage input (binary, overlong, invalid UTF-8) counted instead of fatal.

use std::process::Command;

fn analyze(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_homeostat"))
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

#[test]
fn json_summary_names_categories_with_advice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = sample_log(dir.path());
    let (code, stdout, stderr) = analyze(&["--format", "json", &log]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(report["lines"], 25);
    let names: Vec<&str> = report["categories"]
        .as_array()
        .expect("categories")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
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
