//! A daemon for the dashboard scale benchmark: 1,000 `tcp` checks against a local listener and
//! 10,000 open incidents seeded into a fresh SQLite store. Prints `READY <url>` and serves until
//! stdin closes. Usage: `cargo run --release --example dashboard_scale [CHECKS] [INCIDENTS]`
//! (the bearer token is `scale-token`). `bench/dashboard_scale.sh` drives it with Chromium.

use homeostat::api::Authenticator;
use homeostat::app::App;
use homeostat::config::Config;
use homeostat::model::{Priority, Status};
use homeostat::store::{FailureRecord, Store};
use std::collections::BTreeMap;
use std::error::Error;
use std::path::Path;
use tokio::io::AsyncReadExt;

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let checks: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1000);
    let incidents: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("scale.db").display());
    let store = Store::connect(&url).await?;
    let labels = BTreeMap::new();
    let now = chrono::Utc::now();
    let priorities = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];
    for i in 0..incidents {
        let check = format!("svc-{:04}", i % checks.max(1));
        store
            .record_failure(&FailureRecord {
                fingerprint: &format!("scale:{i}"),
                title: &format!("{check} is critical (seeded incident {i})"),
                severity: Status::Critical,
                priority: priorities[i % 4],
                check: Some(&check),
                labels: &labels,
                started_at: now,
                at: now,
                message: "seeded by the dashboard scale benchmark",
                reopen_after_resolved: now,
            })
            .await?;
    }
    store.close().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let target = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{url}\"\n[incidents]\nresolve_after_ok = 1000000\n"
    );
    for i in 0..checks {
        text.push_str(&format!(
            "[[check]]\nname = \"svc-{i:04}\"\ntype = \"tcp\"\naddress = \"{target}\"\ninterval = \"10s\"\n"
        ));
    }
    let config = Config::parse(&text, Path::new("scale.toml"))?;
    let app = App::start(config, Authenticator::new(Some("scale-token".into()))).await?;
    println!("READY http://{}", app.address);
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    app.shutdown().await;
    Ok(())
}
