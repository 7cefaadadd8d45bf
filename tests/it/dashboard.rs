//! The web dashboard in a real headless Chromium against the real app: an operator signs in,
//! sees the checks, watches an incident appear live and its repair succeed, approves a gated
//! repair with a click, rides out a daemon restart, and engages and lifts the emergency stop.
//! Needs `/usr/bin/chromium` and `tests/browser/node_modules` (`npm ci` there); fails without.

use crate::common;

use common::{Behaviour, TOKEN, Target, eventually};
use homeostat::api::Authenticator;
use homeostat::app::App;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The browser the script drives (Debian's `chromium` package).
const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser story must finish within this.
const STORY: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/screenshots`: test artifacts to look at after a run.
fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("screenshots")
}

/// The dashboard user (an editor: enough to approve, stop and resume).
const OPERATOR: &str = "olivia";
const OPERATOR_PASSWORD: &str = "a-long-operator-password";

/// Two checks on real HTTP targets; `api` is repaired automatically, `gated` after approval.
/// Each repair's step leaves a file behind: the proof the test waits for before the target
/// "comes back".
fn config_text(port: u16, dir: &Path, api: &Target, gated: &Target) -> String {
    let d = dir.display();
    let hash = homeostat::security::password::hash(OPERATOR_PASSWORD).expect("hash");
    format!(
        r#"
[[user]]
name = "{OPERATOR}"
password_hash = "{hash}"
role = "editor"

[server]
listen = "127.0.0.1:{port}"
[store]
url = "sqlite://{d}/homeostat.db"
flush_interval = "100ms"

[[check]]
name = "api"
type = "http"
url = "{api}"
interval = "200ms"
timeout = "1s"
remedy = ["restart-api"]

[[check]]
name = "gated"
type = "http"
url = "{gated}"
interval = "200ms"
timeout = "1s"
remedy = ["restart-gated"]

[[log]]
name = "app"
path = "{d}/app.log"
from = "start"

[[runbook]]
name = "restart-api"
steps = [ {{ run = ["touch", "{d}/api.repaired"] }} ]
verify = {{ check = "api", within = "60s" }}

[[runbook]]
name = "restart-gated"
steps = [ {{ run = ["touch", "{d}/gated.repaired"] }} ]
verify = {{ check = "gated", within = "60s" }}
approval = "required"
risk = "medium"
"#,
        api = api.url(),
        gated = gated.url(),
    )
}

async fn start(text: &str) -> App {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match App::start(
            common::config(text),
            Authenticator::new(Some(TOKEN.to_string())),
        )
        .await
        {
            Ok(app) => return app,
            // The previous daemon's port may take a moment to be free again.
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("daemon not started yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("daemon does not start: {e}"),
        }
    }
}

/// Once the repair has left its file, the target answers healthy again.
fn heal_after_repair(target: Arc<Target>, proof: PathBuf) {
    tokio::spawn(async move {
        eventually(Duration::from_secs(60), "the repair step ran", || async {
            proof.exists().then_some(())
        })
        .await;
        target.set(Behaviour::Healthy);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_follows_an_incident_approves_a_repair_and_stops_everything_in_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: apt-get install -y chromium chromium-driver"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules is missing: run `npm ci` in tests/browser"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let api = Arc::new(Target::start().await);
    let gated = Arc::new(Target::start().await);
    let port = common::free_port();
    let text = config_text(port, dir.path(), &api, &gated);
    let lines: String = (0..40)
        .map(|i| format!("payment declined for order {i} customer c{i}@example.com\n"))
        .collect();
    std::fs::write(dir.path().join("app.log"), lines).expect("app log");
    let mut app = Some(start(&text).await);
    let base = format!("http://127.0.0.1:{port}");
    let shots = screenshot_dir();

    let mut node = tokio::process::Command::new("node")
        .arg(browser_dir().join("dashboard.mjs"))
        .args([base.as_str(), TOKEN])
        .arg(&shots)
        .args([OPERATOR, OPERATOR_PASSWORD])
        .current_dir(browser_dir())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs (is Node.js installed?)");
    let stdout = node.stdout.take().expect("piped stdout");
    let story = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await.expect("read the script's output") {
            println!("browser: {line}");
            match line.strip_prefix("@@ ").map(str::trim) {
                Some("fail api") => api.set(Behaviour::Error),
                Some("fail gated") => gated.set(Behaviour::Error),
                Some("heal api") => {
                    heal_after_repair(Arc::clone(&api), dir.path().join("api.repaired"))
                }
                Some("heal gated") => {
                    heal_after_repair(Arc::clone(&gated), dir.path().join("gated.repaired"))
                }
                Some("restart") => {
                    if let Some(running) = app.take() {
                        running.shutdown().await;
                    }
                    app = Some(start(&text).await);
                }
                Some(other) => panic!("the browser script asked for something unknown: {other}"),
                None => {}
            }
        }
        node.wait().await.expect("wait for node")
    };
    let status = tokio::time::timeout(STORY, story)
        .await
        .unwrap_or_else(|_| panic!("the browser story did not finish within {STORY:?}"));
    assert!(
        status.success(),
        "the browser story failed ({status}); screenshots in {}",
        shots.display()
    );
    if let Some(app) = app {
        app.shutdown().await;
    }
}

#[tokio::test]
async fn the_dashboard_is_served_without_a_token_and_its_data_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = common::start_app(dir.path(), "").await;
    let base = format!("http://{}", app.address);
    let client = common::client();
    for path in ["/", "/hitl/approve/42"] {
        let response = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200, "{path}");
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        let html = response.text().await.expect("text");
        assert!(html.contains("/assets/app.js"), "{path}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no outside fetch"
        );
    }
    let script = client
        .get(format!("{base}/assets/app.js"))
        .send()
        .await
        .expect("get");
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/javascript"))
    );
    let etag = script.headers()["etag"].clone();
    let again = client
        .get(format!("{base}/assets/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("get");
    assert_eq!(again.status(), 304, "an unchanged asset is not sent again");
    let missing = client
        .get(format!("{base}/assets/nope.js"))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
    let data = client
        .get(format!("{base}/api/v1/checks"))
        .send()
        .await
        .expect("get");
    assert_eq!(data.status(), 401, "the page is public, its data is not");
    app.shutdown().await;
}
