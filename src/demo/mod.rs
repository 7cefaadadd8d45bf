//! `homeostat demo`: a self-contained demo — an embedded config, a flaky sample service that
//! Homeostat watches and repairs, and the API on 127.0.0.1:9780.

pub mod sample;

use crate::api::Authenticator;
use crate::app::App;
use crate::config::Config;
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::Path;

/// The demo config; `{exe}`, `{dir}`, `{sample}` and `{listen}` are filled in at start.
const DEMO_CONFIG: &str = r#"
[server]
listen = "{listen}"

[store]
url = "sqlite://{dir}/demo.db"

[policy]
mode = "enforce"
max_concurrent_repairs = 2
max_repairs_per_hour = 60

[incidents]
resolve_after_ok = 2
close_after = "2m"

[[check]]
name = "sample-api"
type = "http"
url = "http://{sample}/health"
interval = "1s"
timeout = "2s"
body_contains = "ok"
failures_before_critical = 2
impact = "high"
remedy = ["restart-sample"]
labels = { service = "sample" }

[[check]]
name = "sample-port"
type = "tcp"
address = "{sample}"
interval = "5s"

[[check]]
name = "demo-host"
type = "host"
interval = "10s"
disk_path = "{dir}"
disk_crit_percent = 98

[[runbook]]
name = "restart-sample"
steps = [ { run = ["{exe}", "sample-service", "--restart", "--listen", "{sample}", "--log", "{dir}/sample.log", "--pidfile", "{dir}/sample.pid"], timeout = "15s" } ]
verify = { check = "sample-api", within = "15s" }
max_attempts = 10
window = "10m"
cooldown = "2m"
"#;

/// Runs the demo until Ctrl-C: starts the sample service, then the daemon watching it.
pub async fn run(listen: SocketAddr, sample: SocketAddr, token: &str) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("homeostat-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().context("locating the homeostat binary")?;
    let text = DEMO_CONFIG
        .replace("{exe}", &exe.display().to_string())
        .replace("{dir}", &dir.display().to_string())
        .replace("{sample}", &sample.to_string())
        .replace("{listen}", &listen.to_string());
    let config_path = dir.join("homeostat.toml");
    std::fs::write(&config_path, &text)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let config =
        Config::parse(&text, Path::new("demo.toml")).context("the embedded demo config")?;
    let pidfile = dir.join("sample.pid");
    sample::restart(sample, &dir.join("sample.log"), &pidfile).await?;
    let stop = crate::app::StopSignals::listen();
    let app = App::start(config, Authenticator::new(Some(token.to_string()))).await?;
    println!(
        "\nHomeostat demo is running.\n\
         \n  dashboard  http://{addr}/   (token: {token})\
         \n  API        http://{addr}/api/v1/error-monitoring/status   (token: {token})\
         \n  events     curl -N -H 'Authorization: Bearer {token}' http://{addr}/api/v1/events\
         \n  metrics    http://{addr}/metrics\
         \n  status     HOMEOSTAT_TOKEN={token} homeostat status --server http://{addr}\
         \n  incidents  HOMEOSTAT_TOKEN={token} homeostat incidents --server http://{addr}\
         \n  repairs    HOMEOSTAT_TOKEN={token} homeostat repairs --server http://{addr}\
         \n  files      {dir}  (config, database, sample.log)\
         \n\nThe sample service on {sample} breaks by itself every 15-30 s (crash, HTTP 500 or hang);\
         \nwatch Homeostat open an incident, restart it, verify and resolve. Ctrl-C (or SIGTERM) stops everything.\n",
        addr = app.address,
        dir = dir.display(),
    );
    stop.wait().await;
    app.shutdown().await;
    if let Some(pid) = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        // SAFETY: stopping the sample service the demo started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    Ok(())
}
