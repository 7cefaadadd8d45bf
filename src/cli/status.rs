//! `homeostat status`: the daemon's status, health score and each check, as a table or JSON.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::process::ExitCode;

/// Fetches `path` from the daemon at `server` with `token`.
async fn get(
    client: &reqwest::Client,
    server: &str,
    path: &str,
    token: Option<&str>,
) -> Result<Value> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let mut request = client.get(&url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{url}: the answer is not JSON"))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        let hint = if status.as_u16() == 401 {
            " (set HOMEOSTAT_TOKEN or --token)"
        } else {
            ""
        };
        bail!("{url}: HTTP {status}: {message}{hint}");
    }
    Ok(body)
}

/// Prints status and health; exit 0 when HEALTHY, 1 otherwise (so scripts can test it).
pub async fn run(server: &str, token: Option<&str>, json: bool) -> Result<ExitCode> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    let status = get(&client, server, "/api/v1/error-monitoring/status", token).await?;
    let health = get(&client, server, "/api/v1/error-monitoring/health", token).await?;
    let checks = get(&client, server, "/api/v1/checks", token).await?;
    let healthy = health["status"] == "HEALTHY";
    if json {
        println!(
            "{}",
            serde_json::json!({ "status": status, "health": health, "checks": checks["checks"] })
        );
    } else {
        println!(
            "homeostat {}  mode {}  monitoring {}  health {} ({})",
            status["version"].as_str().unwrap_or("?"),
            status["mode"].as_str().unwrap_or("?"),
            if status["running"] == true {
                "running"
            } else {
                "stopped"
            },
            health["score"],
            health["status"].as_str().unwrap_or("?"),
        );
        println!(
            "{:<24} {:<8} {:<9} {:>10}  MESSAGE",
            "CHECK", "TYPE", "STATUS", "LATENCY"
        );
        for check in checks["checks"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let latency = check["last"]["latency_ms"]
                .as_f64()
                .map_or("-".to_string(), |ms| format!("{ms:.1} ms"));
            println!(
                "{:<24} {:<8} {:<9} {:>10}  {}",
                check["name"].as_str().unwrap_or("?"),
                check["type"].as_str().unwrap_or("?"),
                check["status"].as_str().unwrap_or("?"),
                latency,
                check["last"]["message"].as_str().unwrap_or("not run yet"),
            );
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
