//! `homeostat repairs [list|show ID]`, `approve ID`, `deny ID`, `emergency-stop`, `resume`:
//! operate repairs and the kill switch on a running daemon.

use super::client::DaemonClient;
use super::output::{items, list_path, text};
use anyhow::Result;
use serde_json::{Value, json};

/// What to do with repairs.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RepairsCommand {
    /// List repairs, newest first.
    List {
        /// Only this state (queued, awaiting_approval, running, verifying, succeeded, failed,
        /// rolled_back, denied, cancelled, interrupted).
        #[arg(long)]
        state: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one repair with the exact commands and their output.
    Show {
        /// Repair id.
        id: String,
    },
}

/// Runs a repairs command.
pub async fn run(client: &DaemonClient, command: RepairsCommand, json: bool) -> Result<()> {
    match command {
        RepairsCommand::List { state, limit } => {
            let path = list_path("/api/v1/repairs", state.as_deref(), limit);
            let body = client.get(&path).await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            println!(
                "{:>6}  {:>8}  {:<18} {:<20} {:<8} ERROR",
                "ID", "INCIDENT", "STATE", "RUNBOOK", "DRY-RUN"
            );
            for r in items(&body, "repairs") {
                println!(
                    "{:>6}  {:>8}  {:<18} {:<20} {:<8} {}",
                    text(r, "id"),
                    text(r, "incident_id"),
                    text(r, "state"),
                    text(r, "runbook"),
                    r["dry_run"],
                    r["error"].as_str().unwrap_or("")
                );
            }
        }
        RepairsCommand::Show { id } => {
            let body = client.get(&format!("/api/v1/repairs/{id}")).await?;
            if json {
                println!("{body}");
                return Ok(());
            }
            println!(
                "repair {}  {}  runbook {}  incident {}",
                text(&body, "id"),
                text(&body, "state"),
                text(&body, "runbook"),
                text(&body, "incident_id")
            );
            if let Some(error) = body["error"].as_str() {
                println!("error: {error}");
            }
            for step in items(&body, "steps") {
                let argv: Vec<&str> = step["command"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                println!(
                    "  [{}] {:?} exit {} in {} ms",
                    text(step, "phase"),
                    argv,
                    step["exit_code"],
                    step["duration_ms"]
                );
                for line in step["output"].as_str().unwrap_or_default().lines() {
                    println!("      {line}");
                }
            }
        }
    }
    Ok(())
}

/// Approves (`approve = true`) or denies a repair awaiting approval.
pub async fn decide(
    client: &DaemonClient,
    id: &str,
    approve: bool,
    note: Option<&str>,
    json: bool,
) -> Result<()> {
    let verb = if approve { "approve" } else { "deny" };
    let body = client
        .post(
            &format!("/api/v1/repairs/{id}/{verb}"),
            &json!({ "note": note }),
        )
        .await?;
    if json {
        println!("{body}");
    } else {
        println!(
            "repair {} is now {}",
            text(&body, "id"),
            text(&body, "state")
        );
    }
    Ok(())
}

/// Engages (`stop = true`) or lifts the emergency stop.
pub async fn kill_switch(client: &DaemonClient, stop: bool) -> Result<()> {
    let path = if stop {
        "/api/v1/error-monitoring/emergency-stop"
    } else {
        "/api/v1/error-monitoring/resume"
    };
    let body = client.post(path, &json!({})).await?;
    if body["emergency_stop"] == true {
        println!(
            "EMERGENCY STOP engaged: no repair will start; running steps were killed. `homeostat resume` lifts it."
        );
    } else {
        println!("emergency stop lifted: repairs may run again");
    }
    Ok(())
}
