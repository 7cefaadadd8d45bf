//! How the built-in category pack classifies real authentication logs nobody here wrote:
//! fail2ban's test logs (sshd, dovecot, postfix, mysqld, nginx, ... — about a hundred services),
//! each line labelled by the comment above it (`# failJSON: { ..., "match": true|false }`: is
//! the next line a failed login or an attack). Prints, per file and in total, how many labelled
//! failures fall in a category (and in `auth_failed`), and how many of the other lines do.
//! fail2ban labels "not a failure" what its filter need not ban, which includes real failures
//! (a PAM `authentication failure` line next to sshd's own `Failed password` line): those lines
//! show what a category adds, not false alarms by themselves.
//!
//! The `auth_failed` patterns were extended while reading the misses of half of these files
//! (the 1st, 3rd, 5th... entry of the folder sorted by name, leaving out `COPYING`); the totals
//! are printed for that half and for the other, unread half apart.
//!
//! Usage: `cargo run --release --example category_eval [LOG_DIR] [--show FILE]` (default
//! `../shared/data/security/fail2ban-logs`; `--show` prints every labelled line of FILE with
//! its category).

use std::error::Error;
use std::path::{Path, PathBuf};

use homeostat::logs::Classifier;

/// One labelled line.
struct Labelled {
    line: String,
    failure: bool,
}

/// The labelled lines of one fail2ban test log.
fn labelled_lines(path: &Path) -> Result<Vec<Labelled>, Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    let mut pending: Option<bool> = None;
    for line in text.lines() {
        if let Some(json) = line.strip_prefix("# failJSON:") {
            pending = serde_json::from_str::<serde_json::Value>(json.trim())
                .ok()
                .and_then(|v| v.get("match").and_then(serde_json::Value::as_bool));
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(failure) = pending.take() {
            out.push(Labelled {
                line: line.to_owned(),
                failure,
            });
        }
    }
    Ok(out)
}

#[derive(Default, Clone, Copy)]
struct Tally {
    failures: usize,
    failures_in_category: usize,
    failures_auth: usize,
    benign: usize,
    benign_in_category: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show = args
        .iter()
        .position(|a| a == "--show")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--") && Some(*a) != show.as_ref())
        .map_or_else(
            || PathBuf::from("../shared/data/security/fail2ban-logs"),
            PathBuf::from,
        );
    let classifier = Classifier::builtin();
    let auth = classifier.id_of("auth_failed");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != "COPYING"))
        .collect();
    entries.sort();
    // (file, read while writing the patterns)
    let files: Vec<(PathBuf, bool)> = entries
        .into_iter()
        .enumerate()
        .filter(|(_, p)| p.is_file())
        .map(|(i, p)| (p, i % 2 == 0))
        .collect();
    let mut total = Tally::default();
    let mut halves = [Tally::default(); 2];
    println!(
        "| log | failures | in a category | auth_failed | other lines | other lines in a category |\n|---|---|---|---|---|---|"
    );
    for (path, read) in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lines = labelled_lines(path)?;
        if lines.is_empty() {
            continue;
        }
        let mut t = Tally::default();
        for l in &lines {
            let category = classifier.classify(&l.line);
            if show.as_deref() == Some(name.as_str()) {
                let label = if l.failure { "FAIL  " } else { "benign" };
                let cat = category
                    .and_then(|c| classifier.category(c))
                    .map_or("-", |c| c.name.as_str());
                println!("{label} {cat:<22} {}", l.line);
            }
            if l.failure {
                t.failures += 1;
                t.failures_in_category += usize::from(category.is_some());
                t.failures_auth += usize::from(category.is_some() && category == auth);
            } else {
                t.benign += 1;
                t.benign_in_category += usize::from(category.is_some());
            }
        }
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            t.failures, t.failures_in_category, t.failures_auth, t.benign, t.benign_in_category
        );
        total.add(t);
        halves[usize::from(*read)].add(t);
    }
    let all = format!("all {} logs", files.len());
    for (label, t) in [
        ("half read while writing the patterns", halves[1]),
        ("half not read", halves[0]),
        (all.as_str(), total),
    ] {
        println!("{}", t.row(label));
    }
    Ok(())
}

impl Tally {
    fn add(&mut self, t: Tally) {
        self.failures += t.failures;
        self.failures_in_category += t.failures_in_category;
        self.failures_auth += t.failures_auth;
        self.benign += t.benign;
        self.benign_in_category += t.benign_in_category;
    }

    /// A bold table row of these totals, with percentages.
    fn row(&self, label: &str) -> String {
        let pct = |a: usize, b: usize| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        format!(
            "| **{label}** | {} | {} ({:.1} %) | {} ({:.1} %) | {} | {} ({:.1} %) |",
            self.failures,
            self.failures_in_category,
            pct(self.failures_in_category, self.failures),
            self.failures_auth,
            pct(self.failures_auth, self.failures),
            self.benign,
            self.benign_in_category,
            pct(self.benign_in_category, self.benign)
        )
    }
}
