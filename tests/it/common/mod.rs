//! Shared test helpers: a real HTTP target whose behaviour tests change, deadlines instead of
//! sleeps and a fresh PostgreSQL database per test (here); the API client (`api`); the real
//! daemon and its configs (`daemon`); config texts built from their varying parts (`config_text`).
#![allow(dead_code, unused_imports)] // Each test module uses a different subset.

pub mod api;
pub mod config_text;
pub mod daemon;

pub use api::{
    answer, base_url, client, delete, fetch_json, get_json, metrics_text, post_json, post_json_as,
    request, request_as, strings_of,
};
pub use config_text::Runbook;
pub use daemon::{
    BINARY, config, config_issues, homeostat, process_gone, sqlite_url, start_app, start_app_on,
    terminate, wait_gone,
};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
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
