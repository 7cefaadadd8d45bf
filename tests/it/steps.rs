//! Built-in step kinds against the real things: a local HTTP server, real processes and files,
//! the local Redis and a fresh PostgreSQL database. Redis and PostgreSQL must be running: these
//! tests fail, never skip, without them.

use crate::common;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use homeostat::config::StepConfig;
use homeostat::remedy::{execute_step, plan_step};
use sqlx::Connection;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

const REDIS_DB: &str = "redis://127.0.0.1:6379/13";
const DAY: Duration = Duration::from_secs(86_400);

/// The single step of a runbook written as `steps = [ STEP ]`.
fn step(step: &str) -> StepConfig {
    let config = common::config(&format!("[[runbook]]\nname = \"r\"\nsteps = [ {step} ]\n"));
    config
        .runbook
        .first()
        .and_then(|r| r.steps.first())
        .cloned()
        .expect("one step")
}

fn context(labels: &[(&str, &str)]) -> minijinja::Value {
    let labels: std::collections::BTreeMap<&str, &str> = labels.iter().copied().collect();
    minijinja::context! { incident => minijinja::context! { labels => labels } }
}

async fn run(step: &StepConfig, context: &minijinja::Value) -> homeostat::model::StepRecord {
    execute_step(step, context, &CancellationToken::new(), "step").await
}

/// A local HTTP service with `POST /reset` (200) and `POST /broken` (503), counting hits.
async fn service() -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    async fn reset(State(hits): State<Arc<AtomicU64>>, body: String) -> (StatusCode, String) {
        hits.fetch_add(1, Ordering::SeqCst);
        (StatusCode::OK, format!("reset {body}"))
    }
    async fn broken(State(hits): State<Arc<AtomicU64>>) -> StatusCode {
        hits.fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE
    }
    let app = Router::new()
        .route("/reset", post(reset))
        .route("/broken", post(broken))
        .with_state(Arc::clone(&hits));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (address, hits)
}

#[tokio::test]
async fn http_step_calls_the_service_and_checks_the_status() {
    let (address, hits) = service().await;
    let labels = context(&[("addr", &address), ("pool", "main")]);
    let reset = step(
        "{ http = { url = \"http://{{ incident.labels.addr }}/reset\", body = \"{{ incident.labels.pool }}\" } }",
    );
    let record = run(&reset, &labels).await;
    assert_eq!(record.error, None, "{record:?}");
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(
        record.command,
        ["http", "POST", &format!("http://{address}/reset")]
    );
    assert_eq!(record.output, "HTTP 200\nreset main");
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // A JSON body: a hostile label stays one string value.
    let json = step(
        "{ http = { url = \"http://{{ incident.labels.addr }}/reset\", body = '{\"pool\": \"{{ incident.labels.pool }}\"}' } }",
    );
    let hostile = "main\", \"drop_all\": true, \"x\": \"";
    let record = run(&json, &context(&[("addr", &address), ("pool", hostile)])).await;
    assert_eq!(record.error, None, "{record:?}");
    let sent = record
        .output
        .strip_prefix("HTTP 200\nreset ")
        .expect("the body echoed");
    let sent: serde_json::Value = serde_json::from_str(sent).expect("the body is JSON");
    assert_eq!(sent, serde_json::json!({ "pool": hostile }));
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    let broken = step(&format!(
        "{{ http = {{ url = \"http://{address}/broken\", expect_status = [200, 204] }} }}"
    ));
    let record = run(&broken, &labels).await;
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(record.exit_code, None);
    assert_eq!(
        record.error.as_deref(),
        Some("status 503, expected one of [200, 204]")
    );
}

#[tokio::test]
async fn http_step_with_an_undefined_label_fails_without_calling() {
    let (address, hits) = service().await;
    let reset = step(&format!(
        "{{ http = {{ url = \"http://{address}/reset?pool={{{{ incident.labels.nope }}}}\" }} }}"
    ));
    let record = run(&reset, &context(&[])).await;
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("template")),
        "{record:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn sleep_step_waits_and_stops_at_once_on_the_emergency_stop() {
    let short = step("{ sleep = \"100ms\" }");
    let started = Instant::now();
    let record = run(&short, &context(&[])).await;
    assert_eq!(record.error, None);
    assert!(started.elapsed() >= Duration::from_millis(100));

    let long = step("{ sleep = \"50s\", timeout = \"60s\" }");
    let kill = CancellationToken::new();
    let task = {
        let kill = kill.clone();
        tokio::spawn(async move { execute_step(&long, &context(&[]), &kill, "step").await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Ended within seconds of the stop, the 50 s sleep was cut short (a tighter bound would
    // time the scheduling of a busy CI machine).
    let cancelled = Instant::now();
    kill.cancel();
    let record = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("stops within 20 s")
        .expect("task");
    assert!(
        cancelled.elapsed() < Duration::from_secs(10),
        "{:?}",
        cancelled.elapsed()
    );
    assert_eq!(
        record.error.as_deref(),
        Some("killed by the emergency stop")
    );
    assert_eq!(record.command, ["sleep", "50s"]);
}

#[tokio::test]
async fn signal_step_ends_the_process_named_in_the_pidfile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("start sleep");
    let pidfile = dir.path().join("svc.pid");
    std::fs::write(&pidfile, format!("{}\n", child.id())).expect("pidfile");
    let term = step(&format!(
        "{{ signal = {{ pidfile = \"{}\", signal = \"TERM\" }} }}",
        pidfile.display()
    ));
    let record = run(&term, &context(&[])).await;
    assert_eq!(record.error, None, "{record:?}");
    assert_eq!(record.output, format!("sent TERM to pid {}\n", child.id()));
    let status = common::eventually(Duration::from_secs(20), "sleep gone", || {
        let status = child.try_wait().expect("try_wait");
        async move { status }
    })
    .await;
    assert!(!status.success());

    // A stale pidfile whose pid a later process took: that process is left alone.
    let mut other = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("start sleep");
    std::fs::write(&pidfile, format!("{}\n", other.id())).expect("pidfile");
    filetime::set_file_mtime(
        &pidfile,
        filetime::FileTime::from_system_time(SystemTime::now() - Duration::from_secs(3600)),
    )
    .expect("mtime");
    let record = run(&term, &context(&[])).await;
    let refused = record
        .error
        .as_deref()
        .is_some_and(|e| e.contains("reused the pid"));
    let alive = other.try_wait().expect("try_wait").is_none();
    let _ = other.kill();
    let _ = other.wait();
    assert!(refused && alive, "{record:?}");

    for refused in ["1", "0", "-1"] {
        std::fs::write(&pidfile, refused).expect("pidfile");
        let record = run(&term, &context(&[])).await;
        assert!(
            record
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with(&format!("refusing to signal pid {refused}"))),
            "{record:?}"
        );
    }
}

/// Writes `size` bytes to `path` and sets its mtime `age` ago.
fn file(path: &Path, size: usize, age: Duration) {
    std::fs::write(path, vec![b'x'; size]).expect("write");
    let mtime = filetime::FileTime::from_system_time(SystemTime::now() - age);
    filetime::set_file_mtime(path, mtime).expect("mtime");
}

#[tokio::test]
async fn cleanup_deletes_old_files_oldest_first_up_to_max_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(logs.join("real")).expect("dirs");
    std::fs::create_dir_all(&outside).expect("dirs");
    file(&logs.join("a.log.1"), 100, 10 * DAY);
    file(&logs.join("b.log.2"), 100, 9 * DAY);
    file(&logs.join("c.log.3"), 100, 8 * DAY);
    file(&logs.join("young.log.1"), 100, Duration::from_secs(60));
    file(&outside.join("target.log.1"), 100, 30 * DAY);
    std::os::unix::fs::symlink(outside.join("target.log.1"), logs.join("link.log.1"))
        .expect("symlink");
    std::fs::create_dir(logs.join("dir.log.1")).expect("dir");
    filetime::set_file_mtime(
        logs.join("dir.log.1"),
        filetime::FileTime::from_system_time(SystemTime::now() - 30 * DAY),
    )
    .expect("mtime");

    let cleanup = step(&format!(
        "{{ cleanup = {{ glob = \"{}/*.log.*\", older_than = \"7d\", max_bytes = 250 }} }}",
        logs.display()
    ));
    let record = run(&cleanup, &context(&[])).await;
    assert_eq!(record.error, None, "{record:?}");
    assert!(
        record
            .output
            .starts_with("deleted 2 files, 200 bytes; 1 old files left: max_bytes 250 reached"),
        "{}",
        record.output
    );
    assert!(!logs.join("a.log.1").exists() && !logs.join("b.log.2").exists());
    assert!(logs.join("c.log.3").exists(), "max_bytes respected");
    assert!(logs.join("young.log.1").exists(), "younger file untouched");
    assert!(logs.join("link.log.1").is_symlink(), "symlink untouched");
    assert!(
        outside.join("target.log.1").exists(),
        "symlink target untouched"
    );
    assert!(logs.join("dir.log.1").is_dir(), "directory untouched");

    // A glob matching through a symlinked directory never touches what it points to.
    file(&logs.join("real/x.log"), 10, 10 * DAY);
    file(&outside.join("y.log"), 10, 10 * DAY);
    std::os::unix::fs::symlink(&outside, logs.join("linked")).expect("symlink");
    let nested = step(&format!(
        "{{ cleanup = {{ glob = \"{}/*/*.log\", older_than = \"1d\" }} }}",
        logs.display()
    ));
    let record = run(&nested, &context(&[])).await;
    assert_eq!(record.error, None, "{record:?}");
    assert!(!logs.join("real/x.log").exists());
    assert!(
        outside.join("y.log").exists(),
        "file behind a symlinked dir untouched"
    );
}

#[tokio::test]
async fn cleanup_gzips_old_files_and_keeps_their_mtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("app.log.1");
    std::fs::write(&old, "line one\nline two\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mtime = filetime::FileTime::from_system_time(SystemTime::now() - 3 * DAY);
    filetime::set_file_mtime(&old, mtime).expect("mtime");
    file(&dir.path().join("app.log.2.gz"), 50, 3 * DAY);
    file(&dir.path().join("app.log.0"), 50, Duration::ZERO);
    // An old file outside, and a symlink to it among the logs: neither is touched.
    let outside = tempfile::tempdir().expect("tempdir");
    let secret = outside.path().join("secret.log");
    file(&secret, 40, 30 * DAY);
    std::os::unix::fs::symlink(&secret, dir.path().join("app.log.3")).expect("symlink");

    let gzip = step(&format!(
        "{{ cleanup = {{ glob = \"{}/{{{{ incident.labels.app }}}}.log.*\", older_than = \"2d\", action = \"gzip\" }} }}",
        dir.path().display()
    ));
    let labels = context(&[("app", "app")]);
    let record = run(&gzip, &labels).await;
    assert_eq!(record.error, None, "{record:?}");
    assert!(
        record.output.starts_with("gzipped 1 files, 18 bytes"),
        "{}",
        record.output
    );
    assert!(!old.exists());
    let gz = dir.path().join("app.log.1.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).expect("gz"))
        .read_to_string(&mut text)
        .expect("gunzip");
    assert_eq!(text, "line one\nline two\n");
    let meta = std::fs::metadata(&gz).expect("meta");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "a private log became readable"
    );
    assert_eq!(
        filetime::FileTime::from_last_modification_time(&meta),
        mtime
    );
    assert_eq!(
        std::fs::metadata(dir.path().join("app.log.2.gz"))
            .expect("old gz")
            .len(),
        50,
        "already gzipped file untouched"
    );
    assert!(
        dir.path().join("app.log.0").exists(),
        "young file untouched"
    );
    assert!(
        dir.path().join("app.log.3").is_symlink(),
        "symlink untouched"
    );
    assert!(!dir.path().join("app.log.3.gz").exists(), "symlink gzipped");
    assert_eq!(std::fs::read(&secret).expect("secret"), vec![b'x'; 40]);
}

#[tokio::test]
async fn redis_step_flushes_the_configured_database() {
    let client = redis::Client::open(REDIS_DB).expect("redis url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis must be running on 127.0.0.1:6379 for this test: {e}"));
    let _: () = redis::cmd("SET")
        .arg("homeostat-steps-test")
        .arg("cached")
        .query_async(&mut redis)
        .await
        .expect("set");
    let flush = step(&format!(
        "{{ redis = {{ url = \"{REDIS_DB}\", command = [\"FLUSHDB\"] }} }}"
    ));
    let record = run(&flush, &context(&[])).await;
    assert_eq!(record.error, None, "{record:?}");
    assert_eq!(record.output, "OK\n");
    let exists: i64 = redis::cmd("EXISTS")
        .arg("homeostat-steps-test")
        .query_async(&mut redis)
        .await
        .expect("exists");
    assert_eq!(exists, 0);

    let unreachable =
        step("{ redis = { url = \"redis://127.0.0.1:1/0\", command = [\"FLUSHDB\"] } }");
    let record = run(&unreachable, &context(&[])).await;
    assert!(
        record
            .error
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect")),
        "{record:?}"
    );
}

#[tokio::test]
async fn sql_step_runs_a_statement_and_terminates_idle_connections() {
    let url = common::fresh_postgres().await;
    let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2), (3);")
        .execute(&mut db)
        .await
        .expect("arrange");
    let delete = step(&format!(
        "{{ sql = {{ url = \"{url}\", statement = \"DELETE FROM t WHERE x > {{{{ incident.labels.keep }}}}\" }} }}"
    ));
    let record = run(&delete, &context(&[("keep", "1")])).await;
    assert_eq!(record.error, None, "{record:?}");
    assert_eq!(record.output, "2 rows affected, 0 rows returned\n");
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
        .fetch_one(&mut db)
        .await
        .expect("count");
    assert_eq!(left, 1);

    // `db` is now an idle connection: the connection-reset repair terminates it.
    let (idle_pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(&mut db)
        .await
        .expect("pid");
    // The delete step closed its connection, but its server process may still be on its way
    // out (and listed idle): wait, asking on `db` itself (busy while it asks), until no other
    // session is idle, so the step below finds exactly one idle connection: `db`.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (others,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'idle' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut db)
        .await
        .expect("sessions");
        if others == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{others} other idle sessions stay"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let terminate = step(&format!(
        "{{ sql = {{ url = \"{url}\", statement = \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND state = 'idle' AND pid <> pg_backend_pid()\" }} }}"
    ));
    let record = run(&terminate, &context(&[])).await;
    assert_eq!(record.error, None, "{record:?}");
    assert_eq!(record.output, "1 rows affected, 1 rows returned\nt\n");
    common::eventually(Duration::from_secs(20), "idle backend gone", || {
        let url = url.clone();
        async move {
            let mut other = sqlx::PgConnection::connect(&url).await.ok()?;
            let (alive,): (bool,) =
                sqlx::query_as("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
                    .bind(idle_pid)
                    .fetch_one(&mut other)
                    .await
                    .ok()?;
            (!alive).then_some(())
        }
    })
    .await;
    assert!(sqlx::query("SELECT 1").execute(&mut db).await.is_err());

    let slow = step(&format!(
        "{{ sql = {{ url = \"{url}\", statement = \"SELECT pg_sleep(20)\" }}, timeout = \"500ms\" }}"
    ));
    // Well under the statement's 20 s: the step's timeout ended it.
    let started = Instant::now();
    let record = run(&slow, &context(&[])).await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(record.error.as_deref(), Some("timed out after 500ms"));
}

/// How many statements containing `marker` run now on the server of `url` (other sessions).
async fn active_statements(url: &str, marker: &str) -> Option<i64> {
    let mut db = sqlx::PgConnection::connect(url).await.ok()?;
    let (n,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
         AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
    )
    .bind(marker)
    .fetch_one(&mut db)
    .await
    .ok()?;
    Some(n)
}

#[tokio::test]
async fn an_abandoned_sql_step_cancels_its_statement_on_the_server() {
    let url = common::fresh_postgres().await;
    // Timeout: the step ends after 1 s, and so does the statement on the server.
    let marker = format!("homeostat-timeout-{}", std::process::id());
    let slow = step(&format!(
        "{{ sql = {{ url = \"{url}\", statement = \"SELECT pg_sleep(60) /* {marker} */\" }}, timeout = \"1s\" }}"
    ));
    let record = run(&slow, &context(&[])).await;
    assert_eq!(record.error.as_deref(), Some("timed out after 1s"));
    // Deadlines here are far under the statements' 60 s: a statement still running after
    // them was not cancelled.
    common::eventually(
        Duration::from_secs(20),
        "timed-out statement cancelled",
        || {
            let (url, marker) = (url.clone(), marker.clone());
            async move { (active_statements(&url, &marker).await? == 0).then_some(()) }
        },
    )
    .await;

    // Emergency stop: the kill token ends the step while the statement runs.
    let marker = format!("homeostat-kill-{}", std::process::id());
    let slow = step(&format!(
        "{{ sql = {{ url = \"{url}\", statement = \"SELECT pg_sleep(60) /* {marker} */\" }}, timeout = \"60s\" }}"
    ));
    let kill = CancellationToken::new();
    let running = {
        let kill = kill.clone();
        tokio::spawn(async move { execute_step(&slow, &context(&[]), &kill, "step").await })
    };
    common::eventually(Duration::from_secs(20), "statement running", || {
        let (url, marker) = (url.clone(), marker.clone());
        async move { (active_statements(&url, &marker).await? == 1).then_some(()) }
    })
    .await;
    kill.cancel();
    let record = running.await.expect("step task");
    assert_eq!(
        record.error.as_deref(),
        Some("killed by the emergency stop")
    );
    common::eventually(
        Duration::from_secs(20),
        "killed statement cancelled",
        || {
            let (url, marker) = (url.clone(), marker.clone());
            async move { (active_statements(&url, &marker).await? == 0).then_some(()) }
        },
    )
    .await;
}

/// A Redis database no other test flushes.
const REDIS_OWN_DB: &str = "redis://127.0.0.1:6379/12";

async fn redis_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(REDIS_OWN_DB)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| panic!("Redis must be running on 127.0.0.1:6379 for this test: {e}"))
}

#[tokio::test]
async fn a_timed_out_redis_step_drops_its_blocking_connection() {
    let mut redis = redis_connection().await;
    let key = format!("homeostat-blpop-{}", std::process::id());
    let blocking = step(&format!(
        "{{ redis = {{ url = \"{REDIS_OWN_DB}\", command = [\"BLPOP\", \"{key}\", \"60\"] }}, timeout = \"1s\" }}"
    ));
    let started = Instant::now();
    let record = run(&blocking, &context(&[])).await;
    // The step's timeout bounds a blocking command, not a shorter default of the client.
    assert_eq!(
        record.error.as_deref(),
        Some("timed out after 1s"),
        "{record:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    common::eventually(Duration::from_secs(20), "blocked client gone", || {
        let mut redis = redis.clone();
        async move {
            let clients: String = redis::cmd("CLIENT")
                .arg("LIST")
                .query_async(&mut redis)
                .await
                .ok()?;
            // A client blocked in BLPOP shows up with `cmd=blpop` (no other test blocks in
            // this database).
            let blocked = clients
                .lines()
                .filter(|l| l.contains("cmd=blpop") && l.contains(" db=12 "))
                .count();
            (blocked == 0).then_some(())
        }
    })
    .await;
    // Nothing was left waiting to pop what is pushed now.
    let _: () = redis::cmd("RPUSH")
        .arg(&key)
        .arg("x")
        .query_async(&mut redis)
        .await
        .expect("rpush");
    let left: i64 = redis::cmd("LLEN")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("llen");
    assert_eq!(
        left, 1,
        "a blocked BLPOP of the abandoned step took the value"
    );
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("del");
}

#[tokio::test]
async fn a_huge_redis_reply_is_stored_cut_to_the_output_cap() {
    let mut redis = redis_connection().await;
    let key = format!("homeostat-big-{}", std::process::id());
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("x".repeat(1 << 20))
        .query_async(&mut redis)
        .await
        .expect("set");
    let get = step(&format!(
        "{{ redis = {{ url = \"{REDIS_OWN_DB}\", command = [\"GET\", \"{key}\"] }} }}"
    ));
    let record = run(&get, &context(&[])).await;
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("del");
    assert_eq!(record.error, None, "{record:?}");
    assert!(record.output.len() <= 64 * 1024, "{}", record.output.len());
    assert!(record.output.starts_with(&"x".repeat(60 * 1024)));
    assert!(
        record.output.ends_with(" more bytes not kept)\n"),
        "{}",
        &record.output[record.output.len() - 80..]
    );
}

#[test]
fn plan_records_exactly_what_each_kind_would_do() {
    let labels = context(&[("svc", "api")]);
    let cases = [
        (
            "{ run = [\"systemctl\", \"restart\", \"{{ incident.labels.svc }}\"] }",
            vec!["systemctl", "restart", "api"],
        ),
        (
            "{ http = { url = \"http://127.0.0.1:8000/{{ incident.labels.svc }}/pool/reset\" } }",
            vec!["http", "POST", "http://127.0.0.1:8000/api/pool/reset"],
        ),
        ("{ sleep = \"2s\" }", vec!["sleep", "2s"]),
        (
            "{ signal = { pidfile = \"/run/{{ incident.labels.svc }}.pid\" } }",
            vec!["signal", "HUP", "/run/api.pid"],
        ),
        (
            "{ cleanup = { glob = \"/var/log/{{ incident.labels.svc }}/*.log.*\", older_than = \"7d\", max_bytes = 1024 } }",
            vec![
                "cleanup",
                "delete",
                "/var/log/api/*.log.*",
                "older_than=7days",
                "max_bytes=1024",
            ],
        ),
        (
            "{ redis = { url = \"redis://:secret@127.0.0.1:6379/0\", command = [\"FLUSHDB\"] } }",
            vec!["redis", "redis://:***@127.0.0.1:6379/0", "FLUSHDB"],
        ),
        (
            "{ sql = { url = \"postgres://postgres@127.0.0.1/app\", statement = \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle'\" } }",
            vec![
                "sql",
                "postgres://postgres@127.0.0.1/app",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle'",
            ],
        ),
    ];
    for (text, command) in cases {
        let record = plan_step(&step(text), &labels, "rollback");
        assert_eq!(record.command, command, "{text}");
        assert_eq!(record.phase, "rollback");
        assert_eq!(record.exit_code, None);
        assert_eq!(record.error.as_deref(), Some("dry-run: not run"));
    }
    // A glob whose labels make it unsafe is shown as refused, and does not run.
    let unsafe_glob =
        step("{ cleanup = { glob = \"/var/{{ incident.labels.sub }}/*\", older_than = \"1d\" } }");
    let escape = context(&[("sub", "..")]);
    let record = plan_step(&unsafe_glob, &escape, "step");
    assert!(
        record
            .command
            .last()
            .is_some_and(|c| c.contains("must not contain `..`")),
        "{record:?}"
    );
}

/// Asserts an issue at the position of `at` in `text` containing `message`.
fn assert_issue(text: &str, at: &str, message: &str) {
    let offset = text.find(at).expect("needle in text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let found = common::config_issues(text);
    assert!(
        found
            .iter()
            .any(|i| i.starts_with(&format!("h.toml:{line}:{column}: ")) && i.contains(message)),
        "expected h.toml:{line}:{column} containing {message:?}, got {found:#?}"
    );
}

#[test]
fn step_config_errors_point_at_the_step() {
    let runbook = |steps: &str| format!("[[runbook]]\nname = \"r\"\nsteps = [\n  {steps}\n]\n");
    let two = runbook("{ run = [\"true\"] },\n  { run = [\"true\"], sleep = \"1s\" }");
    assert_issue(
        &two,
        "{ run = [\"true\"], sleep",
        "a step has several kinds (`run`, `sleep`)",
    );
    let none = runbook("{ timeout = \"1s\" }");
    assert_issue(
        &none,
        "{ timeout",
        "a step needs exactly one of `run`, `http`",
    );
    for glob in ["*", "/*", "/", ""] {
        let text = runbook(&format!(
            "{{ cleanup = {{ glob = \"{glob}\", older_than = \"1d\" }} }}"
        ));
        assert_issue(&text, &format!("\"{glob}\""), "cleanup glob");
    }
    let shell = runbook("{ sleep = \"1s\", shell = true }");
    assert_issue(&shell, "true }", "key `shell` only applies to `run` steps");
    let long_sleep = runbook("{ sleep = \"1m\" }");
    assert_issue(&long_sleep, "\"1m\"", "not shorter than the step timeout");
    let rollback = "[[runbook]]\nname = \"r\"\nsteps = []\nrollback = [ { redis = { url = \"redis://h/0\", command = [] } } ]\n";
    assert_issue(rollback, "{ url", "`command` must not be empty");
    let signal = runbook("{ signal = { pidfile = \"/run/x.pid\", signal = \"BOOM\" } }");
    assert_issue(&signal, "\"BOOM\"", "unknown variant `BOOM`");
}
