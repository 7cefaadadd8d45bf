//! The real daemon: the binary's path, the app started in-process from a config text, parsing
//! (and refusing) configs, and ending processes with deadlines.

use super::{TOKEN, eventually};
use homeostat::api::Authenticator;
use homeostat::app::App;
use homeostat::config::{Config, ConfigError};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The path of the `homeostat` binary Cargo built for these tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_homeostat");

/// A command running the real `homeostat` binary.
pub fn homeostat() -> Command {
    Command::new(BINARY)
}

/// Parses a config written in a test.
pub fn config(text: &str) -> Config {
    Config::parse(text, Path::new("test.toml"))
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"))
}

/// The issues of an invalid config, as `h.toml:line:col: message`; fails the test when the
/// config is accepted or fails some other way.
pub fn config_issues(text: &str) -> Vec<String> {
    match Config::parse(text, Path::new("h.toml")) {
        Ok(_) => panic!("config accepted:\n{text}"),
        Err(ConfigError::Invalid { issues }) => issues.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// The URL of the SQLite store [`start_app`] keeps in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("homeostat.db").display())
}

/// Starts the real app with `config_text` (`[server]` and `[store]` are added: a free port and a
/// SQLite file in `dir`).
pub async fn start_app(dir: &Path, checks_toml: &str) -> App {
    start_app_on(&sqlite_url(dir), checks_toml).await
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

/// Whether process `pid` is gone, or a zombie waiting for its (also killed) parent's reaper.
pub fn process_gone(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.is_empty() || stat.contains(") Z ")
}

/// Waits up to `within` for process `pid` to be gone (see [`process_gone`]), failing the test
/// with `what`.
pub async fn wait_gone(pid: i32, within: Duration, what: &str) {
    eventually(
        within,
        what,
        || async move { process_gone(pid).then_some(()) },
    )
    .await;
}
