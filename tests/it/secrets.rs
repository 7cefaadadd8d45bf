//! Secrets end to end with the real binary: a secret set from stdin is used by runbooks (one
//! echoes it, one fails printing it), and then the database files, the daemon's log, every API
//! response and the audit export are searched for the value: nothing. A wrong master key is a
//! clear error that changes nothing; key rotation keeps every secret; `audit verify` names a row
//! edited in the database file.

use crate::common;

use common::{TOKEN, eventually, free_port};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const VALUE: &str = "Tr0ub4dor-and-3-horses-ZQX";

fn homeostat(config: &Path) -> Command {
    let mut command = common::homeostat();
    command
        .arg("--config")
        .arg(config)
        .env_remove("HOMEOSTAT_MASTER_KEY");
    command
}

fn with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_secret_is_used_by_runbooks_and_found_nowhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("master.key");
    let proof = dir.path().join("proof.txt");
    let port = free_port();
    let config = dir.path().join("homeostat.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[store]
url = "sqlite://{db}"
[security]
master_key_file = "{key}"

[[runbook]]
name = "use-it"
steps = [ {{ run = ["sh", "-c", "printf %s \"$0\" > {proof}; echo connecting with password=$0 as $0", "{{{{ secrets.DB_PASSWORD }}}}"] }} ]

[[runbook]]
name = "dump-env"
steps = [ {{ run = ["env"] }} ]

[[runbook]]
name = "fail-with-it"
steps = [ {{ run = ["sh", "-c", "echo \"auth failed for $0\" >&2; exit 3", "{{{{ secrets.DB_PASSWORD }}}}"] }} ]
"#,
            db = dir.path().join("h.db").display(),
            key = key.display(),
            proof = proof.display(),
        ),
    )
    .expect("config");
    let init = homeostat(&config)
        .args(["secret", "init-key"])
        .arg(&key)
        .output()
        .expect("init-key");
    assert!(init.status.success(), "{}", text(&init));
    let mut set = homeostat(&config);
    set.args(["secret", "set", "DB_PASSWORD"]);
    let set = with_stdin(set, &format!("{VALUE}\n"));
    assert!(set.status.success(), "{}", text(&set));
    let list = homeostat(&config)
        .args(["secret", "list"])
        .output()
        .expect("list");
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "DB_PASSWORD");

    let log_path = dir.path().join("daemon.log");
    let mut daemon = homeostat(&config)
        .args(["run", "--log-format", "json"])
        .env("HOMEOSTAT_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("daemon");
    let base = format!("http://127.0.0.1:{port}");
    let c = common::client();
    eventually(Duration::from_secs(20), "the daemon answers", || {
        let c = c.clone();
        let base = base.clone();
        async move {
            c.get(format!("{base}/healthz"))
                .send()
                .await
                .ok()
                .map(|_| ())
        }
    })
    .await;
    let mut responses = String::new();
    let mut ids = Vec::new();
    for runbook in ["use-it", "fail-with-it"] {
        let r = c
            .post(format!("{base}/api/v1/error-monitoring/repair-task"))
            .bearer_auth(TOKEN)
            .json(&json!({ "runbook": runbook }))
            .send()
            .await
            .expect("repair-task")
            .text()
            .await
            .expect("text");
        let repair: Value = serde_json::from_str(&r).expect("json");
        ids.push(repair["id"].as_str().expect("id").to_string());
        responses.push_str(&r);
    }
    let (_, dump) = common::post_json_as(
        &format!("{base}/api/v1/error-monitoring/repair-task"),
        TOKEN,
        json!({ "runbook": "dump-env" }),
    )
    .await;
    let dump_id = dump["id"].as_str().expect("id").to_string();
    let env_output: String = eventually(Duration::from_secs(20), "env runs", || {
        let url = format!("{base}/api/v1/repairs/{dump_id}");
        async move {
            let r = common::fetch_json(&url).await?;
            (r["state"] == "succeeded").then(|| {
                r["steps"][0]["output"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        }
    })
    .await;
    assert!(env_output.contains("PATH="), "{env_output}");
    assert!(
        !env_output.contains("HOMEOSTAT_ADMIN_TOKEN")
            && !env_output.contains("HOMEOSTAT_MASTER_KEY"),
        "steps must not inherit the daemon's credentials: {env_output}"
    );
    for (id, want) in ids.iter().zip(["succeeded", "failed"]) {
        let repair: Value = eventually(Duration::from_secs(20), "the repair finishes", || {
            let url = format!("{base}/api/v1/repairs/{id}");
            async move {
                let r = common::fetch_json(&url).await?;
                (r["finished_at"].is_string()).then_some(r)
            }
        })
        .await;
        assert_eq!(repair["state"], want, "{repair}");
        let shown = repair.to_string();
        assert!(
            shown.contains("[REDACTED]"),
            "the value was in the output, replaced: {shown}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&proof).expect("proof"),
        VALUE,
        "the step received the real value"
    );
    for path in [
        "/api/v1/repairs",
        &format!("/api/v1/repairs/{}", ids[0]),
        &format!("/api/v1/repairs/{}", ids[1]),
        "/api/v1/error-monitoring/repair-history",
        "/api/v1/error-monitoring/status",
        "/api/v1/error-monitoring/metrics",
        "/api/v1/incidents",
        "/api/admin/audit?limit=10000",
        "/api/admin/audit?format=jsonl",
        "/api/v1/tokens",
        "/api/admin/users",
        "/metrics",
    ] {
        let body = c
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        responses.push_str(&body);
    }
    let status = common::terminate(&mut daemon, Duration::from_secs(15)).await;
    assert!(status.success());

    assert!(
        !responses.contains(VALUE),
        "an API response holds the secret"
    );
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.contains("repair"), "the log has the repairs: {log}");
    assert!(!log.contains(VALUE), "the daemon log holds the secret");
    let export = homeostat(&config)
        .args(["audit", "export"])
        .output()
        .expect("export");
    assert!(export.status.success());
    let export = String::from_utf8_lossy(&export.stdout).to_string();
    assert!(
        export.contains("secret.set") && export.contains("repair.finish"),
        "{export}"
    );
    assert!(!export.contains(VALUE), "the audit log holds the secret");
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("h.db"))
        {
            let bytes = std::fs::read(&path).expect("read db");
            assert!(
                !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
                "{} holds the secret",
                path.display()
            );
        }
    }

    // A wrong key: a clear error, and nothing changed.
    let wrong = homeostat(&config)
        .args(["secret", "list"])
        .env("HOMEOSTAT_MASTER_KEY", "11".repeat(32))
        .output()
        .expect("list");
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("does not match"), "{}", text(&wrong));
    let refused = homeostat(&config)
        .arg("run")
        .env("HOMEOSTAT_MASTER_KEY", "11".repeat(32))
        .output()
        .expect("run");
    assert!(!refused.status.success() && text(&refused).contains("does not match"));
    // Rotation keeps every secret; afterwards only the new key opens them.
    let new_key = dir.path().join("new.key");
    let rotated = homeostat(&config)
        .args(["secret", "rotate-key", "--new-key-file"])
        .arg(&new_key)
        .output()
        .expect("rotate");
    assert!(rotated.status.success(), "{}", text(&rotated));
    let new_hex = std::fs::read_to_string(&new_key).expect("new key");
    let listed = homeostat(&config)
        .args(["secret", "list"])
        .env("HOMEOSTAT_MASTER_KEY", new_hex.trim())
        .output()
        .expect("list");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "DB_PASSWORD"
    );
    let old = homeostat(&config)
        .args(["secret", "list"])
        .output()
        .expect("list");
    assert!(
        !old.status.success(),
        "the old key no longer opens the secrets"
    );

    // `audit verify` passes, then names a row edited directly in the file.
    let ok = homeostat(&config)
        .args(["audit", "verify"])
        .output()
        .expect("verify");
    assert!(ok.status.success(), "{}", text(&ok));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", dir.path().join("h.db").display()))
        .await
        .expect("open");
    sqlx::query("UPDATE audit SET actor = 'someone-else' WHERE id = 3")
        .execute(&pool)
        .await
        .expect("edit");
    pool.close().await;
    let broken = homeostat(&config)
        .args(["audit", "verify"])
        .output()
        .expect("verify");
    assert!(!broken.status.success());
    assert!(
        text(&broken).contains("audit entry 3 was modified"),
        "{}",
        text(&broken)
    );
}
