//! Incidents from real failures: a failing check opens one incident (deduplicated), it
//! auto-resolves when the check is healthy again with MTTD/MTTR recorded, humans ack and resolve
//! through the API and CLI, and the store's lifecycle rules hold on SQLite and PostgreSQL.

use crate::common;

use chrono::{Duration as ChronoDuration, Utc};
use common::{TOKEN, Target, answer, client, eventually, get_json, post_json, request, start_app};
use homeostat::model::{IncidentState, Priority, Status};
use homeostat::store::{FailureOutcome, FailureRecord, Store, Transition};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn failure<'a>(
    labels: &'a BTreeMap<String, String>,
    severity: Status,
    reopen_after: chrono::DateTime<Utc>,
) -> FailureRecord<'a> {
    FailureRecord {
        fingerprint: "check:api",
        title: "api is critical",
        severity,
        priority: Priority::from(homeostat::model::Impact::Medium, severity),
        check: Some("api"),
        labels,
        started_at: Utc::now() - ChronoDuration::seconds(3),
        at: Utc::now(),
        message: "api ok → critical",
        reopen_after_resolved: reopen_after,
    }
}

async fn lifecycle_suite(store: Store) {
    let labels = BTreeMap::from([("check".to_string(), "api".to_string())]);
    let long_ago = Utc::now() - ChronoDuration::hours(1);
    let (first, outcome) = store
        .record_failure(&failure(&labels, Status::Warning, long_ago))
        .await
        .expect("open");
    assert_eq!(outcome, FailureOutcome::Opened);
    assert_eq!(
        (first.state, first.priority, first.severity),
        (IncidentState::Open, Priority::P3, Status::Warning)
    );
    assert!(first.time_to_detect_seconds >= 2.9, "{first:?}");

    // The same fingerprint updates the same incident; severity and priority only go up.
    let (again, outcome) = store
        .record_failure(&failure(&labels, Status::Critical, long_ago))
        .await
        .expect("update");
    assert_eq!(
        (outcome, again.id.as_str()),
        (FailureOutcome::Updated, first.id.as_str())
    );
    assert_eq!(
        (again.severity, again.priority, again.signal_count),
        (Status::Critical, Priority::P2, 2)
    );
    let (again, _) = store
        .record_failure(&failure(&labels, Status::Warning, long_ago))
        .await
        .expect("update");
    assert_eq!(
        (again.severity, again.priority),
        (Status::Critical, Priority::P2)
    );

    // Two concurrent acknowledgements: exactly one wins.
    let (a, b) = tokio::join!(
        store.transition_incident(
            &first.id,
            &[IncidentState::Open],
            IncidentState::Acknowledged,
            Utc::now(),
            "alice",
            "ack"
        ),
        store.transition_incident(
            &first.id,
            &[IncidentState::Open],
            IncidentState::Acknowledged,
            Utc::now(),
            "bob",
            "ack"
        ),
    );
    let moved = |t: &Result<Transition, _>| matches!(t, Ok(Transition::Moved(_)));
    assert!(
        moved(&a) != moved(&b),
        "exactly one ack must win: {a:?} {b:?}"
    );
    let Ok(Transition::Moved(resolved)) = store
        .transition_incident(
            &first.id,
            &[IncidentState::Acknowledged],
            IncidentState::Resolved,
            Utc::now(),
            "alice",
            "fixed",
        )
        .await
    else {
        panic!("resolve");
    };
    assert!(resolved.resolved_at.is_some() && resolved.acknowledged_at.is_some());
    assert!(resolved.time_to_resolve_seconds.is_some_and(|t| t >= 2.9));
    let twice = store
        .transition_incident(
            &first.id,
            &[IncidentState::Acknowledged],
            IncidentState::Resolved,
            Utc::now(),
            "bob",
            "x",
        )
        .await;
    assert!(
        matches!(twice, Ok(Transition::Refused(IncidentState::Resolved))),
        "{twice:?}"
    );
    assert!(matches!(
        store
            .transition_incident(
                "999999",
                &[IncidentState::Open],
                IncidentState::Resolved,
                Utc::now(),
                "bob",
                "x"
            )
            .await,
        Ok(Transition::NotFound)
    ));
    assert!(
        store
            .active_incident("check:api")
            .await
            .expect("active")
            .is_none()
    );

    // A failure soon after resolution reopens it; after close_after, a new incident opens.
    let (reopened, outcome) = store
        .record_failure(&failure(&labels, Status::Critical, long_ago))
        .await
        .expect("reopen");
    assert_eq!(
        (outcome, reopened.id.as_str(), reopened.state),
        (
            FailureOutcome::Reopened,
            first.id.as_str(),
            IncidentState::Open
        )
    );
    let resolved = store
        .transition_incident(
            &first.id,
            &[IncidentState::Open],
            IncidentState::Resolved,
            Utc::now(),
            "homeostat",
            "ok",
        )
        .await;
    assert!(matches!(resolved, Ok(Transition::Moved(_))), "{resolved:?}");
    let (fresh, outcome) = store
        .record_failure(&failure(
            &labels,
            Status::Critical,
            Utc::now() + ChronoDuration::seconds(1),
        ))
        .await
        .expect("new");
    assert_eq!(outcome, FailureOutcome::Opened);
    assert_ne!(fresh.id, first.id);
    assert_eq!(
        store
            .incident(&first.id)
            .await
            .expect("get")
            .map(|i| i.state),
        Some(IncidentState::Closed)
    );

    let timeline = store.incident_timeline(&first.id).await.expect("timeline");
    let kinds: Vec<&str> = timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "opened",
            "signal",
            "signal",
            "acknowledged",
            "resolved",
            "reopened",
            "resolved",
            "closed"
        ]
    );
    let (open, total) = store
        .list_incidents(Some(IncidentState::Open), 10, 0)
        .await
        .expect("list");
    assert_eq!((open.len(), total), (1, 1));
    let (all, total) = store.list_incidents(None, 1, 0).await.expect("list");
    assert_eq!(
        (all.len(), total, all[0].id.as_str()),
        (1, 2, fresh.id.as_str())
    );
    assert_eq!(store.count_active_incidents().await.expect("count"), 1);
}

#[tokio::test]
async fn incident_lifecycle_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    lifecycle_suite(
        Store::connect(&format!("sqlite://{}", dir.path().join("i.db").display()))
            .await
            .expect("connect"),
    )
    .await;
}

#[tokio::test]
async fn incident_lifecycle_on_postgres() {
    lifecycle_suite(
        Store::connect(&common::fresh_postgres().await)
            .await
            .expect("connect"),
    )
    .await;
}

async fn incidents(app: &homeostat::app::App, query: &str) -> Vec<Value> {
    let (_, body) = get_json(app, &format!("/api/v1/incidents{query}")).await;
    body["incidents"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_failing_service_opens_one_incident_that_auto_resolves_with_mttr() {
    let mut target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = format!(
        "[incidents]\nresolve_after_ok = 2\n\n[[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"100ms\"\n\
         failures_before_critical = 2\nimpact = \"high\"\n",
        target.url()
    );
    let app = start_app(dir.path(), &checks).await;
    eventually(WAIT, "api ok", || async {
        let (_, body) = get_json(&app, "/api/v1/checks/api?limit=1").await;
        (body["check"]["status"] == "ok").then_some(())
    })
    .await;
    assert!(
        incidents(&app, "").await.is_empty(),
        "no incident while healthy"
    );

    target.stop().await;
    let incident = eventually(WAIT, "incident opened", || async {
        incidents(&app, "?state=open").await.into_iter().next()
    })
    .await;
    assert_eq!(incident["priority"], "P1", "{incident}");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["check"], "api");
    assert_eq!(incident["fingerprint"], "check:api");
    // Detection is timed from the first failing run (before flap control), not from the run
    // that made the check critical: the two stored runs say when each started. (How far apart
    // they are is up to the scheduler: a late first run can bring the second one close.)
    assert!(
        incident["time_to_detect_seconds"]
            .as_f64()
            .is_some_and(|t| t > 0.0 && t < 5.0),
        "{incident}"
    );
    let (first_failure, first_critical) = eventually(WAIT, "the failing runs stored", || async {
        let (_, detail) = get_json(&app, "/api/v1/checks/api?limit=1000").await;
        let oldest_first: Vec<Value> = detail["observations"]
            .as_array()?
            .iter()
            .rev()
            .skip_while(|o| o["raw_status"] == "ok")
            .cloned()
            .collect();
        let critical = oldest_first
            .iter()
            .find(|o| o["status"] == "critical")?
            .clone();
        Some((oldest_first.first()?.clone(), critical))
    })
    .await;
    let millis = |v: &Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| panic!("not a time: {v}"))
    };
    assert_eq!(
        millis(&incident["started_at"]),
        millis(&first_failure["observed_at"]),
        "{incident} {first_failure}"
    );
    assert_eq!(first_failure["status"], "ok", "{first_failure}");
    assert_eq!(
        millis(&incident["opened_at"]),
        millis(&first_critical["observed_at"]),
        "{incident} {first_critical}"
    );
    // Many more failing runs: still one incident.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(incidents(&app, "").await.len(), 1);
    let (_, status) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(status["open_incidents"], 1);

    let _target = Target::start_on(target.address).await;
    let id = incident["id"].as_str().expect("id").to_string();
    let resolved = eventually(WAIT, "incident auto-resolved", || async {
        let (_, body) = get_json(&app, &format!("/api/v1/incidents/{id}")).await;
        (body["state"] == "resolved").then_some(body)
    })
    .await;
    assert!(
        resolved["time_to_resolve_seconds"]
            .as_f64()
            .is_some_and(|t| t > 0.0),
        "{resolved}"
    );
    let kinds = common::strings_of(&resolved["timeline"], "kind");
    assert_eq!(kinds.first(), Some(&"opened"), "{resolved}");
    assert_eq!(kinds.last(), Some(&"resolved"), "{resolved}");
    assert!(
        resolved["timeline"]
            .as_array()
            .and_then(|t| t.last())
            .is_some_and(|e| e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("2 run(s)"))
    );

    let (_, metrics) = get_json(&app, "/api/v1/error-monitoring/metrics").await;
    assert_eq!(metrics["incidents_opened"], 1, "{metrics}");
    assert!(
        metrics["mttr_seconds"].as_f64().is_some_and(|t| t > 0.0),
        "{metrics}"
    );
    assert!(metrics["mttd_seconds"].as_f64().is_some(), "{metrics}");
    let text = common::metrics_text(&app).await;
    assert!(text.contains("homeostat_incidents_open 0"), "{text}");
    assert!(
        text.contains("homeostat_incidents_opened_total{priority=\"P1\"} 1"),
        "{text}"
    );
    app.shutdown().await;
}

// The CLI runs as a blocking child process: keep a worker free to serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn humans_ack_and_resolve_through_api_and_cli() {
    let mut target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = format!(
        "[[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"100ms\"\n",
        target.url()
    );
    let app = start_app(dir.path(), &checks).await;
    target.stop().await;
    let incident = eventually(WAIT, "incident opened", || async {
        incidents(&app, "?state=open").await.into_iter().next()
    })
    .await;
    let id = incident["id"].as_str().expect("id").to_string();
    let base = format!("http://{}", app.address);
    let c = client();

    let ack = format!("/api/v1/incidents/{id}/ack");
    let (bad, _) = answer(request(&app, Method::POST, &ack).body("{not json"), "ack").await;
    assert_eq!(bad, 400);
    let (unknown, _) = post_json(&app, &ack, json!({"nope": 1})).await;
    assert_eq!(unknown, 400);
    let (anonymous, _) = answer(c.post(format!("{base}{ack}")), "ack").await;
    assert_eq!(anonymous, 401);

    let cli = |args: &[&str]| {
        common::homeostat()
            .args(args)
            .args(["--server", &base])
            .env("HOMEOSTAT_TOKEN", TOKEN)
            .output()
            .expect("cli")
    };
    let out = cli(&["incidents", "ack", &id, "--note", "looking"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("acknowledged"));
    let (again, body) = answer(request(&app, Method::POST, &ack), "ack").await;
    assert_eq!(again, 409);
    assert_eq!(body["error"]["code"], "conflict");

    let (_, resolved) = post_json(
        &app,
        &format!("/api/v1/incidents/{id}/resolve"),
        json!({"note": "restarted by hand"}),
    )
    .await;
    assert_eq!(resolved["state"], "resolved");
    assert!(resolved["acknowledged_at"].is_string() && resolved["resolved_at"].is_string());

    let list = cli(&["incidents", "list"]);
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success() && stdout.contains(&id) && stdout.contains("resolved"),
        "{stdout}"
    );
    let show = cli(&["incidents", "show", &id]);
    let stdout = String::from_utf8_lossy(&show.stdout);
    assert!(
        stdout.contains("restarted by hand") && stdout.contains("looking"),
        "{stdout}"
    );
    let missing = cli(&["incidents", "show", "424242"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("404"));

    let (status, body) = get_json(&app, "/api/v1/incidents?state=bogus").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
    app.shutdown().await;
}
