//! `homeostat incidents [list|show ID|ack ID|resolve ID]`: operate incidents on a running daemon.

use super::client::DaemonClient;
use super::output::{items, list_path, text};
use anyhow::Result;
use serde_json::json;

/// What to do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// Only this state (open, acknowledged, remediating, escalated, resolved, closed).
        #[arg(long)]
        state: Option<String>,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one incident with its timeline.
    Show {
        /// Incident id.
        id: String,
    },
    /// Acknowledge an incident.
    Ack {
        /// Incident id.
        id: String,
        /// A note for the timeline.
        #[arg(long)]
        note: Option<String>,
    },
    /// Resolve an incident by hand.
    Resolve {
        /// Incident id.
        id: String,
        /// A note for the timeline.
        #[arg(long)]
        note: Option<String>,
    },
}

/// Runs `command` against the daemon; `json` prints raw JSON.
pub async fn run(client: &DaemonClient, command: IncidentsCommand, json: bool) -> Result<()> {
    let body = match &command {
        IncidentsCommand::List { state, limit } => {
            let path = list_path("/api/v1/incidents", state.as_deref(), *limit);
            client.get(&path).await?
        }
        IncidentsCommand::Show { id } => client.get(&format!("/api/v1/incidents/{id}")).await?,
        IncidentsCommand::Ack { id, note } | IncidentsCommand::Resolve { id, note } => {
            let verb = match command {
                IncidentsCommand::Ack { .. } => "ack",
                _ => "resolve",
            };
            let path = format!("/api/v1/incidents/{id}/{verb}");
            client.post(&path, &json!({ "note": note })).await?
        }
    };
    if json {
        println!("{body}");
        return Ok(());
    }
    match command {
        IncidentsCommand::List { .. } => {
            println!(
                "{:>6}  {:<3} {:<13} {:<9} {:<21} TITLE",
                "ID", "PRI", "STATE", "SEVERITY", "OPENED"
            );
            for i in items(&body, "incidents") {
                println!(
                    "{:>6}  {:<3} {:<13} {:<9} {:<21} {}",
                    text(i, "id"),
                    text(i, "priority"),
                    text(i, "state"),
                    text(i, "severity"),
                    text(i, "opened_at").get(..19).unwrap_or("-"),
                    text(i, "title")
                );
            }
            println!(
                "({} of {} shown)",
                body["incidents"].as_array().map_or(0, Vec::len),
                body["total"]
            );
        }
        IncidentsCommand::Show { .. } => {
            println!(
                "incident {}  {}  {}  {}",
                text(&body, "id"),
                text(&body, "priority"),
                text(&body, "state"),
                text(&body, "title")
            );
            println!(
                "opened {}  detected in {} s",
                text(&body, "opened_at"),
                body["time_to_detect_seconds"]
            );
            for entry in items(&body, "timeline") {
                println!(
                    "  {}  {:<13} {:<16} {}",
                    text(entry, "at"),
                    text(entry, "kind"),
                    text(entry, "actor"),
                    text(entry, "message")
                );
            }
        }
        IncidentsCommand::Ack { .. } | IncidentsCommand::Resolve { .. } => {
            println!(
                "incident {} is now {}",
                text(&body, "id"),
                text(&body, "state")
            );
        }
    }
    Ok(())
}
