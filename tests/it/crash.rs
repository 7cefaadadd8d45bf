//! `kill -9` of the daemon in the middle of a repair, then a restart: the step that outlived the
//! daemon is killed, the repair is marked `interrupted`, the target is re-checked, the repair
//! continues — nothing lost, and the step that had completed is not run twice.

use crate::common;

use common::{TOKEN, eventually, free_port};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

fn start(config: &Path) -> Child {
    common::homeostat()
        .args(["run", "--config"])
        .arg(config)
        .env("HOMEOSTAT_ADMIN_TOKEN", TOKEN)
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(config.with_file_name("daemon.log"))
                .expect("log"),
        )
        .stdout(Stdio::null())
        .spawn()
        .expect("start daemon")
}

async fn get(port: u16, path: &str) -> Option<Value> {
    common::fetch_json(&format!("http://127.0.0.1:{port}{path}")).await
}

fn count(log: &Path, word: &str) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == word)
        .count()
}

/// A config for a daemon on `port` with its store at `store`: check `svc` is healthy while
/// `DIR/healthy` exists; runbook `fix` logs `one`, then `two` and sleeps for the seconds in
/// `DIR/sleep` (writing its pid to `DIR/step2.pid`) before it makes `svc` healthy.
fn write_config(dir: &Path, name: &str, port: u16, store: &str) -> std::path::PathBuf {
    let d = dir.display();
    let config = dir.join(name);
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nurl = \"{store}\"\n\n\
             [[check]]\nname = \"svc\"\ntype = \"command\"\ncommand = [\"sh\", \"-c\", \"test -f {d}/healthy || exit 2\"]\ninterval = \"100ms\"\nremedy = [\"fix\"]\n\n\
             [[runbook]]\nname = \"fix\"\nverify = {{ check = \"svc\", within = \"10s\" }}\nmax_attempts = 1\n\
             steps = [ {{ run = [\"sh\", \"-c\", \"echo one >> {d}/log\"] }},\n\
                       {{ run = [\"sh\", \"-c\", \"echo two >> {d}/log; echo $$ > {d}/step2.pid; sleep $(cat {d}/sleep); touch {d}/healthy\"] }} ]\n"
        ),
    )
    .expect("config");
    config
}

#[tokio::test]
async fn kill_9_in_the_middle_of_a_repair_loses_nothing_and_runs_no_completed_step_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}/h.db", dir.path().display());
    kill_9_and_restart(dir.path(), &store).await;
}

#[tokio::test]
async fn kill_9_in_the_middle_of_a_repair_loses_nothing_and_runs_no_completed_step_twice_on_postgres()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    kill_9_and_restart(dir.path(), &common::fresh_postgres().await).await;
}

/// Within this time of its start a restarted daemon has killed the step its previous life left
/// running: a debug build starting on a slow CI machine needs seconds of it, and it stays far
/// under the ten minutes the dead daemon's lease is made to last (`extend_running_leases`),
/// after which any instance would take the job back.
const TAKE_BACK_WITHIN: Duration = Duration::from_secs(30);

/// `kill -9` of the daemon while step 2 runs, then a restart with the same store: the restart
/// knows the repair job is its own previous life's and takes it back at once (the dead daemon's
/// lease is made to last ten minutes, so waiting for it to expire cannot pass this test).
async fn kill_9_and_restart(dir: &Path, store: &str) {
    let port = free_port();
    let config = write_config(dir, "homeostat.toml", port, store);
    let log = dir.join("log");
    // The first run of step 2 would sleep for a minute; after the restart it does not sleep.
    std::fs::write(dir.join("sleep"), "60").expect("sleep file");
    let step2 = dir.join("step2.pid");

    let mut daemon = start(&config);
    let pgid: i32 = eventually(Duration::from_secs(20), "step 2 running", || async {
        std::fs::read_to_string(&step2)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    })
    .await;
    kill_9_once_recorded(&mut daemon, store, pgid).await;
    std::fs::write(dir.join("sleep"), "0").expect("sleep file");
    assert_eq!((count(&log, "one"), count(&log, "two")), (1, 1));
    assert!(!dir.join("healthy").exists());
    extend_running_leases(store, Duration::from_secs(600)).await;

    let restarted = std::time::Instant::now();
    let mut daemon = start(&config);
    orphan_killed(pgid, TAKE_BACK_WITHIN).await;
    eprintln!(
        "orphaned step killed {:?} after the restart",
        restarted.elapsed()
    );
    assert_continued(dir, port, pgid).await;
    daemon.kill().expect("stop daemon");
    let _ = daemon.wait();
}

/// `kill -9` of `daemon` once it has recorded step process group `pgid` in `store` (a crash
/// before that would leave the step unknown to the next start); the step lives on.
async fn kill_9_once_recorded(daemon: &mut Child, store: &str, pgid: i32) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(store).await.expect("open the store");
    eventually(
        Duration::from_secs(10),
        "step process group recorded",
        || {
            let pool = pool.clone();
            async move {
                let row = sqlx::query("SELECT id FROM repairs WHERE step_pgid = $1")
                    .bind(i64::from(pgid))
                    .fetch_optional(&pool)
                    .await
                    .ok()?;
                row.map(|_| ())
            }
        },
    )
    .await;
    pool.close().await;
    daemon.kill().expect("kill -9 daemon");
    daemon.wait().expect("reap daemon");
    assert!(
        Path::new(&format!("/proc/{pgid}")).exists(),
        "the step died with the daemon"
    );
}

#[tokio::test]
async fn a_repair_whose_daemon_keeps_dying_gives_up_after_ten_claims_and_escalates() {
    ten_lives(LastLife::Killed).await;
}

#[tokio::test]
async fn a_repair_whose_daemon_dies_nine_times_and_then_stops_gracefully_escalates() {
    ten_lives(LastLife::Stopped).await;
}

/// How the tenth life of the daemon ends.
#[derive(Clone, Copy, Debug, PartialEq)]
enum LastLife {
    /// `kill -9`: the next start takes the job back and finds its claims used up.
    Killed,
    /// SIGTERM: the daemon's own worker records the tenth failed claim.
    Stopped,
}

/// Ten lives of the daemon die in the middle of the same repair (the first nine by `kill -9`,
/// the last as `last` says); the repair job is claimed ten times, never finishes, and its
/// incident is escalated with a timeline entry saying why — no eleventh try.
async fn ten_lives(last: LastLife) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let store = format!("sqlite://{}/h.db", dir.path().display());
    let config = write_config(dir.path(), "homeostat.toml", port, &store);
    // Step 2 never finishes by itself: every life of the daemon dies in the middle of it.
    std::fs::write(dir.path().join("sleep"), "60").expect("sleep file");
    let step2 = dir.path().join("step2.pid");
    let mut previous = 0;
    // Ten claims of the repair job: the first start, then nine restarts that continue it.
    for life in 1..=10 {
        let mut daemon = start(&config);
        let pgid: i32 = eventually(
            Duration::from_secs(20),
            &format!("step 2 running in life {life}"),
            || async {
                std::fs::read_to_string(&step2)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .filter(|pid| *pid != previous)
            },
        )
        .await;
        if life == 10 && last == LastLife::Stopped {
            let status = common::terminate(&mut daemon, Duration::from_secs(20)).await;
            assert!(status.success(), "graceful stop failed: {status}");
        } else {
            kill_9_once_recorded(&mut daemon, &store, pgid).await;
        }
        previous = pgid;
    }
    let log = dir.path().join("log");
    assert_eq!((count(&log, "one"), count(&log, "two")), (1, 10));

    // Its claims are used up: no eleventh try, a human must look. A killed last life left its
    // job running: the next start takes it back at once, not when the lease would expire.
    if last == LastLife::Killed {
        extend_running_leases(&store, Duration::from_secs(600)).await;
    }
    let mut daemon = start(&config);
    orphan_killed(previous, TAKE_BACK_WITHIN).await;
    let incident = eventually(Duration::from_secs(20), "incident escalated", || async {
        let body = get(port, "/api/v1/incidents?limit=5").await?;
        body["incidents"]
            .as_array()?
            .first()
            .filter(|i| i["state"] == "escalated")
            .cloned()
    })
    .await;
    let id = incident["id"].as_str().expect("incident id");
    let detail = get(port, &format!("/api/v1/incidents/{id}"))
        .await
        .expect("incident detail");
    let escalation = detail["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .find(|e| e["kind"] == "escalated")
        .cloned()
        .unwrap_or_else(|| panic!("no escalation in the timeline: {detail}"));
    assert!(
        escalation["message"]
            .as_str()
            .is_some_and(|m| m.contains("claimed 10 times")),
        "{escalation}"
    );
    // Every life's repair ended `interrupted`; none is left running.
    let repairs = get(port, &format!("/api/v1/repairs?incident={id}&limit=50"))
        .await
        .expect("repairs");
    let states = common::strings_of(&repairs["repairs"], "state");
    assert_eq!(states, ["interrupted"; 10], "{repairs}");
    assert_eq!(
        count(&log, "two"),
        10,
        "an eleventh claim ran the step again"
    );
    daemon.kill().expect("stop daemon");
    let _ = daemon.wait();
}

/// Makes the leases of the running jobs in `store` (the dead daemon's) last `extra` from now.
async fn extend_running_leases(store: &str, extra: Duration) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(store).await.expect("open the store");
    let until =
        chrono::Utc::now().timestamp_millis() + i64::try_from(extra.as_millis()).expect("duration");
    let extended = sqlx::query("UPDATE jobs SET lease_expires_at = $1 WHERE state = 'running'")
        .bind(until)
        .execute(&pool)
        .await
        .expect("extend leases")
        .rows_affected();
    pool.close().await;
    assert_eq!(extended, 1, "the killed daemon held one running repair job");
}

/// Waits until process group leader `pgid` is gone (or a zombie).
async fn orphan_killed(pgid: i32, within: Duration) {
    eventually(within, "orphaned step killed", || async move {
        let stat = std::fs::read_to_string(format!("/proc/{pgid}/stat")).unwrap_or_default();
        (stat.is_empty() || stat.contains(") Z ")).then_some(())
    })
    .await;
}

/// The daemon on `port` took over the repair whose step 2 (process group `pgid`) was running
/// when its daemon was killed: it killed that step, marked the repair `interrupted`, and
/// continued it (the same attempt) without running step 1 again.
async fn assert_continued(dir: &Path, port: u16, pgid: i32) {
    let log = dir.join("log");
    // The daemon that takes over stops the orphaned step before it resumes the repair.
    orphan_killed(pgid, Duration::from_secs(30)).await;
    let incident = eventually(
        Duration::from_secs(20),
        "incident resolved after restart",
        || async {
            let body = get(port, "/api/v1/incidents?limit=5").await?;
            body["incidents"]
                .as_array()?
                .first()
                .filter(|i| i["state"] == "resolved")
                .cloned()
        },
    )
    .await;
    let repairs = eventually(
        Duration::from_secs(10),
        "resumed repair succeeded",
        || async {
            let body = get(
                port,
                &format!("/api/v1/repairs?incident={}", incident["id"].as_str()?),
            )
            .await?;
            let repairs = body["repairs"].as_array()?.clone();
            repairs
                .iter()
                .any(|r| r["state"] == "succeeded")
                .then_some(repairs)
        },
    )
    .await;
    let states: Vec<&str> = repairs.iter().filter_map(|r| r["state"].as_str()).collect();
    assert_eq!(states, ["succeeded", "interrupted"], "{repairs:?}");
    let resumed = &repairs[0];
    assert!(
        resumed["steps"][0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("skipped: completed by interrupted repair")),
        "{resumed}"
    );
    assert_eq!(
        resumed["attempt"], repairs[1]["attempt"],
        "a continuation is the same attempt, not a new one"
    );
    assert_eq!(count(&log, "one"), 1, "a completed step ran twice");
    assert_eq!(
        count(&log, "two"),
        2,
        "the interrupted step was not run again"
    );
}

#[tokio::test]
async fn a_repair_whose_daemon_died_is_taken_over_by_another_instance_sharing_postgres() {
    let url = common::fresh_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (port_a, port_b) = (free_port(), free_port());
    let config_a = write_config(dir.path(), "a.toml", port_a, &url);
    let config_b = write_config(dir.path(), "b.toml", port_b, &url);
    let log = dir.path().join("log");
    std::fs::write(dir.path().join("sleep"), "60").expect("sleep file");
    let step2 = dir.path().join("step2.pid");

    let mut a = start(&config_a);
    let pgid: i32 = eventually(Duration::from_secs(20), "step 2 running on A", || async {
        std::fs::read_to_string(&step2)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    })
    .await;
    // B starts while A's repair runs: it must not touch that repair while A holds its lease.
    let mut b = start(&config_b);
    eventually(Duration::from_secs(20), "B answering", || async {
        get(port_b, "/api/v1/incidents").await.map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        Path::new(&format!("/proc/{pgid}")).exists(),
        "B killed the step of a live instance"
    );
    assert_eq!((count(&log, "one"), count(&log, "two")), (1, 1));
    // Killed only once A has recorded the step, or B could not know what to kill.
    kill_9_once_recorded(&mut a, &url, pgid).await;
    std::fs::write(dir.path().join("sleep"), "0").expect("sleep file");
    // A's lease expires; B's reaper takes the job back and B continues the repair.
    assert_continued(dir.path(), port_b, pgid).await;
    b.kill().expect("stop B");
    let _ = b.wait();
}
