//! `homeostat status`: the daemon's status, health score and each check, as a table or JSON.

use super::client::DaemonClient;
use super::output::items;
use anyhow::Result;
use std::process::ExitCode;

/// Prints status and health; exit 0 when HEALTHY, 1 otherwise (so scripts can test it).
pub async fn run(client: &DaemonClient, json: bool) -> Result<ExitCode> {
    let status = client.get("/api/v1/error-monitoring/status").await?;
    let health = client.get("/api/v1/error-monitoring/health").await?;
    let checks = client.get("/api/v1/checks").await?;
    let healthy = health["status"] == "HEALTHY";
    if json {
        println!(
            "{}",
            serde_json::json!({ "status": status, "health": health, "checks": checks["checks"] })
        );
    } else {
        println!(
            "homeostat {}  mode {}  monitoring {}  health {} ({})  open incidents {}",
            status["version"].as_str().unwrap_or("?"),
            status["mode"].as_str().unwrap_or("?"),
            if status["running"] == true {
                "running"
            } else {
                "stopped"
            },
            health["score"],
            health["status"].as_str().unwrap_or("?"),
            status["open_incidents"],
        );
        println!(
            "{:<24} {:<8} {:<9} {:>10}  MESSAGE",
            "CHECK", "TYPE", "STATUS", "LATENCY"
        );
        for check in items(&checks, "checks") {
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
