//! `homeostat report` against the real app: after a real incident and repair, the health,
//! performance and repairs reports say what happened, in Markdown, JSON and HTML (escaping is
//! unit-tested in `src/cli/report.rs`).

use crate::common;

use common::{Behaviour, TOKEN, Target, eventually, get_json, start_app};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn report(base: &str, args: &[&str]) -> String {
    let out = common::homeostat()
        .arg("report")
        .args(args)
        .args(["--server", base])
        .env("HOMEOSTAT_TOKEN", TOKEN)
        .output()
        .expect("run homeostat report");
    assert!(
        out.status.success(),
        "report {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_tell_the_story_of_an_incident_and_its_repair() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let proof = dir.path().join("repaired");
    let config = format!(
        "[[check]]\nname = \"web\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"100ms\"\nremedy = [\"restart-web\"]\n\n\
         [[runbook]]\nname = \"restart-web\"\nsteps = [ {{ run = [\"touch\", \"{}\"] }} ]\n",
        target.url(),
        proof.display()
    );
    let app = start_app(dir.path(), &config).await;
    let base = format!("http://{}", app.address);
    target.set(Behaviour::Error);
    eventually(WAIT, "the repair step ran", || async {
        proof.exists().then_some(())
    })
    .await;
    target.set(Behaviour::Healthy);
    eventually(
        WAIT,
        "the incident resolved and its repair verified",
        || async {
            let (_, incidents) = get_json(&app, "/api/v1/incidents?state=resolved").await;
            let (_, repairs) = get_json(&app, "/api/v1/repairs?state=succeeded").await;
            (incidents["total"] == 1 && repairs["total"] == 1).then_some(())
        },
    )
    .await;

    let repairs: Value =
        serde_json::from_str(&report(&base, &["repairs", "--format", "json"])).expect("json");
    assert_eq!(repairs["kind"], "repairs");
    let outcome = &repairs["sections"][0];
    assert_eq!(outcome["heading"], "By outcome");
    assert!(
        outcome["facts"]
            .as_array()
            .is_some_and(|f| f.iter().any(|p| p[0] == "succeeded" && p[1] == "1")),
        "{outcome}"
    );
    assert_eq!(repairs["sections"][1]["rows"][0][0], "restart-web");
    assert_eq!(repairs["sections"][2]["rows"][0][2], "succeeded");

    let health = report(&base, &["health", "--since", "1h"]);
    assert!(health.starts_with("# Homeostat health report"), "{health}");
    assert!(health.contains("- **Opened:** 1"), "{health}");
    assert!(health.contains("- **Resolved:** 1"), "{health}");
    assert!(health.contains("MTTR (mean)"), "{health}");
    assert!(health.contains("| web | http | ok |"), "{health}");

    let performance = report(&base, &["performance", "--format", "html"]);
    assert!(performance.starts_with("<!doctype html>"));
    assert!(
        performance.contains("<td>web</td><td>http</td>"),
        "{performance}"
    );
    assert!(
        performance.contains("<th scope=\"col\">p95</th>"),
        "{performance}"
    );

    let nothing: Value = serde_json::from_str(&report(
        &base,
        &["repairs", "--since", "1ms", "--format", "json"],
    ))
    .expect("json");
    assert_eq!(nothing["sections"][2]["rows"], serde_json::json!([]));
    app.shutdown().await;
}
