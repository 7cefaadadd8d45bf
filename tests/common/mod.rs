//! Shared test helpers: a real HTTP target whose behaviour tests change, deadlines instead of
//! sleeps, a fresh PostgreSQL database per test, and starting the real app.
#![allow(dead_code)] // Each test binary uses a different subset.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use homeostat::api::Authenticator;
use homeostat::app::App;
use homeostat::config::Config;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The admin token tests use.
pub const TOKEN: &str = "test-admin-token";

/// How the target answers `GET /health`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 "ok".
    Healthy,
    /// 500 "boom".
    Error,
    /// 200 "ok" after a delay (ms).
    Slow(u64),
}

fn encode(b: Behaviour) -> u64 {
    match b {
        Behaviour::Healthy => 0,
        Behaviour::Error => 1,
        Behaviour::Slow(ms) => 2 + ms,
    }
}

async fn health(State(mode): State<Arc<AtomicU64>>) -> (StatusCode, &'static str) {
    match mode.load(Ordering::SeqCst) {
        0 => (StatusCode::OK, "ok"),
        1 => (StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        n => {
            tokio::time::sleep(Duration::from_millis(n - 2)).await;
            (StatusCode::OK, "ok")
        }
    }
}

/// A real HTTP server on loopback that tests can make slow, fail or stop.
pub struct Target {
    /// Where it listens.
    pub address: SocketAddr,
    mode: Arc<AtomicU64>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Target {
    /// Starts a healthy target on a free port.
    pub async fn start() -> Target {
        Target::start_on("127.0.0.1:0".parse().expect("address")).await
    }

    /// Starts a healthy target on `address`.
    pub async fn start_on(address: SocketAddr) -> Target {
        let mode = Arc::new(AtomicU64::new(0));
        let listener = bind_retrying(address).await;
        let address = listener.local_addr().expect("local addr");
        let app = Router::new()
            .route("/health", get(health))
            .with_state(Arc::clone(&mode));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Target {
            address,
            mode,
            task: Some(task),
        }
    }

    /// URL of `/health`.
    pub fn url(&self) -> String {
        format!("http://{}/health", self.address)
    }

    /// Changes how it answers.
    pub fn set(&self, behaviour: Behaviour) {
        self.mode.store(encode(behaviour), Ordering::SeqCst);
    }

    /// Stops listening (connections are refused from now on).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

async fn bind_retrying(address: SocketAddr) -> tokio::net::TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::net::TcpListener::bind(address).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() > deadline => {
                panic!("cannot bind {address}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Polls `probe` until it returns `Some`, failing the test with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Parses a config written in a test.
pub fn config(text: &str) -> Config {
    Config::parse(text, Path::new("test.toml"))
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

/// Starts the real app with `config_text` (`[server]` and `[store]` are added: a free port and a
/// SQLite file in `dir`).
pub async fn start_app(dir: &Path, checks_toml: &str) -> App {
    start_app_on(
        &format!("sqlite://{}", dir.join("homeostat.db").display()),
        checks_toml,
    )
    .await
}

/// Starts the real app with its store at `store_url`.
pub async fn start_app_on(store_url: &str, checks_toml: &str) -> App {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{store_url}\"\nflush_interval = \"100ms\"\n{checks_toml}"
    );
    App::start(config(&text), Authenticator::new(Some(TOKEN.to_string())))
        .await
        .expect("app starts")
}

/// The PostgreSQL server tests use (`HOMEOSTAT_TEST_POSTGRES`, default the local one).
pub fn postgres_admin_url() -> String {
    std::env::var("HOMEOSTAT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// A fresh, empty PostgreSQL database for one test; fails the test when PostgreSQL is not running.
pub async fn fresh_postgres() -> String {
    use sqlx::Connection;
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be running for this test ({admin}): {e}"));
    drop_databases_of_finished_tests(&mut conn).await;
    let name = format!("homeostat_test_{}_{}", std::process::id(), rand_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    format!("{base}/{name}")
}

/// Drops test databases whose test process (the pid in the name) is gone.
async fn drop_databases_of_finished_tests(conn: &mut sqlx::PgConnection) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'homeostat_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let pid = name
            .trim_start_matches("homeostat_test_")
            .split('_')
            .next()
            .unwrap_or_default();
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos * 1000 + COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// A reqwest client for the API.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// GET `url` with the admin token, as JSON; `None` while the request or the body fails (for
/// polling a daemon that may not be up yet).
pub async fn fetch_json(url: &str) -> Option<serde_json::Value> {
    client()
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// GET `path` on the app with the admin token; returns status and JSON body.
pub async fn get_json(app: &App, path: &str) -> (u16, serde_json::Value) {
    let response = client()
        .get(format!("http://{}{path}", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// The app's `/metrics` text (no token: public by default).
pub async fn metrics_text(app: &App) -> String {
    client()
        .get(format!("http://{}/metrics", app.address))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text")
}

/// Sends SIGTERM to `child` and waits (with a deadline) for it to exit.
pub async fn terminate(
    child: &mut std::process::Child,
    within: Duration,
) -> std::process::ExitStatus {
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: signalling a child process this test started.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    eventually(within, "the process exits", || {
        let status = child.try_wait().expect("wait");
        async move { status }
    })
    .await
}
