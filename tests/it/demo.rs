//! `homeostat demo` from a newcomer's point of view: it starts, the sample service breaks by
//! itself, and Homeostat repairs it — within a minute and a half, with no configuration.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_heals_its_sample_service_by_itself() {
    let (api, sample) = (common::free_port(), common::free_port());
    let mut demo = common::homeostat()
        .args([
            "demo",
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--sample",
            &format!("127.0.0.1:{sample}"),
            "--token",
            "t",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start demo");
    let c = common::client();
    // The sample service breaks after 15-30 s; the repair follows within seconds.
    let repaired = common::eventually(Duration::from_secs(90), "a succeeded repair", || {
        let c = c.clone();
        async move {
            let body: serde_json::Value = c
                .get(format!(
                    "http://127.0.0.1:{api}/api/v1/repairs?state=succeeded"
                ))
                .bearer_auth("t")
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            body["repairs"].as_array().and_then(|r| r.first().cloned())
        }
    })
    .await;
    assert_eq!(repaired["runbook"], "restart-sample");
    let status = common::terminate(&mut demo, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}");
    // The demo stops its sample service on the way out.
    // Its process is SIGKILLed, not waited for: on a busy machine it can take a moment to go.
    common::eventually(
        Duration::from_secs(20),
        "sample service stopped",
        || async move {
            std::net::TcpStream::connect(("127.0.0.1", sample))
                .is_err()
                .then_some(())
        },
    )
    .await;
}
