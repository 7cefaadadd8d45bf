//! A tiny HTTP target for Homeostat's benchmarks (`bench/*.sh`): `GET /health` answers `200 ok`.
//!
//! ```text
//! cargo run --release --example bench_target -- [ADDR] [--delay-ms N] [--status CODE]
//! ```
//!
//! - `ADDR`: where to listen (default `127.0.0.1:18080`; loopback only in the benchmarks).
//! - `--delay-ms N`: wait `N` ms before answering (slow mode).
//! - `--status CODE`: answer with `CODE` instead of 200 (e.g. 500 for failure mode).
//!
//! `GET /stats` returns the number of `/health` requests served so far. The server stops on
//! SIGINT or SIGTERM.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How `/health` answers.
struct Target {
    status: StatusCode,
    delay: Duration,
    served: AtomicU64,
}

fn usage() -> ! {
    eprintln!("usage: bench_target [ADDR] [--delay-ms N] [--status CODE]");
    std::process::exit(2)
}

/// Parses the command line into the listen address and the answer mode.
fn parse_args() -> (String, Target) {
    let mut address = "127.0.0.1:18080".to_string();
    let mut status = StatusCode::OK;
    let mut delay = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--delay-ms" => {
                let ms = args.next().and_then(|v| v.parse::<u64>().ok());
                delay = Duration::from_millis(ms.unwrap_or_else(|| usage()));
            }
            "--status" => {
                let code = args.next().and_then(|v| v.parse::<u16>().ok());
                status = code
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or_else(|| usage());
            }
            "-h" | "--help" => usage(),
            other if !other.starts_with('-') => address = other.to_string(),
            _ => usage(),
        }
    }
    let target = Target {
        status,
        delay,
        served: AtomicU64::new(0),
    };
    (address, target)
}

async fn health(State(target): State<Arc<Target>>) -> (StatusCode, &'static str) {
    target.served.fetch_add(1, Ordering::Relaxed);
    if !target.delay.is_zero() {
        tokio::time::sleep(target.delay).await;
    }
    let body = if target.status.is_success() {
        "ok"
    } else {
        "failing"
    };
    (target.status, body)
}

async fn stats(State(target): State<Arc<Target>>) -> String {
    format!("served {}\n", target.served.load(Ordering::Relaxed))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (address, target) = parse_args();
    let app = Router::new()
        .route("/health", get(health))
        .route("/stats", get(stats))
        .with_state(Arc::new(target));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("bench_target listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}
