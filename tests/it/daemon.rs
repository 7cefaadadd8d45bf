//! The real binary: `homeostat run` serves, `homeostat status` talks to it, JSON logs are JSON,
//! and SIGTERM shuts down gracefully with every pending observation written.

use crate::common;

use common::{TOKEN, Target, eventually, free_port, homeostat};
use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn sigterm_flushes_pending_observations_and_status_cli_reports() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let db = dir.path().join("h.db");
    let config = dir.path().join("homeostat.toml");
    // A flush interval far longer than the test: only the shutdown flush can write observations.
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nurl = \"sqlite://{}\"\nflush_interval = \"1h\"\n\n\
             [[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"100ms\"\n",
            db.display(),
            target.url()
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
    let mut child = homeostat()
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env("HOMEOSTAT_ADMIN_TOKEN", TOKEN)
        .stderr(log)
        .spawn()
        .expect("start daemon");
    let base = format!("http://127.0.0.1:{port}");
    let runs = eventually(
        Duration::from_secs(20),
        "daemon runs the check 10 times",
        || {
            let url = format!("{base}/api/v1/checks/api?limit=1");
            async move {
                let body = common::fetch_json(&url).await?;
                body["check"]["runs"].as_u64().filter(|&r| r >= 10)
            }
        },
    )
    .await;

    let status = homeostat()
        .args(["status", "--server", &base])
        .env("HOMEOSTAT_TOKEN", TOKEN)
        .output()
        .expect("status");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        stdout.contains("HEALTHY") && stdout.contains("api") && stdout.contains("HTTP 200"),
        "{stdout}"
    );
    let denied = homeostat()
        .args(["status", "--server", &base])
        .env_remove("HOMEOSTAT_TOKEN")
        .output()
        .expect("status");
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("HOMEOSTAT_TOKEN"));

    let exit = common::terminate(&mut child, Duration::from_secs(15)).await;
    assert!(exit.success(), "daemon exit status {exit:?}");

    let store = homeostat::store::Store::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("open db");
    let stored = store.count_observations(Some("api")).await.expect("count");
    assert!(
        stored >= i64::try_from(runs).unwrap_or(i64::MAX),
        "only {stored} of at least {runs} observations were written"
    );

    let log = std::fs::read_to_string(dir.path().join("daemon.log")).expect("log");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["message"].is_string(),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("\"stopped\"")), "{log}");
}

#[test]
fn run_with_a_bad_config_exits_1_and_names_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[[check]]\nname = \"a\"\ntype = \"tcp\"\n").expect("config");
    let out = homeostat()
        .arg("run")
        .env("HOMEOSTAT_CONFIG", &config)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:3:8: a check of type `tcp` needs",
            config.display()
        )),
        "{stderr}"
    );
}

#[test]
fn run_on_a_taken_port_fails_clearly() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("h.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\nurl = \"sqlite://{}/h.db\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let out = homeostat()
        .arg("run")
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
