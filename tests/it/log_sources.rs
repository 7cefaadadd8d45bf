//! Live log sources against real files and real time: rename and copytruncate rotation under a
//! writer, restart without losing or repeating a line (SQLite and PostgreSQL) or a stored
//! cluster, partial lines, a failing store that holds reading instead of piling up evicted
//! clusters, garbage, top failure clusters that hold failures (not the busiest lines), an OOM burst that
//! opens an incident whose runbook really runs, learning tied by the source's labels, and a category of the
//! user's own that opens its incident.

use crate::common;

use common::config_text::path;
use common::{
    Runbook, config_issues, eventually, fresh_postgres, get_json, metrics_text, start_app,
    start_app_on,
};
use homeostat::app::App;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(20);

/// A `[[log]]` source named `app` following `path` from its start, plus `extra` keys.
fn source(path: &Path, extra: &str) -> String {
    format!(
        "[[log]]\nname = \"app\"\npath = \"{}\"\nfrom = \"start\"\n{extra}\n",
        path.display()
    )
}

/// `homeostat_<name>{source="app"}` from `/metrics` (0 when absent).
async fn counter(app: &App, name: &str) -> u64 {
    let text = metrics_text(app).await;
    let prefix = format!("homeostat_{name}{{source=\"app\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until the count of lines source `app` has read satisfies `done`, failing the test
/// with `what`.
async fn wait_lines_read(app: &App, what: &str, done: impl Fn(u64) -> bool) {
    eventually(DEADLINE, what, || async {
        done(counter(app, "log_lines_total").await).then_some(())
    })
    .await;
}

/// Lines of source `app` stored in its clusters, and the clusters, from the API.
async fn stored_lines(app: &App) -> (u64, serde_json::Value) {
    let (status, body) = get_json(app, "/api/v1/clusters?source=app&since=24h&limit=500").await;
    assert_eq!(status, 200, "{body}");
    let total = body["clusters"]
        .as_array()
        .map_or(0, |cs| cs.iter().filter_map(|c| c["count"].as_u64()).sum());
    (total, body)
}

/// Waits until the store holds exactly `expected` lines of `app` (and never more).
async fn wait_stored(app: &App, expected: u64) {
    eventually(DEADLINE, &format!("{expected} lines stored"), || async {
        let (total, body) = stored_lines(app).await;
        assert!(
            total <= expected,
            "{total} lines stored, expected {expected}: {body}"
        );
        (total == expected).then_some(())
    })
    .await;
}

fn append(path: &Path, data: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    f.write_all(data).expect("write log");
}

/// A thread appending numbered lines to a log (in append mode, as services do) until stopped;
/// `rotate` is called by the thread between lines when the caller sets the flag. Each line
/// starts with the name of its epoch (`EPOCHS`, the next one after each rotation), so every
/// epoch's lines are a template cluster of their own.
struct Writer {
    written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    rotate: Arc<AtomicBool>,
    /// Lines written before each rotation.
    rotated_at: Arc<Mutex<Vec<u64>>>,
    /// Set by the writer when it waits for the test, which clears it to let the writer go on.
    /// A rename writer waits after its first line in the reopened file (rotations then come no
    /// faster than the tailer finds the new file: one renamed away before any scan saw it would
    /// be lost). A copytruncate writer waits before it copies and truncates (so the tailer can
    /// get past the first lines of the file), and a few lines after (so that the truncated file
    /// does not outgrow the old offset before the tailer looks: the known limit of copytruncate,
    /// see README).
    held: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The first word of the lines written between two rotations.
const EPOCHS: [&str; 6] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

/// How the writer rotates its file.
#[derive(Clone, Copy)]
enum Rotation {
    /// Rename the file away, write a few more lines to the old handle, reopen the path.
    Rename,
    /// Copy the file aside and truncate it in place (logrotate's `copytruncate`); the writer
    /// goes on writing to its handle at once.
    CopyTruncate,
}

impl Writer {
    fn start(path: PathBuf, limit: u64, rotation: Rotation) -> Writer {
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let rotate = Arc::new(AtomicBool::new(false));
        let rotated_at = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(AtomicBool::new(false));
        let hold = Arc::clone(&held);
        let (w, s, r) = (Arc::clone(&written), Arc::clone(&stop), Arc::clone(&rotate));
        let at = Arc::clone(&rotated_at);
        let thread = std::thread::spawn(move || {
            let open = |p: &Path| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .expect("open log")
            };
            let mut file = open(&path);
            let mut rotations = 0;
            let mut lagging = 0;
            // Lines until the writer holds.
            let mut until_hold = 0;
            let wait_while_held = || {
                hold.store(true, Ordering::SeqCst);
                while hold.load(Ordering::SeqCst) && !s.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            };
            while !s.load(Ordering::SeqCst) && w.load(Ordering::SeqCst) < limit {
                let n = w.load(Ordering::SeqCst);
                writeln!(
                    file,
                    "{} request {n} served in {} ms by worker {}",
                    EPOCHS[rotations % EPOCHS.len()],
                    n % 97,
                    n % 7
                )
                .expect("write");
                w.fetch_add(1, Ordering::SeqCst);
                if until_hold > 0 {
                    until_hold -= 1;
                    if until_hold == 0 {
                        wait_while_held();
                    }
                }
                if lagging > 0 {
                    lagging -= 1;
                    if lagging == 0 {
                        file = open(&path);
                        until_hold = 1;
                    }
                } else if r.swap(false, Ordering::SeqCst) {
                    rotations += 1;
                    at.lock().expect("rotations").push(n + 1);
                    let rotated = path.with_extension(format!("log.{rotations}"));
                    match rotation {
                        Rotation::Rename => {
                            std::fs::rename(&path, rotated).expect("rename");
                            // The service notices the rotation a few lines later.
                            lagging = 25;
                        }
                        Rotation::CopyTruncate => {
                            wait_while_held();
                            std::fs::copy(&path, rotated).expect("copy");
                            file.set_len(0).expect("truncate");
                            until_hold = 5;
                        }
                    }
                }
                if n % 10 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Writer {
            written,
            stop,
            rotate,
            rotated_at,
            held,
            thread: Some(thread),
        }
    }

    fn written(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    fn rotate(&self) {
        self.rotate.store(true, Ordering::SeqCst);
    }

    /// Stops (or waits for the limit) and returns how many lines were written.
    fn finish(mut self, stop: bool) -> u64 {
        if stop {
            self.stop.store(true, Ordering::SeqCst);
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("writer thread");
        }
        self.written()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_under_a_writer_counts_every_line_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, b"");
    let app = start_app(dir.path(), &source(&log, "")).await;
    let writer = Writer::start(log.clone(), 4000, Rotation::Rename);
    for at in [700, 1400, 2100] {
        eventually(DEADLINE, "the writer progresses", || {
            let n = writer.written();
            async move { (n >= at).then_some(()) }
        })
        .await;
        writer.rotate();
        // The rotated files hold every line up to 25 after the rotation (written to the old
        // handle); the writer holds after one line in the new file, until the tailer read it.
        eventually(DEADLINE, "the new file is followed", || async {
            let rotated = writer.rotated_at.lock().expect("rotations").last().copied();
            let in_rotated_files = rotated? + 25;
            let read = counter(&app, "log_lines_total").await;
            (writer.held.load(Ordering::SeqCst) && read > in_rotated_files).then_some(())
        })
        .await;
        writer.held.store(false, Ordering::SeqCst);
    }
    let total = writer.finish(false);
    assert_eq!(total, 4000);
    wait_stored(&app, total).await;
    assert_eq!(counter(&app, "log_lines_total").await, total);
    assert!(
        dir.path().join("app.log.3").exists(),
        "the writer rotated three times"
    );
    app.shutdown().await;
}

/// copytruncate while the writer keeps writing: the lines of each new epoch (written to the
/// truncated file) are all read, once. Lines of an epoch the service had not read when the file
/// was copied and truncated are only in the copy, which the glob does not follow — the known
/// price of copytruncate, so those epochs are checked for "never more than written" only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_under_a_writer_reads_the_truncated_file_from_its_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, b"");
    let app = start_app(dir.path(), &source(&log, "")).await;
    let writer = Writer::start(log.clone(), 3000, Rotation::CopyTruncate);
    // Lines read when the file was last seen truncated (every line read since is of the
    // truncated file).
    let mut read_at_truncation = 0;
    for (at, truncations) in [(1000, 1), (2000, 2)] {
        eventually(DEADLINE, "the writer progresses", || {
            let n = writer.written();
            async move { (n >= at).then_some(()) }
        })
        .await;
        writer.rotate();
        // The writer holds before it copies and truncates until the tailer has read 10 lines
        // of the file (over 400 bytes): past the 5 lines (under 250) the writer puts in the
        // truncated file before it holds again, so the truncation shows.
        eventually(DEADLINE, "the tailer reads into the file", || async {
            let read = counter(&app, "log_lines_total").await;
            (writer.held.load(Ordering::SeqCst) && read >= read_at_truncation + 10).then_some(())
        })
        .await;
        writer.held.store(false, Ordering::SeqCst);
        // The writer goes on for a few lines, then holds until the truncation is seen.
        eventually(DEADLINE, "the truncation is seen", || async {
            let seen = counter(&app, "log_truncations_total").await == truncations;
            (seen && writer.held.load(Ordering::SeqCst)).then_some(())
        })
        .await;
        read_at_truncation = counter(&app, "log_lines_total").await;
        writer.held.store(false, Ordering::SeqCst);
    }
    let rotated_at = Arc::clone(&writer.rotated_at);
    let total = writer.finish(false);
    let rotated_at = rotated_at.lock().expect("rotations").clone();
    assert_eq!(rotated_at.len(), 2, "{rotated_at:?}");
    assert_eq!(total, 3000);
    let epoch_lines = |body: &serde_json::Value, epoch: &str| -> u64 {
        body["clusters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["template"].as_str().is_some_and(|t| t.starts_with(epoch)))
            .filter_map(|c| c["count"].as_u64())
            .sum()
    };
    let last = total - rotated_at[1];
    eventually(DEADLINE, "the last epoch read whole", || async {
        let (_, body) = stored_lines(&app).await;
        (epoch_lines(&body, EPOCHS[2]) == last).then_some(())
    })
    .await;
    let (stored, body) = stored_lines(&app).await;
    let written = [rotated_at[0], rotated_at[1] - rotated_at[0], last];
    for (epoch, written) in EPOCHS.iter().zip(written) {
        let read = epoch_lines(&body, epoch);
        assert!(
            read <= written,
            "{epoch}: {read} of {written} lines: {body}"
        );
    }
    assert_eq!(counter(&app, "log_lines_total").await, stored);
    assert_eq!(counter(&app, "log_truncations_total").await, 2);
    app.shutdown().await;
}

/// A writer keeps writing while the app stops and starts again on the same store: every line
/// is stored exactly once.
async fn restart_continues_where_it_stopped(store_url: &str, dir: &Path) {
    let log = dir.join("app.log");
    append(&log, b"");
    let config = source(&log, "");
    let app = start_app_on(store_url, &config).await;
    let writer = Writer::start(log.clone(), 1_000_000, Rotation::Rename);
    wait_lines_read(&app, "some lines read", |read| read >= 300).await;
    app.shutdown().await;
    let at_stop = writer.written();
    eventually(DEADLINE, "the writer goes on while the app is down", || {
        let n = writer.written();
        async move { (n >= at_stop + 300).then_some(()) }
    })
    .await;
    let app = start_app_on(store_url, &config).await;
    wait_lines_read(&app, "the restarted app reads", |read| read > 0).await;
    let total = writer.finish(true);
    wait_stored(&app, total).await;
    let second = counter(&app, "log_lines_total").await;
    assert!(
        second < total,
        "the restarted app read {second} of {total} lines: it started over"
    );
    app.shutdown().await;
}

/// A `[[log.alert]]` on two `disk_full` lines within `within`.
fn disk_full_rule(within: &str) -> String {
    format!("[[log.alert]]\ncategory = \"disk_full\"\ncount = 2\nwithin = \"{within}\"\n")
}

/// Starts the app on `url` with `config` (whose source `app` follows `log`), writes two
/// disk-full lines and waits for the `log:app:disk_full` incident; returns the app and its id.
async fn open_disk_full_incident(url: &str, log: &Path, config: &str) -> (App, String) {
    append(log, b"");
    let app = start_app_on(url, config).await;
    append(
        log,
        b"write failed: No space left on device\nwrite failed: No space left on device\n",
    );
    let id = eventually(DEADLINE, "the incident opens", || async {
        let (_, body) = get_json(&app, "/api/v1/incidents").await;
        let first = &body["incidents"][0];
        (first["fingerprint"] == "log:app:disk_full")
            .then(|| first["id"].as_str().map(str::to_string))
            .flatten()
    })
    .await;
    (app, id)
}

/// The errors stop while the daemon is down: the restarted daemon still resolves the incident
/// that the first run opened, once a whole quiet window has passed since it started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_incident_left_open_at_a_stop_resolves_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let log = dir.path().join("app.log");
    let config = source(&log, &disk_full_rule("4s"));
    let (app, id) = open_disk_full_incident(&url, &log, &config).await;
    app.shutdown().await;
    let stopped = chrono::Utc::now();
    let app = start_app_on(&url, &config).await;
    let resolved = eventually(
        DEADLINE,
        "a quiet window resolves it after the restart",
        || async {
            let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
            (body["state"] == "resolved").then_some(body)
        },
    )
    .await;
    let resolved_at = resolved["resolved_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("resolved_at");
    assert!(
        resolved_at >= stopped,
        "resolved before the stop, so this test proves nothing: {resolved}"
    );
    app.shutdown().await;
}

/// The errors go on through a restart, for longer than the rule's window: the restarted
/// daemon keeps the incident open (it used to take the time the rule fired as the last error,
/// resolve the incident at once, and reopen it at the next line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_incident_whose_errors_go_on_through_a_restart_stays_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let log = dir.path().join("app.log");
    let config = source(&log, &disk_full_rule("5s"));
    let (app, id) = open_disk_full_incident(&url, &log, &config).await;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                append(&log, b"write failed: No space left on device\n");
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    // Longer than the window since the rule fired.
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.shutdown().await;
    let app = start_app_on(&url, &config).await;
    // The errors go on for a while after the restart.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    writer.join().expect("writer");
    let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
    app.shutdown().await;
    let kinds = common::strings_of(&body["timeline"], "kind");
    assert_eq!(kinds, ["opened"], "the errors never stopped: {body}");
}

/// While saves fail, clusters evicted with unsaved lines are kept for the next save; a stream
/// of new templates must not make them pile up without bound. Beyond a few thousand the source
/// stops reading (the lines wait in the file) and goes on, losing nothing, once the store
/// answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_holds_reading_instead_of_piling_up_evicted_clusters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, url, log) = start_saving_hourly(dir.path()).await;
    let raw = sqlx::AnyPool::connect(&url).await.expect("connect");
    sqlx::query("ALTER TABLE log_clusters RENAME TO log_clusters_away")
        .execute(&raw)
        .await
        .expect("rename");
    // 30,000 templates after the first cluster, a dozen own words each: ~150 bytes a line, so
    // that one read (1 MiB) takes only ~7,000 of them.
    let unique = 30_000;
    append(
        &log,
        first_cluster_then_templates(unique, 'm'..='x').as_bytes(),
    );
    let total = 5 + unique as u64;
    let held = eventually(DEADLINE * 4, "reading holds", || async {
        let before = counter(&app, "log_lines_total").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = counter(&app, "log_lines_total").await;
        (before == after && after > 0).then_some(after)
    })
    .await;
    let counters = metrics_text(&app)
        .await
        .lines()
        .filter(|l| l.contains("store_errors") || l.contains("log_"))
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        held < total,
        "every line was read while the store failed: {held}\n{counters}"
    );
    sqlx::query("ALTER TABLE log_clusters_away RENAME TO log_clusters")
        .execute(&raw)
        .await
        .expect("rename back");
    eventually(
        DEADLINE * 4,
        "every line read once the store answers",
        || async { (counter(&app, "log_lines_total").await == total).then_some(()) },
    )
    .await;
    // Nothing was lost: the first cluster, evicted long before any save got through, is stored.
    let top = eventually(
        DEADLINE * 4,
        "the evicted first cluster is stored",
        || async {
            let (status, body) =
                get_json(&app, "/api/v1/clusters?source=app&since=24h&limit=1").await;
            (status == 200 && body["clusters"][0]["count"] == 5).then_some(body)
        },
    )
    .await;
    assert_eq!(
        top["clusters"][0]["template"], "first cluster line <*>",
        "{top}"
    );
    app.shutdown().await;
}

/// Retention removes the stored row of a cluster whose lines are stamped long ago while the
/// source still holds the row: the cluster's next lines go into a new row, and the source goes
/// on saving (before, every later save failed on the removed row and the offsets stood still).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_row_removed_by_retention_is_stored_anew_and_saving_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let log = dir.path().join("app.log");
    let now = chrono::Utc::now();
    let old = (now - chrono::TimeDelta::days(30)).to_rfc3339();
    let now = now.to_rfc3339();
    let line = |message: &str, ts: &str| {
        format!("{}\n", serde_json::json!({ "message": message, "ts": ts }))
    };
    append(
        &log,
        format!(
            "{}{}",
            line("job finished in 1 ms", &old),
            line("job finished in 2 ms", &old)
        )
        .as_bytes(),
    );
    // `prune_interval` lands in the helper's `[store]` table.
    let config = format!(
        "prune_interval = \"200ms\"\n[[log]]\nname = \"app\"\npath = \"{}\"\nfrom = \"start\"\nformat = \"json\"\n",
        log.display()
    );
    let app = start_app_on(&url, &config).await;
    let store = homeostat::store::Store::connect(&url).await.expect("store");
    let saved_to_the_end = || async {
        let len = std::fs::metadata(&log).expect("log").len();
        let offsets = store.log_offsets("app").await.expect("offsets");
        offsets.values().all(|&o| o == len) && !offsets.is_empty()
    };
    eventually(DEADLINE, "the old lines saved, then pruned", || async {
        let rows = store.log_cluster_templates("app").await.expect("rows");
        (saved_to_the_end().await && rows.is_empty()).then_some(())
    })
    .await;
    append(
        &log,
        format!(
            "{}{}",
            line("job finished in 3 ms", &old),
            line("something else entirely happened", &now)
        )
        .as_bytes(),
    );
    let (_, clusters) = eventually(DEADLINE, "the new lines saved", || async {
        let (_, body) = get_json(&app, "/api/v1/clusters?source=app&limit=500").await;
        let fresh = body["clusters"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["template"] == "something else entirely happened")
        });
        (fresh && saved_to_the_end().await).then_some(((), body))
    })
    .await;
    let errors = metrics_text(&app)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("homeostat_store_errors_total "))
        .map(|v| v.trim().to_string());
    assert_eq!(errors.as_deref(), Some("0"), "{clusters}");
    app.shutdown().await;
}

/// `from = "end"` is for the files found at the very first start: a source whose glob matched
/// nothing then reads a file created while the daemon was down from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_created_while_down_is_read_whole_though_the_first_run_found_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let config = format!(
        "[[log]]\nname = \"app\"\npath = \"{}/*.log\"\nfrom = \"end\"\n",
        logs.display()
    );
    let app = start_app_on(&url, &config).await;
    app.shutdown().await;
    append(
        &logs.join("app.log"),
        b"written while down 1\nwritten while down 2\nwritten while down 3\n",
    );
    let app = start_app_on(&url, &config).await;
    wait_stored(&app, 3).await;
    app.shutdown().await;
}

/// The miner starts empty at a restart: a line of a template stored before joins its row
/// (the template generalised then stays general) instead of being stored beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_source_adds_to_its_stored_clusters_instead_of_repeating_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let log = dir.path().join("app.log");
    append(
        &log,
        b"session opened for user alice by sshd\nsession opened for user bob by sshd\n",
    );
    let config = source(&log, "");
    let app = start_app_on(&url, &config).await;
    wait_stored(&app, 2).await;
    app.shutdown().await;
    append(&log, b"session opened for user carol by sshd\n");
    let app = start_app_on(&url, &config).await;
    wait_stored(&app, 3).await;
    let (_, body) = stored_lines(&app).await;
    let clusters = body["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "{body}");
    assert_eq!(
        clusters[0]["template"],
        "session opened for user <*> by sshd"
    );
    assert_eq!(clusters[0]["count"], 3);
    // The template's first lines stay its samples.
    assert_eq!(
        clusters[0]["samples"][0],
        "session opened for user alice by sshd"
    );
    app.shutdown().await;
}

/// A log source renamed (or a rule removed) can never send the healthy signal that resolves
/// the incident it opened: the next start resolves it, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_of_a_renamed_log_source_resolves_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let log = dir.path().join("app.log");
    let rule = disk_full_rule("1h");
    let (app, id) = open_disk_full_incident(&url, &log, &source(&log, &rule)).await;
    app.shutdown().await;
    // The same config again: the incident stays open (its rule can still resolve it).
    let app = start_app_on(&url, &source(&log, &rule)).await;
    let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(body["state"], "open", "{body}");
    app.shutdown().await;
    let renamed = source(&log, &rule).replace("name = \"app\"", "name = \"web\"");
    let app = start_app_on(&url, &renamed).await;
    let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
    assert_eq!(body["state"], "resolved", "{body}");
    let timeline = body.to_string();
    assert!(
        timeline.contains("nothing in the config produces `log:app:disk_full` any more"),
        "{timeline}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loses_no_line_and_reads_none_twice_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    restart_continues_where_it_stopped(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_loses_no_line_and_reads_none_twice_on_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_postgres().await;
    restart_continues_where_it_stopped(&url, dir.path()).await;
}

#[tokio::test]
async fn partial_line_is_held_until_its_newline_arrives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, b"");
    let app = start_app(dir.path(), &source(&log, "")).await;
    append(&log, b"first complete line\nsecond line is only half wr");
    wait_lines_read(&app, "the complete line is read", |read| read >= 1).await;
    // The same read saw the half line: it must not have been counted.
    wait_stored(&app, 1).await;
    assert_eq!(counter(&app, "log_lines_total").await, 1);
    append(&log, b"itten now\n");
    wait_stored(&app, 2).await;
    let (_, body) = stored_lines(&app).await;
    let samples: Vec<&str> = body["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["samples"].as_array().into_iter().flatten())
        .filter_map(|s| s.as_str())
        .collect();
    assert!(
        samples.contains(&"second line is only half written now"),
        "{samples:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn garbage_binary_and_overlong_lines_are_counted_and_survived() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, b"");
    let app = start_app(dir.path(), &source(&log, "")).await;
    let mut data: Vec<u8> = (0..=255u8).filter(|b| *b != b'\n').collect();
    data.push(b'\n');
    data.extend_from_slice(b"\xff\xfe not utf-8 at all\n");
    data.extend(std::iter::repeat_n(b'x', 200 * 1024));
    data.push(b'\n');
    data.extend_from_slice(b"an ordinary line after the garbage\n");
    append(&log, &data);
    wait_lines_read(&app, "all four lines read", |read| read == 4).await;
    assert_eq!(counter(&app, "log_lines_cut_total").await, 1);
    assert_eq!(counter(&app, "log_lines_invalid_total").await, 2);
    assert_eq!(counter(&app, "log_lines_skipped_total").await, 1);
    // Three lines analyzed and stored; the binary one skipped.
    wait_stored(&app, 3).await;
    let (status, _) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(status, 200);
    app.shutdown().await;
}

/// A JSON line cut at `max_line_bytes` no longer parses; its message (ahead of a long stack
/// trace) and level are still read, up to the cut.
#[tokio::test]
async fn a_cut_json_line_keeps_its_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let stack = "\\n\\tat com.example.Worker.run(Worker.java:42)".repeat(200);
    append(
        &log,
        format!(
            "{{\"level\":\"error\",\"message\":\"payment worker crashed on order 17\",\"stack\":\"{stack}\"}}\n"
        )
        .as_bytes(),
    );
    let app = start_app(
        dir.path(),
        &source(&log, "format = \"json\"\nmax_line_bytes = 1024"),
    )
    .await;
    wait_stored(&app, 1).await;
    assert_eq!(counter(&app, "log_lines_cut_total").await, 1);
    assert_eq!(counter(&app, "log_lines_skipped_total").await, 0);
    let (_, body) = stored_lines(&app).await;
    let cluster = &body["clusters"][0];
    assert_eq!(
        cluster["template"], "payment worker crashed on order <*>",
        "{body}"
    );
    assert_eq!(cluster["failures"], 1, "level error: {body}");
    app.shutdown().await;
}

#[tokio::test]
async fn top_failure_clusters_hold_failure_lines_not_the_busiest_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let mut lines = String::new();
    for i in 0..50 {
        lines.push_str(&format!(
            "{{\"level\":\"info\",\"message\":\"GET /index.html 200 {i}\"}}\n"
        ));
    }
    for i in 0..4 {
        // Failure words, but the line's own level says it is no failure.
        lines.push_str(&format!(
            "{{\"level\":\"info\",\"message\":\"primary failed over to replica {i}\"}}\n"
        ));
    }
    for i in 0..3 {
        lines.push_str(&format!(
            "{{\"severity\":\"ERROR\",\"message\":\"cache refill slow on shard {i}\"}}\n"
        ));
    }
    for i in 0..2 {
        lines.push_str(&format!(
            "{{\"message\":\"upstream connect error to backend {i}\"}}\n"
        ));
    }
    append(&log, lines.as_bytes());
    let app = start_app(dir.path(), &source(&log, "format = \"json\"")).await;
    wait_stored(&app, 59).await;
    let template_of = |c: &serde_json::Value| c["template"].as_str().unwrap_or("").to_string();
    let (_, metrics) = get_json(&app, "/api/v1/error-monitoring/metrics").await;
    let top: Vec<(String, serde_json::Value)> = metrics["top_clusters"]
        .as_array()
        .expect("top_clusters")
        .iter()
        .map(|c| (template_of(c), c["failures_in_window"].clone()))
        .collect();
    assert_eq!(
        top,
        [
            ("cache refill slow on shard <*>".to_string(), 3.into()),
            (
                "upstream connect error to backend <*>".to_string(),
                2.into()
            ),
        ],
        "{metrics}"
    );
    let (_, failing) = get_json(&app, "/api/v1/clusters?failures=true").await;
    assert_eq!(
        failing["clusters"].as_array().map(Vec::len),
        Some(2),
        "{failing}"
    );
    assert_eq!(failing["clusters"][0]["failures"], 3, "{failing}");
    assert_eq!(failing["clusters"][0]["count"], 3, "{failing}");
    // Without `failures`, every cluster by lines: the access lines lead, with no failure.
    let (_, all) = get_json(&app, "/api/v1/clusters").await;
    let first = &all["clusters"][0];
    assert_eq!(template_of(first), "GET <*>", "{all}");
    assert_eq!(first["count_in_window"], 50);
    assert_eq!(first["failures_in_window"], 0);
    assert_eq!(all["clusters"].as_array().map(Vec::len), Some(4), "{all}");
    app.shutdown().await;
}

#[tokio::test]
async fn oom_burst_opens_an_incident_and_runs_its_runbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let marker = dir.path().join("restarted");
    append(&log, b"service started\n");
    let config = format!(
        "{}{}",
        Runbook::new("restart-app").run(&["touch", path(&marker)]),
        source(
            &log,
            "remedy = [\"restart-app\"]\n[[log.alert]]\ncategory = \"out_of_memory\"\ncount = 5\nwithin = \"1m\"\n"
        )
    );
    let app = start_app(dir.path(), &config).await;
    for pid in 0..4 {
        append(
            &log,
            format!("kernel: Out of memory: Killed process {pid} (java)\n").as_bytes(),
        );
    }
    wait_lines_read(&app, "four OOM lines read", |read| read == 5).await;
    let (_, incidents) = get_json(&app, "/api/v1/incidents").await;
    assert_eq!(incidents["total"], 0, "four lines are below the rate");
    append(&log, b"kernel: Out of memory: Killed process 4 (java)\n");
    eventually(DEADLINE, "the runbook ran", || {
        let done = marker.exists();
        async move { done.then_some(()) }
    })
    .await;
    let (_, incidents) = get_json(&app, "/api/v1/incidents").await;
    let incident = &incidents["incidents"][0];
    assert_eq!(incident["fingerprint"], "log:app:out_of_memory");
    assert_eq!(incident["labels"]["log"], "app");
    assert_eq!(incident["labels"]["category"], "out_of_memory");
    assert_eq!(incident["check"], serde_json::Value::Null);
    let id = incident["id"].as_str().expect("id").to_string();
    eventually(DEADLINE, "the repaired incident resolves", || async {
        let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
        (body["state"] == "resolved").then_some(())
    })
    .await;
    eventually(
        DEADLINE,
        "the OOM cluster in the monitoring metrics",
        || async {
            let (_, metrics) = get_json(&app, "/api/v1/error-monitoring/metrics").await;
            metrics["top_clusters"]
                .as_array()
                .expect("top_clusters")
                .iter()
                .any(|c| {
                    c["template"]
                        .as_str()
                        .is_some_and(|t| t.contains("Out of memory"))
                        && c["count"] == 5
                        && c["failures"] == 5
                        && c["count_in_window"] == 5
                        && c["failures_in_window"] == 5
                        && c["last_hour"] == 5
                        && c["previous_hour"] == 0
                        && c["trend"] == "rising"
                        && c["source"] == "app"
                })
                .then_some(())
        },
    )
    .await;
    // Learning: the cluster came with an incident `restart-app` fixed, so it suggests it, and an
    // error message of the same template learns the same.
    let (_, clusters) = get_json(&app, "/api/v1/clusters").await;
    let oom = clusters["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .find(|c| {
            c["template"]
                .as_str()
                .is_some_and(|t| t.contains("Out of memory"))
        })
        .expect("the OOM cluster")
        .clone();
    let suggested = &oom["suggested_runbooks"][0];
    assert_eq!(suggested["runbook"], "restart-app", "{oom}");
    assert_eq!(suggested["attempts"], 1);
    assert_eq!(suggested["successes"], 1);
    assert!(
        suggested["why"].as_str().is_some_and(|w| w.contains("1/1")),
        "{suggested}"
    );
    let analyzed = common::client()
        .post(format!(
            "http://{}/api/v1/error-monitoring/analyze-error",
            app.address
        ))
        .bearer_auth(common::TOKEN)
        .json(&serde_json::json!({ "message": "kernel: Out of memory: Killed process 99 (java)" }))
        .send()
        .await
        .expect("analyze")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(
        analyzed["learned_runbooks"][0]["runbook"], "restart-app",
        "{analyzed}"
    );
    app.shutdown().await;
}

/// The cluster of source `name` whose template contains `word`, from `/api/v1/clusters`.
async fn cluster_of(app: &App, name: &str, word: &str) -> Option<serde_json::Value> {
    let (_, body) = get_json(app, &format!("/api/v1/clusters?source={name}&limit=500")).await;
    body["clusters"]
        .as_array()?
        .iter()
        .find(|c| c["template"].as_str().is_some_and(|t| t.contains(word)))
        .cloned()
}

#[tokio::test]
async fn a_cluster_learns_only_from_incidents_that_carry_its_sources_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app_log, worker_log, db_log) = (
        dir.path().join("app.log"),
        dir.path().join("worker.log"),
        dir.path().join("db.log"),
    );
    let marker = dir.path().join("restarted");
    for log in [&app_log, &worker_log, &db_log] {
        append(log, b"service started\n");
    }
    let tail = |name: &str, path: &Path, service: &str, extra: &str| {
        format!(
            "[[log]]\nname = \"{name}\"\npath = \"{}\"\nfrom = \"start\"\nlabels = {{ service = \"{service}\" }}\n{extra}\n",
            path.display()
        )
    };
    let config = format!(
        "{}{}{}{}",
        Runbook::new("restart-app").run(&["touch", path(&marker)]),
        tail(
            "app",
            &app_log,
            "app",
            "remedy = [\"restart-app\"]\n[[log.alert]]\ncategory = \"out_of_memory\"\ncount = 5\nwithin = \"1m\"\n"
        ),
        tail("worker", &worker_log, "app", ""),
        tail("db", &db_log, "db", ""),
    );
    let app = start_app(dir.path(), &config).await;
    // Failure lines rise in the worker (same service) and in the database (another service)
    // just as the app runs out of memory; only the app's incident happens, and a runbook
    // repairs it.
    for shard in 0..3 {
        append(
            &worker_log,
            format!("job {shard} failed: heap exhausted\n").as_bytes(),
        );
        append(
            &db_log,
            format!("replica sync failed on shard {shard}\n").as_bytes(),
        );
    }
    for pid in 0..5 {
        append(
            &app_log,
            format!("kernel: Out of memory: Killed process {pid} (java)\n").as_bytes(),
        );
    }
    eventually(DEADLINE, "the runbook ran", || {
        let done = marker.exists();
        async move { done.then_some(()) }
    })
    .await;
    let (_, incidents) = get_json(&app, "/api/v1/incidents").await;
    assert_eq!(incidents["total"], 1, "{incidents}");
    eventually(
        DEADLINE,
        "the worker's cluster learns restart-app",
        || async {
            let worker = cluster_of(&app, "worker", "heap exhausted").await?;
            (worker["suggested_runbooks"][0]["runbook"] == "restart-app").then_some(())
        },
    )
    .await;
    let db = eventually(DEADLINE, "the database's cluster is stored", || async {
        cluster_of(&app, "db", "replica sync")
            .await
            .filter(|c| c["failures"] == 3)
    })
    .await;
    assert_eq!(
        db["suggested_runbooks"],
        serde_json::json!([]),
        "the database's cluster rose with an incident of another service: {db}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn repeated_oom_bursts_respect_the_runbook_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    let runs = dir.path().join("runs");
    append(&log, b"");
    let restart = Runbook::new("restart-app")
        .set("max_attempts", 1)
        .set("window", "1h")
        .shell(&format!("echo run >> '{}'", runs.display()));
    let config = format!(
        "{restart}{}",
        source(
            &log,
            "remedy = [\"restart-app\"]\n[[log.alert]]\ncategory = \"out_of_memory\"\ncount = 2\nwithin = \"1s\"\n"
        )
    );
    let app = start_app(dir.path(), &config).await;
    let burst = || {
        append(
            &log,
            b"Out of memory: Killed process 7 (java)\nOut of memory: Killed process 8 (java)\n",
        )
    };
    burst();
    eventually(DEADLINE, "the first repair ran", || {
        let ran = runs.exists();
        async move { ran.then_some(()) }
    })
    .await;
    // After a quiet window the rate stops firing; the next burst reopens the incident.
    eventually(DEADLINE, "the incident resolves", || async {
        let (_, body) = get_json(&app, "/api/v1/incidents").await;
        (body["incidents"][0]["state"] == "resolved").then_some(())
    })
    .await;
    eventually(
        DEADLINE,
        "the rate is quiet again (second signal)",
        || async {
            let text = metrics_text(&app).await;
            text.lines()
                .any(|l| l == "homeostat_signals_total 2")
                .then_some(())
        },
    )
    .await;
    burst();
    eventually(
        DEADLINE,
        "the second burst is refused by the budget",
        || async {
            let (_, body) = get_json(&app, "/api/v1/breakers").await;
            body["breakers"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b["target"] == "log:app"))
                .then_some(())
        },
    )
    .await;
    let text = std::fs::read_to_string(&runs).expect("runs");
    assert_eq!(text.lines().count(), 1, "the budget allows one run");
    app.shutdown().await;
}

#[tokio::test]
async fn log_incident_resolves_after_a_quiet_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, b"");
    let config = source(
        &log,
        "impact = \"high\"\nlabels = { team = \"web\" }\n[[log.alert]]\ncategory = \"disk_full\"\ncount = 2\nwithin = \"1s\"\n",
    );
    let app = start_app(dir.path(), &config).await;
    append(
        &log,
        b"write failed: No space left on device\nwrite failed: No space left on device\n",
    );
    let incident = eventually(DEADLINE, "the incident opens", || async {
        let (_, body) = get_json(&app, "/api/v1/incidents").await;
        let first = body["incidents"][0].clone();
        (first["fingerprint"] == "log:app:disk_full").then_some(first)
    })
    .await;
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["priority"], "P1", "high impact × critical");
    assert_eq!(incident["labels"]["team"], "web");
    let id = incident["id"].as_str().expect("id").to_string();
    eventually(DEADLINE, "a quiet window resolves it", || async {
        let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
        (body["state"] == "resolved").then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_user_category_opens_its_incident_and_is_what_analyze_error_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    append(&log, b"");
    let config = format!(
        "{}[[category]]\nname = \"payment_gateway_down\"\n\
         patterns = ['(?i)payment gateway .* unreachable']\nseverity = \"critical\"\n\
         advice = \"Check the VPN tunnel.\"\nrunbooks = [\"restart-vpn\"]\n{}",
        Runbook::new("restart-vpn").run(&["true"]),
        source(
            &log,
            "[[log.alert]]\ncategory = \"payment_gateway_down\"\ncount = 2\nwithin = \"1m\"\n"
        )
    );
    let app = start_app(dir.path(), &config).await;
    // The lines also say "connection refused" (a built-in category): the user's wins.
    let line = "checkout: Payment gateway eu-1 unreachable: connection refused";
    append(&log, format!("{line}\n{line}\n").as_bytes());
    let incident = eventually(DEADLINE, "the incident opens", || async {
        let (_, body) = get_json(&app, "/api/v1/incidents").await;
        let first = body["incidents"][0].clone();
        (first["fingerprint"] == "log:app:payment_gateway_down").then_some(first)
    })
    .await;
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["labels"]["category"], "payment_gateway_down");
    let (_, incidents) = get_json(&app, "/api/v1/incidents").await;
    assert_eq!(incidents["total"], 1, "{incidents}");
    let analyzed = common::client()
        .post(format!(
            "http://{}/api/v1/error-monitoring/analyze-error",
            app.address
        ))
        .bearer_auth(common::TOKEN)
        .json(&serde_json::json!({ "message": line }))
        .send()
        .await
        .expect("analyze")
        .json::<serde_json::Value>()
        .await
        .expect("json");
    assert_eq!(
        analyzed["category"],
        serde_json::json!({
            "name": "payment_gateway_down",
            "severity": "critical",
            "advice": "Check the VPN tunnel.",
            "runbooks": ["restart-vpn"],
        }),
        "{analyzed}"
    );
    assert_eq!(
        analyzed["suggested_runbooks"],
        serde_json::json!(["restart-vpn"])
    );
    app.shutdown().await;
}

/// `homeostat_signals_total` from `/metrics`.
async fn signals(app: &App) -> u64 {
    let text = metrics_text(app).await;
    text.lines()
        .find_map(|l| l.strip_prefix("homeostat_signals_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("homeostat_signals_total")
}

#[tokio::test]
async fn a_backlog_of_old_errors_read_at_once_opens_no_incident() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    // 50 OOM lines stamped over the last two hours (one every 144 s): never 5 within a minute
    // by their own times, though all are read within a moment.
    let now = chrono::Utc::now();
    let mut data = String::new();
    for i in 0..50 {
        let at = now - chrono::TimeDelta::seconds(7200 - i * 144);
        data.push_str(&format!(
            "{} kernel: Out of memory: Killed process {i} (java)\n",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ));
    }
    append(&log, data.as_bytes());
    let config = source(
        &log,
        "format = '^(?P<time>\\S+) (?P<message>.*)$'\n\
         [[log.alert]]\ncategory = \"out_of_memory\"\ncount = 5\nwithin = \"1m\"\n",
    );
    let app = start_app(dir.path(), &config).await;
    // Rate signals are counted before the lines that caused them.
    wait_lines_read(&app, "the 50 lines read", |read| read == 50).await;
    assert_eq!(signals(&app).await, 0, "no rate alert for spread-out lines");
    assert_eq!(counter(&app, "log_lines_untimed_total").await, 0);
    let (_, incidents) = get_json(&app, "/api/v1/incidents").await;
    assert_eq!(incidents["total"], 0, "{incidents}");
    app.shutdown().await;
}

#[tokio::test]
async fn bursts_inside_a_backlog_count_by_their_own_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    // Two real bursts (5 OOM lines within 10 s), two hours and one hour ago, and a last line
    // from now: each burst fires, and each is quiet by the lines after it.
    let now = chrono::Utc::now();
    let line = |ago: i64, text: &str| {
        let at = now - chrono::TimeDelta::seconds(ago);
        format!(
            "{} {text}\n",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    };
    let mut data = String::new();
    for burst_ago in [7200, 3600] {
        for i in 0..5 {
            data.push_str(&line(
                burst_ago - i * 2,
                "Out of memory: Killed process 9 (java)",
            ));
        }
        data.push_str(&line(burst_ago - 600, "request served"));
    }
    data.push_str(&line(0, "request served"));
    append(&log, data.as_bytes());
    let config = source(
        &log,
        "format = '^(?P<time>\\S+) (?P<message>.*)$'\n\
         [[log.alert]]\ncategory = \"out_of_memory\"\ncount = 5\nwithin = \"1m\"\n",
    );
    let app = start_app(dir.path(), &config).await;
    wait_lines_read(&app, "the 13 lines read", |read| read == 13).await;
    assert_eq!(signals(&app).await, 4, "fired, quiet, fired, quiet");
    eventually(DEADLINE, "the incident is resolved", || async {
        let (_, body) = get_json(&app, "/api/v1/incidents").await;
        let incidents = body["incidents"].as_array()?.clone();
        (!incidents.is_empty() && incidents.iter().all(|i| i["state"] == "resolved")).then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn recent_errors_stamped_within_a_minute_open_an_incident() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    // JSON lines with epoch-millisecond `ts` (found without `time_field`): 10 OOM lines within
    // the last minute, and one line whose time does not parse.
    let now = chrono::Utc::now();
    let mut data = String::from("{\"ts\": \"yesterday\", \"message\": \"service started\"}\n");
    for i in 0..10 {
        let at = now - chrono::TimeDelta::seconds(55 - i * 5);
        let line = serde_json::json!({
            "ts": at.timestamp_millis(),
            "message": format!("kernel: Out of memory: Killed process {i} (java)"),
        });
        data.push_str(&format!("{line}\n"));
    }
    append(&log, data.as_bytes());
    let config = source(
        &log,
        "format = \"json\"\n[[log.alert]]\ncategory = \"out_of_memory\"\ncount = 5\nwithin = \"1m\"\n",
    );
    let app = start_app(dir.path(), &config).await;
    let incident = eventually(DEADLINE, "the incident opens", || async {
        let (_, body) = get_json(&app, "/api/v1/incidents").await;
        let first = body["incidents"][0].clone();
        (first["fingerprint"] == "log:app:out_of_memory").then_some(first)
    })
    .await;
    assert_eq!(incident["labels"]["category"], "out_of_memory");
    wait_lines_read(&app, "the 11 lines read", |read| read == 11).await;
    assert_eq!(counter(&app, "log_lines_untimed_total").await, 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_backlog_of_timed_lines_is_stored_at_the_lines_own_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("app.log");
    // Lines stamped 3 h to 2 h ago, read now, written out of order at the end.
    let now = chrono::Utc::now();
    let stamps: Vec<_> = [180, 150, 120, 170]
        .iter()
        .map(|m| now - chrono::TimeDelta::minutes(*m))
        .collect();
    let mut data = String::new();
    for (i, at) in stamps.iter().enumerate() {
        let line = serde_json::json!({"ts": at.to_rfc3339(), "message": format!("cache warmed in {i} ms")});
        data.push_str(&format!("{line}\n"));
    }
    append(&log, data.as_bytes());
    let app = start_app(dir.path(), &source(&log, "format = \"json\"")).await;
    wait_stored(&app, 4).await;
    let (_, body) = stored_lines(&app).await;
    let cluster = &body["clusters"][0];
    assert_eq!(cluster["template"], "cache warmed in <*>", "{body}"); // units go with numbers
    let time = |field: &str| {
        cluster[field]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| panic!("{field} in {cluster}"))
    };
    let close = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (a - b).num_milliseconds().abs() < 1_000
    };
    assert!(close(time("first_seen"), stamps[0]), "{cluster}");
    assert!(close(time("last_seen"), stamps[2]), "{cluster}");
    app.shutdown().await;
}

/// Starts a daemon on a SQLite store in `dir` with source `app` following `dir/app.log` (created
/// empty) and saving only when evictions pile up (or at shutdown), so that clusters are evicted
/// before they were ever saved; returns it, the store's URL and the log's path.
async fn start_saving_hourly(dir: &Path) -> (App, String, PathBuf) {
    let url = common::sqlite_url(dir);
    let log = dir.join("app.log");
    append(&log, b"");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{url}\"\nflush_interval = \"1h\"\n{}",
        source(&log, "default_alert = { count = 0 }")
    );
    let app = App::start(
        common::config(&text),
        homeostat::api::Authenticator::new(Some(common::TOKEN.to_string())),
    )
    .await
    .expect("app starts");
    (app, url, log)
}

/// Five lines of the cluster `first cluster line <*>`, then `unique` lines of templates no
/// other line shares (the miner holds 10,000): two routing words out of 100 each, then one word
/// of the line's own per letter of `own` (the more, the longer the line).
fn first_cluster_then_templates(unique: usize, own: std::ops::RangeInclusive<char>) -> String {
    let mut data = String::new();
    for i in 0..5 {
        data.push_str(&format!("first cluster line {i}\n"));
    }
    for i in 0..unique {
        let (a, b) = (word(i % 100), word(i / 100 % 100));
        let id = word(1000 + i);
        let words: Vec<String> = own.clone().map(|p| format!("{p}{id}")).collect();
        data.push_str(&format!("{a} {b} {}\n", words.join(" ")));
    }
    data
}

/// A letters-only word for `n` (numbers and hex-like words would be masked as variables).
fn word(mut n: usize) -> String {
    let mut w = String::from("kw");
    loop {
        w.push(char::from(b'g' + (n % 20) as u8));
        n /= 20;
        if n == 0 {
            return w;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_evicted_from_the_full_miner_still_reach_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (app, _, log) = start_saving_hourly(dir.path()).await;
    let unique = 11_100;
    append(
        &log,
        first_cluster_then_templates(unique, 'x'..='z').as_bytes(),
    );
    // 11,105 lines through a full miner take seconds in a debug build, many more under load.
    let top = eventually(
        DEADLINE * 4,
        "the evicted first cluster is stored",
        || async {
            let (status, body) =
                get_json(&app, "/api/v1/clusters?source=app&since=24h&limit=1").await;
            assert_eq!(status, 200, "{body}");
            let top = body["clusters"][0].clone();
            (top["count"] == 5).then_some(top)
        },
    )
    .await;
    assert_eq!(top["template"], "first cluster line <*>", "{top}");
    assert_eq!(counter(&app, "log_lines_total").await, 5 + unique as u64);
    app.shutdown().await;
}

#[tokio::test]
async fn a_directory_created_after_start_is_found_by_polling() {
    let dir = tempfile::tempdir().expect("tempdir");
    let later = dir.path().join("later");
    let log = later.join("app.log");
    let app = start_app(dir.path(), &source(&log, "")).await;
    std::fs::create_dir(&later).expect("mkdir");
    append(&log, b"hello from a late directory\n");
    wait_stored(&app, 1).await;
    app.shutdown().await;
}

#[test]
fn bad_log_sources_are_reported_at_file_line_col() {
    let found = config_issues(concat!(
        "[[log]]\nname = \"app\"\npath = \"/var/log/app/*.log\"\nformat = '^(?P<msg>.*)$'\n",
        "remedy = [\"nope\"]\n",
        "[[log]]\nname = \"app\"\npath = \"/var/log/[x.log\"\n",
        "[[log.alert]]\ncategory = \"out_of_mem\"\n",
        "[[log]]\nname = \"rel\"\npath = \"logs/*.log\"\nformat = '(?P<message>'\n",
        "[[log]]\nname = \"t\"\npath = \"/var/log/t.log\"\ntime_field = \"at\"\n",
    ));
    let expect = [
        ("4:10", "no named group `message`"),
        ("5:11", "remedy `nope` is not a defined runbook"),
        ("7:8", "duplicate log name `app`"),
        ("8:8", "invalid glob"),
        ("10:12", "unknown category `out_of_mem`"),
        ("13:8", "must be absolute"),
        ("14:10", "invalid format regex"),
        ("18:14", "`time_field` applies to `format = \"json\"` only"),
    ];
    for (at, text) in expect {
        assert!(
            found
                .iter()
                .any(|i| i.starts_with(&format!("h.toml:{at}: ")) && i.contains(text)),
            "expected h.toml:{at} containing {text:?}, got {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}
