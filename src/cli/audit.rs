//! `homeostat audit verify|export`: checks the audit log's hash chain (naming the first edited
//! or missing row; exit 1) and exports entries as JSON lines.

use super::store_admin::open_store;
use crate::config::Config;
use crate::security::audit;
use crate::store::AuditFilter;
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;

/// `homeostat audit ...`
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; exit 1 and name the row when it is broken.
    Verify,
    /// Print entries as JSON lines, oldest first.
    Export {
        /// Only entries at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// Runs an audit command.
pub async fn run(config: &Config, command: AuditCommand) -> Result<ExitCode> {
    let store = open_store(config).await?;
    let code = match command {
        AuditCommand::Verify => {
            let (entries, anchor, head) = store.audit_chain().await?;
            match audit::verify(&entries, (anchor.0, &anchor.1), (head.0, &head.1)) {
                Ok(n) => {
                    println!("audit log intact: {n} entries verified");
                    ExitCode::SUCCESS
                }
                Err(broken) => {
                    println!("audit log BROKEN: {broken}");
                    ExitCode::FAILURE
                }
            }
        }
        AuditCommand::Export { since } => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = 0;
            loop {
                let page = store
                    .list_audit(&AuditFilter {
                        since,
                        after_id: Some(after),
                        limit: 1000,
                        ..AuditFilter::default()
                    })
                    .await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for entry in &page {
                    writeln!(out, "{}", serde_json::to_string(entry)?)?;
                }
            }
            out.flush()?;
            ExitCode::SUCCESS
        }
    };
    store.close().await;
    Ok(code)
}
