//! Access control end to end against the real app: every route of the route table with every
//! role and with no, invalid, expired and revoked tokens; login sessions and CSRF; the login
//! lockout and its expiry; `required_role` on approvals; users disabled mid-session; the audit
//! log records actions and `verify` names a row edited directly in SQLite and PostgreSQL.

use crate::common;

use common::{
    TOKEN, answer, client, delete, eventually, post_json, post_json_as, request, request_as,
    start_app, start_app_on,
};
use homeostat::api::routes::{Access, route_table};
use homeostat::config::Role;
use homeostat::security::password;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

fn users_toml() -> String {
    let hash = password::hash("correct horse battery").expect("hash");
    format!(
        r#"
[security]
max_login_attempts = 3
login_window = "1m"
lockout = "5s"

[[user]]
name = "alice"
password_hash = "{hash}"
role = "editor"

[[runbook]]
name = "guarded"
steps = [ {{ run = ["true"] }} ]
approval = "required"
required_role = "admin"
"#
    )
}

async fn call(
    app: &homeostat::app::App,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .request(method.clone(), format!("http://{}{path}", app.address))
        .timeout(Duration::from_secs(10));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == Method::POST {
        request = request
            .header("content-type", "application/json")
            .body("{}");
    }
    request.send().await.expect("request")
}

async fn create_token(
    app: &homeostat::app::App,
    role: &str,
    expires: Option<&str>,
) -> (String, String) {
    let mut body = json!({ "name": format!("t-{role}"), "role": role });
    if let Some(e) = expires {
        body["expires"] = json!(e);
    }
    let (status, created) = post_json(app, "/api/v1/tokens", body).await;
    assert_eq!(status, StatusCode::CREATED.as_u16(), "{created}");
    (
        created["id"].as_str().expect("id").to_string(),
        created["token"].as_str().expect("token").to_string(),
    )
}

#[tokio::test]
async fn every_route_with_every_role_and_every_bad_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &users_toml()).await;
    let mut tokens = Vec::new();
    for role in Role::ALL {
        let (_, token) = create_token(&app, role.as_str(), None).await;
        tokens.push((role, token));
    }
    let (_, expired) = create_token(&app, "admin", Some("1ms")).await;
    let (revoked_id, revoked) = create_token(&app, "admin", None).await;
    let (status, _) = delete(&app, &format!("/api/v1/tokens/{revoked_id}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT.as_u16());
    // The token list never shows a secret.
    let listed = call(&app, Method::GET, "/api/v1/tokens", Some(TOKEN))
        .await
        .text()
        .await
        .expect("text");
    for (_, token) in &tokens {
        assert!(!listed.contains(token.as_str()));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;

    let table = route_table(true);
    assert!(table.len() >= 35, "the table lists every route");
    let mut checked = 0;
    for route in &table {
        let path = route
            .path
            .replace("{id}", "999999")
            .replace("{name}", "nobody");
        let method = route.method.clone();
        for (label, token) in [
            ("no token", None),
            (
                "invalid token",
                Some("hst_0000000000000000000000000000000000000000000000000000000000000000"),
            ),
            ("expired token", Some(expired.as_str())),
            ("revoked token", Some(revoked.as_str())),
        ] {
            let status = call(&app, method.clone(), &path, token).await.status();
            if route.access == Access::Public {
                assert_ne!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} is public ({label})"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {label}"
                );
            }
        }
        for (role, token) in &tokens {
            let status = call(&app, method.clone(), &path, Some(token))
                .await
                .status();
            match route.access {
                Access::Least(least) if *role < least => {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role:?}")
                }
                _ => assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{method} {path} as {role:?} gave {status}"
                ),
            }
            checked += 1;
        }
        if path.contains("emergency-stop") {
            // Leave the daemon usable for the rest of the walk.
            call(
                &app,
                Method::POST,
                "/api/v1/error-monitoring/resume",
                Some(TOKEN),
            )
            .await;
        }
    }
    assert_eq!(checked, table.len() * 4);
    app.shutdown().await;
}

async fn login(app: &homeostat::app::App, user: &str, password: &str) -> reqwest::Response {
    client()
        .post(format!("http://{}/api/v1/auth/login", app.address))
        .json(&json!({ "username": user, "password": password }))
        .send()
        .await
        .expect("login")
}

fn session_cookie(response: &reqwest::Response) -> String {
    let header = response
        .headers()
        .get("set-cookie")
        .expect("set-cookie")
        .to_str()
        .expect("ascii");
    assert!(
        header.contains("HttpOnly") && header.contains("SameSite=Strict"),
        "{header}"
    );
    header.split(';').next().expect("pair").to_string()
}

#[tokio::test]
async fn login_sessions_csrf_lockout_and_disabled_users() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &users_toml()).await;
    let base = format!("http://{}", app.address);

    let ok = login(&app, "alice", "correct horse battery").await;
    assert_eq!(ok.status(), StatusCode::OK);
    let cookie = session_cookie(&ok);
    let me: Value = client()
        .get(format!("{base}/api/v1/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["name"], "alice");
    assert_eq!(me["role"], "editor");
    // A state-changing request on the cookie alone (what a cross-site form sends) is refused.
    let forged = client()
        .post(format!("{base}/api/v1/error-monitoring/stop"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("stop");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let real = client()
        .post(format!("{base}/api/v1/error-monitoring/stop"))
        .header("cookie", &cookie)
        .header("x-homeostat-request", "1")
        .send()
        .await
        .expect("stop");
    assert_eq!(real.status(), StatusCode::OK);
    let (_, viewer) = create_token(&app, "viewer", None).await;
    let refused = call(
        &app,
        Method::POST,
        "/api/v1/error-monitoring/stop",
        Some(&viewer),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let logout = client()
        .post(format!("{base}/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("x-homeostat-request", "1")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = client()
        .get(format!("{base}/api/v1/auth/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(
        after.status(),
        StatusCode::UNAUTHORIZED,
        "a logged-out session is dead"
    );

    // Lockout per user: 3 failures lock alice, even the right password gets 429 meanwhile.
    // (The lock starts with the third attempt; the lockout is long enough for a slow machine
    // to send the next request well within it.)
    for _ in 0..3 {
        assert_eq!(
            login(&app, "alice", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = login(&app, "alice", "correct horse battery").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    eventually(Duration::from_secs(30), "the lockout expires", || async {
        (login(&app, "alice", "correct horse battery").await.status() == StatusCode::OK)
            .then_some(())
    })
    .await;
    // Lockout per IP: failures against different names lock the address for everyone.
    for name in ["x1", "x2", "x3"] {
        assert_eq!(
            login(&app, name, "nope").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login(&app, "alice", "correct horse battery").await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let metrics = common::metrics_text(&app).await;
    assert!(
        metrics.contains("homeostat_login_failures_total{reason=\"bad_credentials\"} 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("homeostat_login_lockouts_total 2"),
        "{metrics}"
    );
    eventually(
        Duration::from_secs(30),
        "the address lockout expires",
        || async {
            (login(&app, "alice", "correct horse battery").await.status() == StatusCode::OK)
                .then_some(())
        },
    )
    .await;

    // A stored user added by the API, logged in, then disabled: its session stops at once.
    let (added, _) = post_json(
        &app,
        "/api/admin/users",
        json!({ "name": "bob", "password": "bobs-long-password", "role": "viewer" }),
    )
    .await;
    assert_eq!(added, StatusCode::CREATED.as_u16());
    let bob = login(&app, "bob", "bobs-long-password").await;
    assert_eq!(bob.status(), StatusCode::OK);
    let bob_cookie = session_cookie(&bob);
    let (disabled, _) = answer(
        request(&app, Method::POST, "/api/admin/users/bob/disable"),
        "disable",
    )
    .await;
    assert_eq!(disabled, StatusCode::NO_CONTENT.as_u16());
    let gone = client()
        .get(format!("{base}/api/v1/auth/me"))
        .header("cookie", &bob_cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        login(&app, "bob", "bobs-long-password").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The audit log has the logins, the lockout and the admin actions, and verifies. An API
    // action's entry is written after its response (by a task of its own): wait for the last.
    let has = |entries: &[Value], action: &str, outcome: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with(outcome))
        })
    };
    let entries = eventually(
        Duration::from_secs(30),
        "the audit entries are written",
        || async {
            let audit = audit_log(&base, 1000).await?;
            let entries = audit.as_array()?.clone();
            has(&entries, "user.disable", "ok").then_some(entries)
        },
    )
    .await;
    assert!(
        has(&entries, "auth.login", "ok")
            && has(&entries, "auth.login", "failed")
            && has(&entries, "auth.login", "locked")
    );
    assert!(
        has(&entries, "monitoring.stop", "403") && has(&entries, "monitoring.stop", "ok"),
        "refused attempts are recorded too"
    );
    assert!(has(&entries, "user.add", "ok") && has(&entries, "user.disable", "ok"));
    let verify: Value = client()
        .get(format!("{base}/api/admin/audit/verify"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("verify")
        .json()
        .await
        .expect("json");
    assert_eq!(verify["ok"], true, "{verify}");
    app.shutdown().await;
}

#[tokio::test]
async fn approving_needs_the_runbooks_required_role() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), &users_toml()).await;
    let (_, editor) = create_token(&app, "editor", None).await;
    let (_, admin) = create_token(&app, "admin", None).await;
    let base = format!("http://{}", app.address);
    let (_, repair) = post_json_as(
        &format!("{base}/api/v1/error-monitoring/repair-task"),
        &editor,
        json!({ "runbook": "guarded" }),
    )
    .await;
    assert_eq!(repair["state"], "awaiting_approval", "{repair}");
    let id = repair["id"].as_str().expect("id");
    let approve = |token: String| {
        let url = format!("{base}/api/v1/repairs/{id}/approve");
        async move {
            answer(request_as(Method::POST, &url, &token), "approve")
                .await
                .0
        }
    };
    assert_eq!(
        approve(editor).await,
        StatusCode::FORBIDDEN.as_u16(),
        "editor < required admin"
    );
    assert_eq!(approve(admin).await, StatusCode::OK.as_u16());
    app.shutdown().await;
}

async fn tamper_and_verify(app: homeostat::app::App, tamper: &str) {
    let base = format!("http://{}", app.address);
    for _ in 0..3 {
        call(
            &app,
            Method::POST,
            "/api/v1/error-monitoring/stop",
            Some(TOKEN),
        )
        .await;
    }
    // Each stop's entry is written after its response: entry 2 must exist before it is edited.
    eventually(
        Duration::from_secs(30),
        "the three stops are in the audit log",
        || async {
            let audit = audit_log(&base, 100).await?;
            let stops = audit
                .as_array()?
                .iter()
                .filter(|e| e["action"] == "monitoring.stop")
                .count();
            (stops == 3).then_some(())
        },
    )
    .await;
    let verify = |base: String| async move {
        client()
            .get(format!("{base}/api/admin/audit/verify"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("verify")
            .json::<Value>()
            .await
            .expect("json")
    };
    assert_eq!(verify(base.clone()).await["ok"], true);
    let pool = sqlx::AnyPool::connect(&store_url_of(&app))
        .await
        .expect("connect");
    sqlx::query(tamper).execute(&pool).await.expect("tamper");
    let report = verify(base).await;
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["message"]
            .as_str()
            .is_some_and(|m| m.contains("audit entry 2 was modified")),
        "{report}"
    );
    app.shutdown().await;
}

fn store_url_of(app: &homeostat::app::App) -> String {
    app.state.config.store.url.get_ref().clone()
}

#[tokio::test]
async fn an_edited_audit_row_is_named_on_sqlite() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start_app(dir.path(), "").await;
    tamper_and_verify(app, "UPDATE audit SET outcome = 'ok-ish' WHERE id = 2").await;
}

#[tokio::test]
async fn an_edited_audit_row_is_named_on_postgres() {
    sqlx::any::install_default_drivers();
    let url = common::fresh_postgres().await;
    let app = start_app_on(&url, "").await;
    tamper_and_verify(app, "UPDATE audit SET actor = 'mallory' WHERE id = 2").await;
}

#[tokio::test]
async fn a_pruned_audit_log_still_verifies_and_still_detects_tampering() {
    use homeostat::security::audit::{AuditRecord, verify};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = homeostat::store::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("a.db").display()
    ))
    .await
    .expect("store");
    let append = |n: usize| {
        let store = store.clone();
        async move {
            for i in 0..n {
                store
                    .append_audit(&AuditRecord::new("t", "admin", "test", i.to_string(), "ok"))
                    .await
                    .expect("append");
            }
        }
    };
    append(3).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cutoff = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    append(2).await;
    assert_eq!(store.prune_audit(cutoff).await.expect("prune"), 3);
    let (entries, anchor, head) = store.audit_chain().await.expect("chain");
    assert_eq!(entries.len(), 2);
    assert_eq!(
        verify(&entries, (anchor.0, &anchor.1), (head.0, &head.1)),
        Ok(2)
    );
    sqlx::query("DELETE FROM audit WHERE id = 5")
        .execute(
            &sqlx::AnyPool::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
                .await
                .expect("pool"),
        )
        .await
        .expect("delete");
    let (entries, anchor, head) = store.audit_chain().await.expect("chain");
    assert!(
        verify(&entries, (anchor.0, &anchor.1), (head.0, &head.1))
            .is_err_and(|b| b.to_string().contains("after 4")),
        "deleting the newest entry is detected"
    );
}

/// The newest `limit` audit entries (as the admin token sees them); `None` while the request
/// fails.
async fn audit_log(base: &str, limit: u32) -> Option<Value> {
    common::fetch_json(&format!("{base}/api/admin/audit?limit={limit}")).await
}
