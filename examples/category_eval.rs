//! How the built-in category pack classifies real authentication logs nobody here wrote:
//! fail2ban's test logs (sshd, dovecot, postfix, mysqld, nginx, ... — about a hundred services),
//! each line labelled by the comment above it (`# failJSON: { ..., "match": true|false }`: is
//! the next line a failed login or an attack). Prints, per file and in total, how many labelled
//! failures fall in a category (and in `auth_failed`), and how many of the other lines do.
//! fail2ban labels "not a failure" what its filter need not ban, which includes real failures
//! (a PAM `authentication failure` line next to sshd's own `Failed password` line): those lines
//! show what a category adds, but not only that: sshd's `Failed publickey` for each key a
//! client offers before one is accepted is one of them too. A label with a `"constraint"`
//! (a filter option) is counted like any other, so a few lines count under both labels.
//!
//! The `auth_failed` patterns were extended while reading the misses of half of these files
//! (the 1st, 3rd, 5th... entry of the folder sorted by name, folders included, `COPYING` left
//! out). The totals are printed for that half; for the unread files of another service family
//! (`sshd-journal` is the `sshd` family: the name up to its first `-`); and for the unread
//! files of a family that was read, apart.
//!
//! Usage: `cargo run --release --example category_eval [LOG_DIR] [--show NAME]` (default
//! `../shared/data/security/fail2ban-logs`; `--show` prints every labelled line of the log
//! file NAME, a bare file name such as `sshd`, with its category).

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
        // `# failJSON:`, `#failJSON:`, `## failJSON:` ... as fail2ban reads them
        let label = line
            .strip_prefix('#')
            .map(|l| l.trim_start_matches('#').trim_start())
            .and_then(|l| l.strip_prefix("failJSON:"));
        if let Some(json) = label {
            pending = serde_json::from_str::<serde_json::Value>(json.trim())
                .ok()
                .and_then(|v| v.get("match").and_then(serde_json::Value::as_bool));
            continue;
        }
        // A label is for the line right after it, whatever that line is.
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
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n != "COPYING"))
        .collect();
    entries.sort();
    let family = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        name.unwrap_or_default()
            .split('-')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let read_families: std::collections::HashSet<String> =
        entries.iter().step_by(2).map(|p| family(p)).collect();
    // (file, its group: read while writing the patterns / unread, other family / unread,
    // family read)
    let files: Vec<(PathBuf, usize)> = entries
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_file())
        .map(|(i, p)| {
            let group = if i % 2 == 0 {
                0
            } else if read_families.contains(&family(p)) {
                2
            } else {
                1
            };
            (p.clone(), group)
        })
        .collect();
    let mut total = Tally::default();
    let mut groups = [Tally::default(); 3];
    let mut logs = 0;
    println!(
        "| log | failures | in a category | auth_failed | other lines | other lines in a category |\n|---|---|---|---|---|---|"
    );
    for (path, group) in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let lines = labelled_lines(path)?;
        if lines.is_empty() {
            continue;
        }
        logs += 1;
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
        if let Some(g) = groups.get_mut(*group) {
            g.add(t);
        }
    }
    let all = format!("all {logs} logs");
    for (label, t) in [
        ("half read while writing the patterns", groups[0]),
        ("not read, other service families", groups[1]),
        ("not read, a family that was read", groups[2]),
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
