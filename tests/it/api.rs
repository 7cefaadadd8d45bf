//! The HTTP API of the real app against real targets: auth, JSON errors, checks, health, start/stop,
//! server-sent events, `/metrics` through a Prometheus parser, and OpenAPI.

use crate::common;

use common::{Behaviour, TOKEN, Target, client, eventually, get_json, start_app};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn checks_against(target: &Target) -> String {
    format!(
        "[[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"100ms\"\ntimeout = \"1s\"\n\n\
         [[check]]\nname = \"port\"\ntype = \"tcp\"\naddress = \"{}\"\ninterval = \"100ms\"\n",
        target.url(),
        target.address
    )
}

async fn status_of(app: &homeostat::app::App, check: &str) -> String {
    let (_, body) = get_json(app, &format!("/api/v1/checks/{check}?limit=1")).await;
    body["check"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn no_token_and_bad_token_get_401_good_token_gets_200() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    let base = format!("http://{}", app.address);
    let c = client();
    let protected = [
        "/api/v1/error-monitoring/status",
        "/api/v1/error-monitoring/health",
        "/api/v1/error-monitoring/metrics",
        "/api/v1/checks",
        "/api/v1/checks/api",
        "/api/v1/openapi.json",
    ];
    for path in protected {
        let none = c
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(none.status(), 401, "{path} without token");
        assert_eq!(none.headers()["www-authenticate"], "Bearer");
        let body: Value = none.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "unauthorized", "{path}: {body}");
        let bad = c
            .get(format!("{base}{path}"))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("request");
        assert_eq!(bad.status(), 401, "{path} with a bad token");
        let basic = c
            .get(format!("{base}{path}"))
            .header("Authorization", "Basic dXNlcjpwdw==")
            .send()
            .await
            .expect("request");
        assert_eq!(basic.status(), 401, "{path} with basic auth");
        let good = c
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(good.status(), 200, "{path} with the admin token");
    }
    for path in [
        "/api/v1/error-monitoring/start",
        "/api/v1/error-monitoring/stop",
    ] {
        assert_eq!(
            c.post(format!("{base}{path}"))
                .send()
                .await
                .expect("request")
                .status(),
            401
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            c.get(format!("{base}{path}"))
                .send()
                .await
                .expect("request")
                .status(),
            200,
            "{path} is public"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn errors_are_json_with_a_4xx_status() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    let (status, body) = get_json(&app, "/api/v1/checks/does-not-exist").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = get_json(&app, "/api/v1/no/such/route").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, body) = get_json(&app, "/api/v1/checks/api?limit=0").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (status, body) = get_json(&app, "/api/v1/checks/api?limit=abc").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = common::delete(&app, "/api/v1/checks").await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    app.shutdown().await;
}

#[tokio::test]
async fn checks_health_and_status_follow_a_failing_service() {
    let mut target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    eventually(WAIT, "both checks ok", || async {
        let (_, health) = get_json(&app, "/api/v1/error-monitoring/health").await;
        (health["status"] == "HEALTHY"
            && health["components"]
                .as_array()
                .is_some_and(|c| c.iter().all(|c| c["status"] == "ok")))
        .then_some(())
    })
    .await;
    let (_, checks) = get_json(&app, "/api/v1/checks").await;
    assert_eq!(checks["checks"][0]["name"], "api");
    assert_eq!(checks["checks"][0]["type"], "http");
    assert_eq!(checks["checks"][0]["last"]["metrics"]["status_code"], 200.0);

    target.stop().await;
    eventually(WAIT, "api and port critical", || async {
        (status_of(&app, "api").await == "critical" && status_of(&app, "port").await == "critical")
            .then_some(())
    })
    .await;
    let (_, health) = get_json(&app, "/api/v1/error-monitoring/health").await;
    assert_eq!(
        (health["score"].as_u64(), health["status"].as_str()),
        (Some(0), Some("CRITICAL")),
        "{health}"
    );
    let (_, status) = get_json(&app, "/api/v1/error-monitoring/status").await;
    assert_eq!(status["checks"]["critical"], 2, "{status}");
    assert_eq!(status["running"], true);
    assert_eq!(status["mode"], "enforce");

    // Stored history (written in batches) shows the failure with its evidence.
    let detail = eventually(WAIT, "critical observation stored", || async {
        let (_, detail) = get_json(&app, "/api/v1/checks/api?limit=5").await;
        (detail["observations"][0]["status"] == "critical").then_some(detail)
    })
    .await;
    assert!(
        detail["observations"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connection failed")),
        "{detail}"
    );

    let _target = Target::start_on(target.address).await;
    eventually(WAIT, "api recovers", || async {
        (status_of(&app, "api").await == "ok").then_some(())
    })
    .await;
    let (_, metrics) = get_json(&app, "/api/v1/error-monitoring/metrics").await;
    let rate = metrics["check_success_rate"].as_f64().expect("rate");
    assert!(rate > 0.0 && rate < 1.0, "{metrics}");
    assert!(metrics["signals_total"].as_u64() >= Some(4), "{metrics}");
    app.shutdown().await;
}

#[tokio::test]
async fn flap_control_waits_for_consecutive_failures_and_a_flapping_service_stays_ok() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Between the test seeing the first failure of a flap and making the target healthy again,
    // the check must not fail `failures_before_critical` times: five more runs, a second at
    // this interval, a margin a stalled CI machine does not eat.
    let checks = format!(
        "[[check]]\nname = \"api\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"200ms\"\nfailures_before_critical = 6\n",
        target.url()
    );
    let app = start_app(dir.path(), &checks).await;
    eventually(WAIT, "api ok", || async {
        (status_of(&app, "api").await == "ok").then_some(())
    })
    .await;
    // Flap: fail for less than the threshold, then recover, repeatedly.
    for _ in 0..5 {
        target.set(Behaviour::Error);
        eventually(WAIT, "a failure counted", || async {
            let (_, body) = get_json(&app, "/api/v1/checks/api?limit=1").await;
            (body["check"]["consecutive_failures"].as_u64() >= Some(1)).then_some(())
        })
        .await;
        target.set(Behaviour::Healthy);
        eventually(WAIT, "streak reset", || async {
            let (_, body) = get_json(&app, "/api/v1/checks/api?limit=1").await;
            (body["check"]["consecutive_failures"] == 0).then_some(())
        })
        .await;
        assert_eq!(
            status_of(&app, "api").await,
            "ok",
            "a flapping service was reported failing"
        );
    }
    target.set(Behaviour::Error);
    let body = eventually(WAIT, "api critical after 6 failures", || async {
        let (_, body) = get_json(&app, "/api/v1/checks/api?limit=1").await;
        (body["check"]["status"] == "critical").then_some(body)
    })
    .await;
    assert!(
        body["check"]["consecutive_failures"].as_u64() >= Some(6),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_hung_check_does_not_delay_the_others() {
    let target = Target::start().await;
    target.set(Behaviour::Slow(300_000));
    let dir = tempfile::tempdir().expect("tempdir");
    // The hung checks' timeouts are far longer than the wait for the fast one (20 runs, 2 s at
    // least; up to 30 s on a slow machine): their first run cannot have ended by then.
    let checks = format!(
        "[[check]]\nname = \"hung\"\ntype = \"http\"\nurl = \"{}\"\ninterval = \"100ms\"\ntimeout = \"120s\"\n\n\
         [[check]]\nname = \"hung-plugin\"\ntype = \"command\"\ncommand = [\"sleep\", \"300\"]\ninterval = \"100ms\"\ntimeout = \"120s\"\n\n\
         [[check]]\nname = \"fast\"\ntype = \"command\"\ncommand = [\"true\"]\ninterval = \"100ms\"\n",
        target.url()
    );
    let app = start_app(dir.path(), &checks).await;
    eventually(
        Duration::from_secs(30),
        "fast check ran 20 times while the others hang",
        || async {
            let (_, body) = get_json(&app, "/api/v1/checks/fast?limit=1").await;
            (body["check"]["runs"].as_u64() >= Some(20)).then_some(())
        },
    )
    .await;
    let (_, hung) = get_json(&app, "/api/v1/checks/hung?limit=1").await;
    assert_eq!(
        hung["check"]["runs"], 0,
        "the hung check overlapped itself: {hung}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn stop_pauses_every_check_and_start_resumes() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    let runs = |app: &homeostat::app::App| {
        let app_address = app.address;
        async move {
            let (_, body) = get_json_at(app_address, "/api/v1/checks").await;
            body["checks"].as_array().map_or(0, |c| {
                c.iter()
                    .map(|c| c["runs"].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
        }
    };
    eventually(WAIT, "checks ran", || async {
        (runs(&app).await > 2).then_some(())
    })
    .await;
    let c = client();
    let stopped: Value = c
        .post(format!(
            "http://{}/api/v1/error-monitoring/stop",
            app.address
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("stop")
        .json()
        .await
        .expect("json");
    assert_eq!(stopped["running"], false);
    // A run already in flight may still finish (one per check, however slow the machine);
    // nothing else runs: two checks at 100 ms would run about 30 times in this window.
    let at_stop = runs(&app).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let frozen = runs(&app).await;
    assert!(
        frozen <= at_stop + 2,
        "checks ran while monitoring was stopped: {at_stop} runs at the stop, {frozen} later"
    );
    let started: Value = c
        .post(format!(
            "http://{}/api/v1/error-monitoring/start",
            app.address
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    assert_eq!(started["running"], true);
    eventually(WAIT, "checks resume", || async {
        (runs(&app).await > frozen + 2).then_some(())
    })
    .await;
    app.shutdown().await;
}

async fn get_json_at(address: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let response = client()
        .get(format!("http://{address}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_sse_client_receives_status_changes_and_monitoring_events() {
    let mut target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    eventually(WAIT, "api ok", || async {
        (status_of(&app, "api").await == "ok").then_some(())
    })
    .await;

    let unauthorized = client()
        .get(format!("http://{}/api/v1/events", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthorized.status(), 401);
    let response = reqwest::Client::new()
        .get(format!("http://{}/api/v1/events", app.address))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    let mut response = response;
    target.stop().await;

    let mut buffer = String::new();
    let event = tokio::time::timeout(WAIT, async {
        loop {
            let chunk = response.chunk().await.expect("chunk").expect("stream open");
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                let name = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or_default()
                    .to_string();
                let data = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or_default()
                    .to_string();
                if name == "check_status" {
                    let value: Value = serde_json::from_str(&data).expect("event json");
                    if value["check"] == "api" && value["status"] == "critical" {
                        return value;
                    }
                }
            }
        }
    })
    .await
    .expect("a check_status event for api arrives");
    assert_eq!(event["type"], "check_status");
    assert_eq!(event["previous"], "ok");
    assert_eq!(event["fingerprint"], "check:api");
    assert_eq!(event["labels"]["type"], "http");
    assert!(
        event["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{event}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_with_the_contract_names() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    eventually(WAIT, "api and port ok", || async {
        (status_of(&app, "api").await == "ok" && status_of(&app, "port").await == "ok")
            .then_some(())
    })
    .await;
    let text = common::metrics_text(&app).await;
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let find = |name: &str, check: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("check") == Some(check))
            .map(|s| s.value.clone())
    };
    assert!(
        matches!(find("homeostat_check_status", "api"), Some(prometheus_parse::Value::Gauge(v)) if v == 0.0),
        "{text}"
    );
    assert!(
        find("homeostat_check_duration_seconds", "api").is_some(),
        "{text}"
    );
    assert!(find("homeostat_check_status", "port").is_some());
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "homeostat_health_score")
    );
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "homeostat_scheduler_lateness_seconds")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    let (status, spec) = get_json(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        spec["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    for route in homeostat::api::routes::route_table(true) {
        let method = route.method.as_str().to_lowercase();
        assert!(
            spec["paths"][route.path][&method].is_object(),
            "{} {} missing from OpenAPI",
            route.method,
            route.path
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn analyze_error_names_the_category_and_groups_similar_messages() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    let post = |body: serde_json::Value| {
        let address = app.address;
        async move {
            let response = client()
                .post(format!(
                    "http://{address}/api/v1/error-monitoring/analyze-error"
                ))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .expect("request");
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let mut ids = Vec::new();
    for port in [5432, 5433, 6379] {
        let message = format!(
            "psql: error: connection to server at \"10.0.0.{}\", port {port} failed: Connection refused",
            port % 7
        );
        let (status, body) = post(serde_json::json!({ "message": message, "source": "api" })).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["source"], "api");
        assert_eq!(body["category"]["name"], "connection_refused", "{body}");
        assert!(
            !body["category"]["advice"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(body["advice"], body["category"]["advice"], "{body}");
        ids.push(body["cluster"]["id"].clone());
        if port == 6379 {
            assert_eq!(body["cluster"]["count"], 3, "{body}");
            assert!(
                body["cluster"]["template"]
                    .as_str()
                    .is_some_and(|t| t.contains("<*>")),
                "{body}"
            );
        }
    }
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "similar messages in different clusters: {ids:?}"
    );
    let (status, body) = post(serde_json::json!({ "message": "user 42 logged in" })).await;
    assert_eq!((status, &body["category"]), (200, &Value::Null), "{body}");
    assert!(
        body["advice"]
            .as_str()
            .is_some_and(|a| a.starts_with("No known failure category")),
        "{body}"
    );
    let (status, body) = post(serde_json::json!({ "msg": "x" })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let anonymous = client()
        .post(format!(
            "http://{}/api/v1/error-monitoring/analyze-error",
            app.address
        ))
        .json(&serde_json::json!({ "message": "x" }))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status(), 401);
    app.shutdown().await;
}

#[tokio::test]
async fn checks_are_paginated_with_limit_and_offset_in_config_order() {
    let target = Target::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &checks_against(&target)).await;
    let names = |body: &Value| -> Vec<String> {
        body["checks"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, all) = get_json(&app, "/api/v1/checks").await;
    assert_eq!(status, 200);
    assert_eq!(names(&all), ["api", "port"], "no limit: every check");
    assert_eq!(all["total"], 2);
    let (_, first) = get_json(&app, "/api/v1/checks?limit=1").await;
    assert_eq!(names(&first), ["api"]);
    assert_eq!(first["total"], 2);
    let (_, second) = get_json(&app, "/api/v1/checks?limit=1&offset=1").await;
    assert_eq!(names(&second), ["port"]);
    assert_eq!(second["offset"], 1);
    let (_, past) = get_json(&app, "/api/v1/checks?limit=10&offset=5").await;
    assert_eq!(names(&past), Vec::<String>::new());
    assert_eq!(past["total"], 2);
    for bad in ["limit=0", "limit=1001", "limit=x", "offset=-1"] {
        let (status, body) = get_json(&app, &format!("/api/v1/checks?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    app.shutdown().await;
}
