//! `command` check: runs a Nagios-convention plugin as an argv (no shell). Exit 0/1/2/3 map to
//! ok/warning/critical/unknown; perfdata becomes metrics; a timeout kills the process group.

use super::perfdata::parse_plugin_output;
use super::{Outcome, Probe};
use crate::config::CommandSettings;
use crate::model::Status;
use crate::process::{self, Ending, Invocation};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Output read from a plugin, at most (the rest is discarded).
const OUTPUT_CAP: u64 = 64 * 1024;

/// Runs a monitoring plugin.
pub struct CommandProbe {
    settings: CommandSettings,
}

impl CommandProbe {
    /// A probe for `settings`.
    pub fn new(settings: CommandSettings) -> CommandProbe {
        CommandProbe { settings }
    }
}

impl Probe for CommandProbe {
    async fn probe(&self, timeout: Duration) -> Outcome {
        let invocation = Invocation {
            argv: &self.settings.argv,
            timeout,
            output_cap: OUTPUT_CAP,
            ..Invocation::default()
        };
        let finished = process::run(&invocation, &CancellationToken::new()).await;
        let code = match finished.ending {
            Ending::Exited(code) => code,
            Ending::TimedOut | Ending::Cancelled => {
                return Outcome::new(
                    Status::Unknown,
                    format!(
                        "plugin timed out after {}",
                        humantime::format_duration(timeout)
                    ),
                );
            }
            Ending::SpawnFailed(e) => return Outcome::new(Status::Unknown, e),
        };
        let text = if finished.stdout.trim().is_empty() {
            finished.stderr
        } else {
            finished.stdout
        };
        let parsed = parse_plugin_output(&text);
        let status = code.map_or(Status::Unknown, |c| Status::from_code(i64::from(c)));
        let message = if parsed.message.is_empty() {
            code.map_or_else(
                || "killed by a signal".to_string(),
                |c| format!("exit {c}, no output"),
            )
        } else {
            parsed.message
        };
        let mut outcome = Outcome::new(status, message);
        for (name, value) in parsed.metrics {
            outcome = outcome.metric(name, value);
        }
        outcome
    }
}
