//! The demo's sample service: a small HTTP service that misbehaves on purpose. After a healthy
//! spell of 15–30 s it crashes, starts answering 500, or hangs, and stays broken until restarted.
//! It writes a log. `restart` replaces a running instance (by pidfile) with a fresh one.

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use rand::Rng;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const HEALTHY: u8 = 0;
const ERRORS: u8 = 1;
const HANGING: u8 = 2;

struct Sample {
    mode: AtomicU8,
    log: Mutex<std::fs::File>,
}

impl Sample {
    fn log(&self, level: &str, message: &str) {
        let mut file = self.log.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            file,
            "{} {level} sample-service: {message}",
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
    }
}

async fn health(State(sample): State<Arc<Sample>>) -> (StatusCode, &'static str) {
    match sample.mode.load(Ordering::SeqCst) {
        HEALTHY => (StatusCode::OK, "ok"),
        ERRORS => {
            sample.log(
                "ERROR",
                "could not connect to server: Connection refused (database pool exhausted)",
            );
            (StatusCode::INTERNAL_SERVER_ERROR, "database unavailable")
        }
        _ => {
            sample.log("WARN", "request stuck waiting for a lock");
            tokio::time::sleep(Duration::from_secs(60)).await;
            (StatusCode::GATEWAY_TIMEOUT, "stuck")
        }
    }
}

/// Runs the sample service in the foreground on `listen`, logging to `log`.
pub async fn serve(listen: SocketAddr, log: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let sample = Arc::new(Sample {
        mode: AtomicU8::new(HEALTHY),
        log: Mutex::new(file),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    sample.log(
        "INFO",
        &format!("listening on {listen} (pid {})", std::process::id()),
    );
    let chaos = Arc::clone(&sample);
    tokio::spawn(async move {
        let healthy_for = Duration::from_secs(rand::rng().random_range(15..=30));
        tokio::time::sleep(healthy_for).await;
        match rand::rng().random_range(0..3) {
            0 => {
                chaos.log(
                    "ERROR",
                    "thread 'main' panicked at 'out of memory': simulated crash",
                );
                std::process::exit(101);
            }
            1 => {
                chaos.log("ERROR", "too many connections: now answering 500");
                chaos.mode.store(ERRORS, Ordering::SeqCst);
            }
            _ => {
                chaos.log("WARN", "deadlock detected: requests now hang");
                chaos.mode.store(HANGING, Ordering::SeqCst);
            }
        }
    });
    let app = Router::new()
        .route("/health", get(health))
        .with_state(sample);
    axum::serve(listener, app).await.context("serving")
}

/// Stops the instance in `pidfile` (if any) and starts a fresh one in the background, in its
/// own process group; returns once it listens.
pub async fn restart(listen: SocketAddr, log: &Path, pidfile: &PathBuf) -> Result<()> {
    if let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        // SAFETY: sending SIGKILL to the pid our own previous restart wrote.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    let exe = std::env::current_exe().context("locating the homeostat binary")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // Wait for the old instance to let go of the port.
    while std::net::TcpListener::bind(listen).is_err() {
        if tokio::time::Instant::now() > deadline {
            bail!("{listen} is still in use");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let child = std::process::Command::new(exe)
        .args(["sample-service", "--listen", &listen.to_string(), "--log"])
        .arg(log)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting the sample service")?;
    std::fs::write(pidfile, child.id().to_string())
        .with_context(|| format!("writing {}", pidfile.display()))?;
    while tokio::net::TcpStream::connect(listen).await.is_err() {
        if tokio::time::Instant::now() > deadline {
            bail!("the sample service did not start listening on {listen}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("sample service restarted (pid {}) on {listen}", child.id());
    Ok(())
}
