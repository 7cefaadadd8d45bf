//! Remediation against real processes and files: a killed service is restarted and its incident
//! resolved; and every safety guard is tested with a repair that would do harm without it.

use crate::common;

use common::config_text::{path, strings};
use common::{Runbook, eventually, get_json, post_json, start_app, wait_gone};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// A check `svc` (label `service = "svc-one"`) that is healthy while `DIR/healthy` exists,
/// repaired by the runbooks `remedy`.
fn flag_check(dir: &Path, remedy: &[&str]) -> String {
    format!(
        "[[check]]\nname = \"svc\"\ntype = \"command\"\ncommand = [\"sh\", \"-c\", \"test -f {dir}/healthy || exit 2\"]\n\
         interval = \"100ms\"\nremedy = {remedy}\nlabels = {{ service = \"svc-one\" }}\n",
        dir = dir.display(),
        remedy = strings(remedy)
    )
}

/// A check named `name`, healthy while `DIR/healthy_<name>` exists, polled every 100 ms.
fn named_flag_check(dir: &Path, name: &str, remedy: &[&str]) -> String {
    format!(
        "[[check]]\nname = \"{name}\"\ntype = \"command\"\ncommand = [\"sh\", \"-c\", \"test -f {dir}/healthy_{name} || exit 2\"]\n\
         interval = \"100ms\"\nremedy = {remedy}\n",
        dir = dir.display(),
        remedy = strings(remedy)
    )
}

/// The check `svc` of [`flag_check`] repaired by `runbooks`, in that order.
fn flag_check_with(dir: &Path, runbooks: &[Runbook]) -> String {
    let names: Vec<&str> = runbooks.iter().map(Runbook::name).collect();
    let mut text = flag_check(dir, &names);
    for runbook in runbooks {
        text.push_str(&runbook.to_string());
    }
    text
}

async fn repairs(app: &homeostat::app::App) -> Vec<Value> {
    let (_, body) = get_json(app, "/api/v1/repairs").await;
    body["repairs"].as_array().cloned().unwrap_or_default()
}

/// A runbook `gated` that touches `marker` once approved, waiting `approval_timeout` for it.
fn gated(marker: &Path, approval_timeout: &str) -> Runbook {
    Runbook::new("gated")
        .run(&["touch", path(marker)])
        .set("approval", "required")
        .set("approval_timeout", approval_timeout)
}

/// Waits for the first repair that `matches` accepts, failing the test with `what`.
async fn wait_for_repair(
    app: &homeostat::app::App,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    eventually(WAIT, what, || async {
        repairs(app).await.into_iter().find(|r| matches(r))
    })
    .await
}

async fn first_incident(app: &homeostat::app::App) -> Value {
    eventually(WAIT, "an incident", || async {
        let (_, body) = get_json(app, "/api/v1/incidents").await;
        body["incidents"]
            .as_array()
            .and_then(|a| a.first().cloned())
    })
    .await
}

async fn incident_state(app: &homeostat::app::App, id: &str) -> String {
    let (_, body) = get_json(app, &format!("/api/v1/incidents/{id}")).await;
    body["state"].as_str().unwrap_or_default().to_string()
}

/// Waits until incident `id` is in `state`, failing the test with `what`.
async fn wait_for_incident_state(app: &homeostat::app::App, id: &str, state: &str, what: &str) {
    eventually(WAIT, what, || async {
        (incident_state(app, id).await == state).then_some(())
    })
    .await;
}

/// Whether `repair`'s error message contains `text`.
fn error_mentions(repair: &Value, text: &str) -> bool {
    repair["error"].as_str().is_some_and(|e| e.contains(text))
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[tokio::test]
async fn killed_service_is_restarted_and_incident_resolved() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let pidfile = dir.path().join("svc.pid");
    let start = format!(
        "python3 -m http.server {port} --bind 127.0.0.1 --directory {d} >/dev/null 2>&1 & echo $! > {p}",
        d = dir.path().display(),
        p = pidfile.display()
    );
    let started = std::process::Command::new("sh")
        .args(["-c", &start])
        .status()
        .expect("start service");
    assert!(started.success());
    let config = format!(
        "[[check]]\nname = \"web\"\ntype = \"http\"\nurl = \"http://127.0.0.1:{port}/\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n\
         remedy = [\"restart-web\"]\nlabels = {{ port = \"{port}\" }}\n\n\
         [[runbook]]\nname = \"restart-web\"\n\
         steps = [ {{ run = [\"sh\", \"-c\", \"python3 -m http.server $PORT --bind 127.0.0.1 --directory {d} >/dev/null 2>&1 & echo $! > {p}\"], env = {{ PORT = \"{port}\" }} }},\n\
                   {{ run = [\"echo\", \"restarted {{{{ check.name }}}} on {{{{ incident.labels.port }}}}\"] }} ]\n\
         verify = {{ check = \"web\", within = \"30s\" }}\n",
        d = dir.path().display(),
        p = pidfile.display()
    );
    let app = start_app(dir.path(), &config).await;
    eventually(WAIT, "web ok", || async {
        let (_, body) = get_json(&app, "/api/v1/checks/web?limit=1").await;
        (body["check"]["status"] == "ok").then_some(())
    })
    .await;

    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: killing the service this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let repair = wait_for_repair(&app, "repair verified", |r| r["state"] == "succeeded").await;
    let id = repair["incident_id"]
        .as_str()
        .expect("incident id")
        .to_string();
    wait_for_incident_state(&app, &id, "resolved", "incident resolved").await;
    // On a loaded machine a check may time out before the kill; the repair that follows must
    // then find the service healthy on re-check and do nothing. No repair may fail.
    for other in repairs(&app).await {
        if other["id"] != repair["id"] {
            assert_eq!(other["state"], "cancelled", "{other}");
            assert!(error_mentions(&other, "healthy on re-check"), "{other}");
        }
    }
    assert_eq!(repair["dry_run"], false);
    assert_eq!(
        repair["steps"][1]["command"],
        json!(["echo", format!("restarted web on {port}")])
    );
    assert_eq!(
        repair["steps"][1]["output"],
        format!("restarted web on {port}\n")
    );
    let (_, detail) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
    let kinds = common::strings_of(&detail["timeline"], "kind");
    assert!(
        kinds.contains(&"remediating") && kinds.contains(&"resolved"),
        "{kinds:?}"
    );
    let text = common::metrics_text(&app).await;
    assert!(
        text.contains("homeostat_repairs_total{runbook=\"restart-web\",outcome=\"succeeded\"} 1"),
        "{text}"
    );
    app.shutdown().await;
    if let Ok(pid) = std::fs::read_to_string(&pidfile)
        .unwrap_or_default()
        .trim()
        .parse::<i32>()
    {
        // SAFETY: stopping the restarted service.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[tokio::test]
async fn dry_run_records_the_exact_argv_and_never_runs_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let fix = Runbook::new("fix").run(&["touch", path(&marker), "{{ incident.labels.service }}"]);
    let config = format!(
        "[policy]\nmode = \"dry-run\"\n{}",
        flag_check_with(dir.path(), &[fix])
    );
    let app = start_app(dir.path(), &config).await;
    first_incident(&app).await;
    let repair = wait_for_repair(&app, "a planned repair", |r| r["state"] != "queued").await;
    assert_eq!(repair["dry_run"], true, "{repair}");
    assert_eq!(repair["state"], "cancelled");
    assert_eq!(
        repair["steps"][0]["command"],
        json!(["touch", marker.display().to_string(), "svc-one"])
    );
    assert_eq!(repair["steps"][0]["exit_code"], Value::Null);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!marker.exists(), "dry-run ran the command");
    app.shutdown().await;
}

#[tokio::test]
async fn observe_mode_opens_incidents_and_plans_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let fix = Runbook::new("fix").run(&["touch", path(&marker)]);
    let config = format!(
        "[policy]\nmode = \"observe\"\n{}",
        flag_check_with(dir.path(), &[fix])
    );
    let app = start_app(dir.path(), &config).await;
    first_incident(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(repairs(&app).await.is_empty());
    assert!(!marker.exists(), "observe mode ran the command");
    app.shutdown().await;
}

#[tokio::test]
async fn an_unfixable_service_exhausts_its_budget_then_the_breaker_stops_repairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = dir.path().join("restarts");
    let restart = Runbook::new("restart")
        .shell(&format!("echo restart >> {}", counter.display()))
        .verify("svc", "300ms")
        .set("max_attempts", 2)
        .set("window", "1h")
        .set("cooldown", "1h");
    let config = flag_check_with(dir.path(), &[restart]);
    let app = start_app(dir.path(), &config).await;
    let incident = first_incident(&app).await;
    let id = incident["id"].as_str().expect("id").to_string();
    wait_for_incident_state(
        &app,
        &id,
        "escalated",
        "escalated after the first failed repair",
    )
    .await;
    assert_eq!(lines(&counter), 1);
    // A human asks again: the second attempt is within budget and fails too.
    let (status, _) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"incident_id": id}),
    )
    .await;
    assert_eq!(status, 202);
    eventually(WAIT, "second attempt done", || async {
        (lines(&counter) == 2 && incident_state(&app, &id).await == "escalated").then_some(())
    })
    .await;
    eventually(WAIT, "second repair final", || async {
        let r = repairs(&app).await;
        (r.len() == 2 && r.iter().all(|r| r["state"] == "failed")).then_some(())
    })
    .await;
    // The third would exceed max_attempts: the breaker opens and nothing runs.
    let (status, _) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"incident_id": id}),
    )
    .await;
    assert_eq!(status, 202);
    let refused = eventually(WAIT, "refused repair recorded", || async {
        repairs(&app)
            .await
            .into_iter()
            .find(|r| error_mentions(r, "budget exhausted"))
    })
    .await;
    assert_eq!(refused["state"], "cancelled");
    let (_, breakers) = get_json(&app, "/api/v1/breakers").await;
    assert_eq!(breakers["breakers"][0]["target"], "svc", "{breakers}");
    assert_eq!(breakers["breakers"][0]["runbook"], "restart");
    // Still refused while the breaker is open.
    post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"incident_id": id}),
    )
    .await;
    eventually(WAIT, "breaker refusal", || async {
        repairs(&app)
            .await
            .into_iter()
            .find(|r| error_mentions(r, "breaker open"))
    })
    .await;
    // Naming the runbook and target by hand does not get around the breaker either.
    let (status, body) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"runbook": "restart", "target": "svc"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "cancelled", "{body}");
    assert!(error_mentions(&body, "breaker open"), "{body}");
    // Nor does leaving the target out: the one check the runbook repairs is the target.
    let (status, body) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"runbook": "restart"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["state"].as_str(), body["target"].as_str()),
        (Some("cancelled"), Some("svc")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(lines(&counter), 2, "the breaker let a restart through");
    let text = common::metrics_text(&app).await;
    assert!(
        text.contains("homeostat_repairs_total{runbook=\"restart\",outcome=\"cancelled\"}"),
        "{text}"
    );
    let (status, _) = post_json(
        &app,
        "/api/v1/breakers/reset",
        json!({"target": "svc", "runbook": "restart"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, breakers) = get_json(&app, "/api/v1/breakers").await;
    assert_eq!(breakers["breakers"], json!([]));
    // After the reset the earlier attempts no longer count: a repair runs again.
    post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"incident_id": id}),
    )
    .await;
    eventually(WAIT, "a repair after the reset", || async {
        (lines(&counter) == 3).then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn rollback_runs_when_verify_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let upgrade = Runbook::new("upgrade")
        .run(&["touch", path(&dir.path().join("step"))])
        .rollback(&["touch", path(&dir.path().join("rolled-back"))])
        .verify("svc", "300ms");
    let config = flag_check_with(dir.path(), &[upgrade]);
    let app = start_app(dir.path(), &config).await;
    let repair = wait_for_repair(&app, "repair rolled back", |r| r["state"] == "rolled_back").await;
    assert!(dir.path().join("step").exists() && dir.path().join("rolled-back").exists());
    let phases = common::strings_of(&repair["steps"], "phase");
    assert_eq!(phases, ["step", "rollback"]);
    assert!(error_mentions(&repair, "verify failed"), "{repair}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_healthy_target_is_never_repaired() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("healthy"), "").expect("flag");
    let marker = dir.path().join("restarted");
    let restart = Runbook::new("restart").run(&["touch", path(&marker)]);
    let config = flag_check_with(dir.path(), &[restart]);
    let app = start_app(dir.path(), &config).await;
    // A late or flapping alert asks to restart a service that is fine.
    let (status, body) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"runbook": "restart", "target": "svc"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let repair = wait_for_repair(&app, "repair finished", |r| {
        r["state"] != "queued" && r["state"] != "running"
    })
    .await;
    assert_eq!(repair["state"], "cancelled", "{repair}");
    assert!(error_mentions(&repair, "healthy on re-check"), "{repair}");
    assert!(!marker.exists(), "a healthy target was restarted");
    app.shutdown().await;
}

#[tokio::test]
async fn approval_waits_for_a_human_and_exactly_one_concurrent_decision_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let risky = Runbook::new("risky")
        .run(&["touch", path(&marker), path(&dir.path().join("healthy"))])
        .set("risk", "high")
        .set("approval_timeout", "1h");
    let config = flag_check_with(dir.path(), &[risky]);
    let app = start_app(dir.path(), &config).await;
    let waiting = wait_for_repair(&app, "repair awaiting approval", |r| {
        r["state"] == "awaiting_approval"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!marker.exists(), "a high-risk repair ran without approval");
    let id = waiting["id"].as_str().expect("id").to_string();
    let (approve_path, deny_path) = (
        format!("/api/v1/repairs/{id}/approve"),
        format!("/api/v1/repairs/{id}/deny"),
    );
    let (a, b) = tokio::join!(
        post_json(&app, &approve_path, json!({"note": "go"})),
        post_json(&app, &deny_path, json!({}))
    );
    let mut codes = [a.0, b.0];
    codes.sort_unstable();
    assert_eq!(codes, [200, 409], "{a:?} {b:?}");
    let final_state = eventually(WAIT, "decision carried out", || async {
        let (_, r) = get_json(&app, &format!("/api/v1/repairs/{id}")).await;
        r["state"]
            .as_str()
            .filter(|s| ["succeeded", "denied", "failed", "rolled_back"].contains(s))
            .map(str::to_string)
    })
    .await;
    if a.0 == 200 {
        assert!(
            marker.exists(),
            "approved repair did not run (state {final_state})"
        );
    } else {
        assert_eq!(final_state, "denied");
        assert!(!marker.exists(), "denied repair ran");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn approval_timeout_denies_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let config = flag_check_with(dir.path(), &[gated(&marker, "300ms")]);
    let app = start_app(dir.path(), &config).await;
    let denied =
        wait_for_repair(&app, "repair denied by timeout", |r| r["state"] == "denied").await;
    assert!(error_mentions(&denied, "timed out"), "{denied}");
    assert!(!marker.exists());
    let incident = first_incident(&app).await;
    eventually(WAIT, "escalated", || async {
        (incident_state(&app, incident["id"].as_str().unwrap_or_default()).await == "escalated")
            .then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_repair_approved_after_a_restart_into_observe_mode_does_not_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let config = flag_check_with(dir.path(), &[gated(&marker, "1h")]);
    let app = start_app(dir.path(), &config).await;
    let waiting = wait_for_repair(&app, "a repair awaits approval", |r| {
        r["state"] == "awaiting_approval"
    })
    .await;
    let id = waiting["id"].as_str().expect("id").to_string();
    app.shutdown().await;
    // The operator switches the daemon to observe, then someone approves the old request.
    let app = start_app(
        dir.path(),
        &format!("[policy]\nmode = \"observe\"\n{config}"),
    )
    .await;
    // The restarted daemon may end the waiting repair before the approval arrives (409, it is no
    // longer awaiting approval) or after it (200). And when the first daemon stopped in the middle
    // of its approval poll, the stop already marked the repair `interrupted` (409 too).
    let (status, body) = post_json(&app, &format!("/api/v1/repairs/{id}/approve"), json!({})).await;
    assert!(status == 200 || status == 409, "{status} {body}");
    let done = eventually(WAIT, "the approved repair is ended", || async {
        repairs(&app).await.into_iter().find(|r| {
            r["id"] == id.as_str() && (r["state"] == "cancelled" || r["state"] == "interrupted")
        })
    })
    .await;
    if done["state"] == "cancelled" {
        // It was still waiting (or approved) when the restarted daemon looked: observe ended it.
        assert!(error_mentions(&done, "observe"), "{done}");
    }
    assert!(
        repairs(&app)
            .await
            .iter()
            .all(|r| r["state"] == "cancelled" || r["state"] == "interrupted"),
        "observe mode starts no repair"
    );
    assert!(
        !marker.exists(),
        "observe mode must run nothing, approved or not"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn emergency_stop_kills_a_running_step_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("step.pid");
    let marker = dir.path().join("second");
    let script = format!("echo $$ > {}; exec sleep 60", pidfile.display());
    let slow = Runbook::new("slow")
        .run_with(&["sh", "-c", &script], "timeout = \"2m\"")
        .run(&["touch", path(&marker)]);
    let config = flag_check_with(dir.path(), &[slow]);
    let app = start_app(dir.path(), &config).await;
    let pid: i32 = eventually(WAIT, "step running", || async {
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|t| t.trim().parse().ok())
    })
    .await;
    // The step would sleep for a minute (its timeout is two): ended within seconds, it was
    // killed by the stop. (A tighter bound would time the store write and the HTTP round trip
    // of a slow CI machine more than the kill.)
    let stopped_at = std::time::Instant::now();
    let (status, body) =
        post_json(&app, "/api/v1/error-monitoring/emergency-stop", json!({})).await;
    assert_eq!(
        (status, body["emergency_stop"].as_bool()),
        (200, Some(true))
    );
    wait_gone(pid, Duration::from_secs(10), "step killed within 10 s").await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(10),
        "{:?}",
        stopped_at.elapsed()
    );
    let repair = wait_for_repair(&app, "repair cancelled", |r| r["state"] == "cancelled").await;
    assert!(error_mentions(&repair, "emergency stop"), "{repair}");
    assert!(!marker.exists(), "the step after the emergency stop ran");
    let (_, status) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(status["emergency_stop"], true);
    app.shutdown().await;

    // After a restart the stop still holds: a new incident gets no repair.
    std::fs::remove_file(&pidfile).expect("rm pidfile");
    let app = start_app(dir.path(), &config).await;
    let (_, status) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(
        status["emergency_stop"], true,
        "the emergency stop did not survive the restart"
    );
    let (code, body) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"runbook": "slow", "target": "svc"}),
    )
    .await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("emergency_stop")),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !pidfile.exists(),
        "a repair started during the emergency stop"
    );
    let (status, _) = post_json(&app, "/api/v1/error-monitoring/resume", json!({})).await;
    assert_eq!(status, 200);
    let (_, status) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(status["emergency_stop"], false);
    app.shutdown().await;
}

#[tokio::test]
async fn learning_tries_the_runbook_that_worked_first_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let healthy = dir.path().join("healthy");
    let useless = Runbook::new("useless")
        .run(&["true"])
        .verify("svc", "300ms");
    let fix = Runbook::new("fix")
        .run(&["touch", path(&healthy)])
        .verify("svc", "30s");
    let config = flag_check_with(dir.path(), &[useless, fix]);
    let app = start_app(dir.path(), &config).await;
    let incident = first_incident(&app).await;
    let id = incident["id"].as_str().expect("id").to_string();
    wait_for_incident_state(&app, &id, "resolved", "first incident repaired").await;
    let first: Vec<String> = repairs(&app)
        .await
        .iter()
        .rev()
        .filter_map(|r| r["runbook"].as_str().map(str::to_string))
        .collect();
    assert_eq!(first, ["useless", "fix"], "config order without history");

    // It breaks again: now the runbook that worked goes first.
    std::fs::remove_file(&healthy).expect("break it again");
    eventually(WAIT, "second repair succeeded", || async {
        (repairs(&app)
            .await
            .iter()
            .filter(|r| r["state"] == "succeeded")
            .count()
            == 2)
            .then_some(())
    })
    .await;
    let all = repairs(&app).await;
    assert_eq!(all.len(), 3, "the useless runbook was tried again: {all:?}");
    assert_eq!(all[0]["runbook"], "fix");
    let (_, detail) = get_json(
        &app,
        &format!(
            "/api/v1/incidents/{}",
            all[0]["incident_id"].as_str().unwrap_or_default()
        ),
    )
    .await;
    assert_eq!(detail["suggestions"][0]["runbook"], "fix", "{detail}");
    assert!(
        detail["suggestions"][0]["why"]
            .as_str()
            .is_some_and(|w| w.starts_with("fix: 2/2 succeeded, median")),
        "{detail}"
    );
    assert_eq!(detail["suggestions"][1]["why"], "useless: 0/1 succeeded");
    assert!(detail["repairs"].as_array().is_some_and(|r| !r.is_empty()));
    app.shutdown().await;
}

#[tokio::test]
async fn an_emergency_stop_on_one_instance_stops_the_others_sharing_postgres() {
    let url = common::fresh_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("healthy"), "").expect("flag");
    let config = flag_check_with(dir.path(), &[Runbook::new("fix").run(&["true"])]);
    let a = common::start_app_on(&url, &config).await;
    let b = common::start_app_on(&url, &config).await;
    let (status, _) = post_json(&a, "/api/v1/error-monitoring/emergency-stop", json!({})).await;
    assert_eq!(status, 200);
    eventually(
        Duration::from_secs(20),
        "the other instance follows the stop",
        || async {
            let (_, status) = get_json(&b, "/api/v1/error-monitoring/status").await;
            (status["emergency_stop"] == true).then_some(())
        },
    )
    .await;
    let (code, _) = post_json(
        &b,
        "/api/v1/error-monitoring/repair-task",
        json!({"runbook": "fix", "target": "svc"}),
    )
    .await;
    assert_eq!(code, 409, "the other instance still starts repairs");
    let (status, _) = post_json(&b, "/api/v1/error-monitoring/resume", json!({})).await;
    assert_eq!(status, 200);
    eventually(
        Duration::from_secs(20),
        "the first instance follows the resume",
        || async {
            let (_, status) = get_json(&a, "/api/v1/error-monitoring/status").await;
            (status["emergency_stop"] == false).then_some(())
        },
    )
    .await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_runbook_can_be_stricter_than_the_global_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("ran");
    let fix = Runbook::new("fix")
        .set("mode", "dry-run")
        .run(&["touch", path(&marker)]);
    let config = flag_check_with(dir.path(), &[fix]);
    let app = start_app(dir.path(), &config).await;
    let repair = wait_for_repair(&app, "a planned repair", |r| r["state"] != "queued").await;
    assert_eq!(
        (repair["dry_run"].as_bool(), repair["state"].as_str()),
        (Some(true), Some("cancelled")),
        "{repair}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !marker.exists(),
        "a dry-run runbook ran under a global enforce mode"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_approver_sees_the_exact_plan_and_repairs_filter_by_runbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = common::sqlite_url(dir.path());
    plan_and_runbook_filter(dir.path(), &store).await;
}

#[tokio::test]
async fn an_approver_sees_the_exact_plan_and_repairs_filter_by_runbook_on_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    plan_and_runbook_filter(dir.path(), &common::fresh_postgres().await).await;
}

async fn plan_and_runbook_filter(dir: &Path, store: &str) {
    let risky = Runbook::new("risky")
        .run(&["echo", "restart {{ incident.labels.service }}"])
        .set_toml("rollback", "[ { sleep = \"1s\" } ]")
        .set("risk", "high")
        .set("required_role", "admin")
        .set("approval_timeout", "1h");
    let config = flag_check_with(dir, &[risky]);
    let app = common::start_app_on(store, &config).await;
    let waiting = wait_for_repair(&app, "repair awaiting approval", |r| {
        r["state"] == "awaiting_approval"
    })
    .await;
    let id = waiting["id"].as_str().expect("id");
    let (status, plan) = get_json(&app, &format!("/api/v1/repairs/{id}/plan")).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["repair_id"], id);
    assert_eq!(plan["runbook"], "risky");
    assert_eq!(plan["risk"], "high");
    assert_eq!(plan["approval"], "none");
    assert_eq!(plan["required_role"], "admin");
    assert_eq!(plan["approval_timeout_seconds"], 3600.0);
    assert_eq!(plan["on_timeout"], "deny");
    assert_eq!(plan["steps"][0]["phase"], "step");
    assert_eq!(
        plan["steps"][0]["command"],
        json!(["echo", "restart svc-one"]),
        "templates are filled in: {plan}"
    );
    assert_eq!(plan["steps"][1]["phase"], "rollback");
    assert_eq!(plan["steps"][1]["command"], json!(["sleep", "1s"]));
    let (status, _) = get_json(&app, "/api/v1/repairs/999999/plan").await;
    assert_eq!(status, 404);

    let (_, by_runbook) = get_json(&app, "/api/v1/repairs?runbook=risky").await;
    assert!(
        by_runbook["total"].as_i64().is_some_and(|n| n >= 1),
        "{by_runbook}"
    );
    assert!(
        by_runbook["repairs"]
            .as_array()
            .is_some_and(|a| a.iter().all(|r| r["runbook"] == "risky")),
        "{by_runbook}"
    );
    let (_, other) = get_json(&app, "/api/v1/repairs?runbook=nope").await;
    assert_eq!(other["total"], 0, "{other}");
    assert_eq!(other["repairs"], json!([]));
    let (_, both) = get_json(&app, "/api/v1/repairs?runbook=risky&state=succeeded").await;
    assert_eq!(both["total"], 0, "{both}");

    let (status, _) = post_json(
        &app,
        &format!("/api/v1/repairs/{id}/approve"),
        json!({"note": "looked fine"}),
    )
    .await;
    assert_eq!(status, 200);
    let incident = waiting["incident_id"].as_str().expect("incident id");
    let (_, detail) = get_json(&app, &format!("/api/v1/incidents/{incident}")).await;
    let approval = detail["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["kind"] == "approved").cloned())
        .unwrap_or_else(|| panic!("no approval in the timeline: {detail}"));
    assert_eq!(approval["actor"], "bootstrap-admin");
    assert_eq!(
        approval["message"],
        format!("repair {id} (risky): approved by bootstrap-admin: looked fine")
    );
    app.shutdown().await;
}

/// `n` checks `s0 .. s{n-1}`, each healthy while `DIR/healthy_<name>` exists, all repaired by
/// runbook `fix`, whose one step logs `start`/`end` around a pause (so overlapping repairs show),
/// records the check it repaired in `DIR/ran`, and makes it healthy.
fn fleet(dir: &Path, n: usize, extra_policy: &str) -> String {
    let d = dir.display();
    let mut toml = format!("[policy]\n{extra_policy}\n");
    for i in 0..n {
        toml.push_str(&format!(
            "[[check]]\nname = \"s{i}\"\ntype = \"command\"\ncommand = [\"sh\", \"-c\", \"test -f {d}/healthy_s{i} || exit 2\"]\n\
             interval = \"100ms\"\nremedy = [\"fix\"]\n"
        ));
    }
    toml.push_str(&format!(
        "[[runbook]]\nname = \"fix\"\npriority = 2\nmax_attempts = 5\n\
         steps = [ {{ run = [\"sh\", \"-c\", \"echo start >> {d}/log; sleep 0.4; echo end >> {d}/log; echo $1 >> {d}/ran; touch {d}/healthy_$1\", \"sh\", \"{{{{ check.name }}}}\"] }} ]\n"
    ));
    toml
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn two_instances_sharing_postgres_hold_max_concurrent_repairs_and_repair_each_incident_once()
{
    let url = common::fresh_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fleet(dir.path(), 4, "max_concurrent_repairs = 1");
    let a = common::start_app_on(&url, &config).await;
    let b = common::start_app_on(&url, &config).await;
    eventually(Duration::from_secs(30), "every target repaired", || async {
        let ran = read_lines(&dir.path().join("ran"));
        (ran.len() >= 4).then_some(())
    })
    .await;
    eventually(WAIT, "every incident resolved", || async {
        let (_, body) = get_json(&b, "/api/v1/incidents?limit=10").await;
        let incidents = body["incidents"].as_array()?.clone();
        (incidents.len() == 4 && incidents.iter().all(|i| i["state"] == "resolved")).then_some(())
    })
    .await;
    let log = read_lines(&dir.path().join("log"));
    for pair in log.chunks(2) {
        assert_eq!(pair, ["start", "end"], "two repairs ran at once: {log:?}");
    }
    let mut ran = read_lines(&dir.path().join("ran"));
    ran.sort();
    assert_eq!(ran, ["s0", "s1", "s2", "s3"], "a target was repaired twice");
    let jobs = homeostat::queue::JobQueue::new(a.state.store.clone())
        .list(None, 100)
        .await
        .expect("jobs");
    assert!(
        jobs.iter().all(|j| j.queue == "repairs" && j.priority == 2),
        "{jobs:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn manual_and_incident_repairs_of_one_target_never_overlap_across_instances_sharing_postgres()
{
    let url = common::fresh_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    // The repair logs `start`/`end` around a pause, so two repairs of `svc` at once would show.
    let fix = Runbook::new("fix").set("max_attempts", 5).shell(&format!(
        "echo start >> {d}/log; touch {d}/started; sleep 6; echo end >> {d}/log; touch {d}/healthy"
    ));
    let config = flag_check_with(dir.path(), &[fix]);
    let a = common::start_app_on(&url, &config).await;
    let b = common::start_app_on(&url, &config).await;
    let log = dir.path().join("log");
    // The incident's repair runs on one of the two instances.
    eventually(WAIT, "incident repair running", || async {
        dir.path().join("started").exists().then_some(())
    })
    .await;
    // Meanwhile a person asks each instance to run the same runbook on the same target: the
    // instance running the incident repair knows it by itself; the other one only through the
    // store.
    let manual = json!({"runbook": "fix", "target": "svc"});
    let path = "/api/v1/error-monitoring/repair-task";
    let ((status_a, body_a), (status_b, body_b)) = tokio::join!(
        post_json(&a, path, manual.clone()),
        post_json(&b, path, manual)
    );
    let incident_repair_over = read_lines(&log).contains(&"end".to_string());
    for (status, body) in [(status_a, &body_a), (status_b, &body_b)] {
        assert_eq!(status, 202, "{body}");
        // Admitted only if the incident repair was over by the time it was decided.
        if !incident_repair_over {
            assert_eq!(body["state"], "cancelled", "{body}");
            assert_eq!(
                body["error"], "another repair of `svc` is in progress",
                "{body}"
            );
        }
    }
    eventually(Duration::from_secs(30), "incident resolved", || async {
        let (_, body) = get_json(&a, "/api/v1/incidents").await;
        body["incidents"]
            .as_array()?
            .first()
            .filter(|i| i["state"] == "resolved")
            .map(|_| ())
    })
    .await;
    // Whatever ran, ran alone.
    eventually(
        Duration::from_secs(30),
        "every admitted repair finished",
        || async {
            let (_, body) = get_json(&a, "/api/v1/repairs?limit=20").await;
            let repairs = body["repairs"].as_array()?.clone();
            repairs
                .iter()
                .all(|r| {
                    !["queued", "running", "verifying"].contains(&r["state"].as_str().unwrap_or(""))
                })
                .then_some(())
        },
    )
    .await;
    let lines = read_lines(&log);
    assert!(!lines.is_empty());
    for pair in lines.chunks(2) {
        assert_eq!(
            pair,
            ["start", "end"],
            "two repairs of svc ran at once: {lines:?}"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_repeated_repair_signal_queues_one_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    repeated_signal(
        &format!("sqlite://{}/h.db", dir.path().display()),
        dir.path(),
    )
    .await;
}

#[tokio::test]
async fn a_repeated_repair_signal_queues_one_job_on_postgres() {
    let url = common::fresh_postgres().await;
    let dir = tempfile::tempdir().expect("tempdir");
    repeated_signal(&url, dir.path()).await;
}

async fn repeated_signal(store: &str, dir: &Path) {
    let d = dir.display();
    // The repair runs until the test creates `go`: however slow the machine, the requests
    // below come while its job is unfinished.
    let slow = Runbook::new("slow").set("priority", 3).shell(&format!(
        "echo run >> {d}/ran; while [ ! -e {d}/go ]; do sleep 0.05; done; touch {d}/healthy"
    ));
    let config = flag_check_with(dir, &[slow]);
    let app = common::start_app_on(store, &config).await;
    eventually(WAIT, "the repair runs", || async {
        (!read_lines(&dir.join("ran")).is_empty()).then_some(())
    })
    .await;
    let incident = first_incident(&app).await;
    let id = incident["id"].as_str().expect("incident id").to_string();
    // The same incident, asked for again while its repair job is unfinished: no second job.
    for _ in 0..3 {
        let (status, body) = post_json(
            &app,
            "/api/v1/error-monitoring/repair-task",
            json!({ "incident_id": id }),
        )
        .await;
        assert_eq!(status, 409, "{body}");
    }
    std::fs::write(dir.join("go"), "").expect("go");
    wait_for_incident_state(&app, &id, "resolved", "incident resolved").await;
    let jobs = homeostat::queue::JobQueue::new(app.state.store.clone())
        .list(None, 100)
        .await
        .expect("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(
        jobs[0].dedup_key.as_deref(),
        Some(format!("repair:incident:{id}").as_str())
    );
    assert_eq!(jobs[0].priority, 3);
    assert_eq!(read_lines(&dir.join("ran")).len(), 1);
    app.shutdown().await;
}

/// A repair job claimed again after a restart (so every later claim counts as a retake) that
/// then waits for an approval: each approval poll is a new claim. The waiting repair must stay
/// the same one, and the approval given to it must run it (it used to be marked interrupted at
/// every poll and a new one created, so no approval could ever take).
#[tokio::test]
async fn an_approval_awaited_by_a_job_taken_back_after_a_restart_still_takes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("step.pid");
    let slow = Runbook::new("slow")
        .shell(&format!("echo $$ > {}; exec sleep 2", pidfile.display()))
        .verify("svc", "300ms");
    let gated = Runbook::new("gated")
        .set("approval", "required")
        .set("approval_timeout", "1h")
        .run(&["touch", path(&dir.path().join("healthy"))]);
    let config = flag_check_with(dir.path(), &[slow, gated]);
    let app = start_app(dir.path(), &config).await;
    eventually(WAIT, "the first candidate's step running", || {
        let running = pidfile.exists();
        async move { running.then_some(()) }
    })
    .await;
    // Stopped while its job is claimed: the next start takes the job back.
    app.shutdown().await;
    let app = start_app(dir.path(), &config).await;
    let waiting = wait_for_repair(&app, "the second candidate awaits approval", |r| {
        r["runbook"] == "gated" && r["state"] == "awaiting_approval"
    })
    .await;
    let id = waiting["id"].as_str().expect("id").to_string();
    // A few approval polls (every half second), each a claim of the job.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let gated: Vec<Value> = repairs(&app)
        .await
        .into_iter()
        .filter(|r| r["runbook"] == "gated")
        .collect();
    assert_eq!(gated.len(), 1, "the waiting repair was replaced: {gated:?}");
    assert_eq!(gated[0]["state"], "awaiting_approval", "{gated:?}");
    let (status, body) = post_json(&app, &format!("/api/v1/repairs/{id}/approve"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    eventually(WAIT, "the approved repair ran", || async {
        let (_, r) = get_json(&app, &format!("/api/v1/repairs/{id}")).await;
        (r["state"] == "succeeded").then_some(())
    })
    .await;
    assert!(dir.path().join("healthy").exists());
    app.shutdown().await;
}

/// An approval that comes after `approval_timeout` is refused and `on_timeout` (deny) decides,
/// even while the engine, its only repair slot busy, has not looked at the repair again.
#[tokio::test]
async fn an_approval_after_the_timeout_is_refused_while_every_slot_is_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let ask = Runbook::new("ask")
        .set("approval", "required")
        .set("approval_timeout", "1s")
        .run(&["touch", &format!("{d}/healthy_gated")]);
    let hog = Runbook::new("hog").run_with(
        &["sh", "-c", &format!("touch {d}/hogging; exec sleep 60")],
        "timeout = \"2m\"",
    );
    let config = format!(
        "[policy]\nmax_concurrent_repairs = 1\n{}{}{ask}{hog}",
        named_flag_check(dir.path(), "gated", &["ask"]),
        named_flag_check(dir.path(), "busy", &["hog"]),
    );
    std::fs::write(dir.path().join("healthy_busy"), "").expect("flag");
    let app = start_app(dir.path(), &config).await;
    let waiting = wait_for_repair(&app, "repair awaiting approval", |r| {
        r["state"] == "awaiting_approval"
    })
    .await;
    // The only slot is taken by a long repair of another target before the approval times out.
    std::fs::remove_file(dir.path().join("healthy_busy")).expect("break busy");
    let hogging = dir.path().join("hogging");
    eventually(WAIT, "the other repair holds the slot", || {
        let started = hogging.exists();
        async move { started.then_some(()) }
    })
    .await;
    let id = waiting["id"].as_str().expect("id");
    let deadline =
        chrono::DateTime::parse_from_rfc3339(waiting["created_at"].as_str().expect("created_at"))
            .expect("time")
            + chrono::TimeDelta::milliseconds(1200);
    while chrono::Utc::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = post_json(&app, &format!("/api/v1/repairs/{id}/approve"), json!({})).await;
    assert_eq!(status, 409, "{body}");
    let (_, repair) = get_json(&app, &format!("/api/v1/repairs/{id}")).await;
    assert_eq!(repair["state"], "denied", "{repair}");
    assert!(
        !dir.path().join("healthy_gated").exists(),
        "ran after its approval timed out"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_runbook_of_several_checks_run_by_hand_needs_its_target() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let marker = dir.path().join("ran");
    let config = format!(
        "[[check]]\nname = \"api\"\ntype = \"command\"\ncommand = [\"true\"]\nremedy = [\"fix\"]\n\
         [[check]]\nname = \"web\"\ntype = \"command\"\ncommand = [\"true\"]\nremedy = [\"fix\"]\n\
         [[runbook]]\nname = \"fix\"\nsteps = [ {{ run = [\"touch\", \"{d}/ran\"] }} ]\n"
    );
    let app = start_app(dir.path(), &config).await;
    let (status, body) = post_json(
        &app,
        "/api/v1/error-monitoring/repair-task",
        json!({"runbook": "fix"}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let message = body.to_string();
    assert!(
        message.contains("`api`") && message.contains("`web`"),
        "{body}"
    );
    assert!(!marker.exists(), "ran with no target");
    app.shutdown().await;
}

/// The emergency stop is engaged but the store cannot take it (here: its settings table is
/// renamed away). The stop stays on, and once the store answers again it is stored, not lifted
/// by the stored value that predates it (which used to let repairs run again within half a
/// second).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_stop_the_store_could_not_take_stays_on_and_is_stored_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = common::sqlite_url(dir.path());
    let app = start_app(dir.path(), "").await;
    let raw = sqlx::AnyPool::connect(&url).await.expect("connect");
    sqlx::query("ALTER TABLE settings RENAME TO settings_away")
        .execute(&raw)
        .await
        .expect("rename");
    let (status, body) =
        post_json(&app, "/api/v1/error-monitoring/emergency-stop", json!({})).await;
    assert_eq!(status, 500, "the write failed and says so: {body}");
    sqlx::query("ALTER TABLE settings_away RENAME TO settings")
        .execute(&raw)
        .await
        .expect("rename back");
    eventually(WAIT, "the stop is stored", || async {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT value FROM settings WHERE key = 'emergency_stop'")
                .fetch_optional(&raw)
                .await
                .ok()?;
        (stored.as_deref() == Some("1")).then_some(())
    })
    .await;
    // A few more follower reads: still on.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, status) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(status["emergency_stop"], true, "{status}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_repair_awaiting_approval_does_not_hold_a_repair_slot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let ask = Runbook::new("ask")
        .set("priority", 1)
        .set("approval", "required")
        .set("approval_timeout", "1h")
        .run(&["touch", &format!("{d}/healthy_gated")]);
    let fix = Runbook::new("fix")
        .set("priority", 9)
        .run(&["touch", &format!("{d}/healthy_plain")]);
    let config = format!(
        "[policy]\nmax_concurrent_repairs = 1\n{}{}{ask}{fix}",
        named_flag_check(dir.path(), "gated", &["ask"]),
        named_flag_check(dir.path(), "plain", &["fix"]),
    );
    // `plain` breaks only once the approval is pending.
    std::fs::write(dir.path().join("healthy_plain"), "").expect("flag");
    let app = start_app(dir.path(), &config).await;
    let waiting = wait_for_repair(&app, "repair awaiting approval", |r| {
        r["state"] == "awaiting_approval"
    })
    .await;
    std::fs::remove_file(dir.path().join("healthy_plain")).expect("break plain");
    // The only slot is free while the approval is pending: the other target is repaired.
    wait_for_repair(&app, "the other target repaired", |r| {
        r["runbook"] == "fix" && r["state"] == "succeeded"
    })
    .await;
    assert!(
        !dir.path().join("healthy_gated").exists(),
        "ran without approval"
    );
    let id = waiting["id"].as_str().expect("id");
    let (status, _) = post_json(&app, &format!("/api/v1/repairs/{id}/approve"), json!({})).await;
    assert_eq!(status, 200);
    eventually(WAIT, "the approved repair ran", || async {
        let (_, r) = get_json(&app, &format!("/api/v1/repairs/{id}")).await;
        (r["state"] == "succeeded").then_some(())
    })
    .await;
    let all = repairs(&app).await;
    assert_eq!(
        all.iter().filter(|r| r["runbook"] == "ask").count(),
        1,
        "a deferred repair was admitted again: {all:?}"
    );
    app.shutdown().await;
}
