//! `command` check: runs a Nagios-convention plugin as an argv (no shell). Exit 0/1/2/3 map to
//! ok/warning/critical/unknown; perfdata becomes metrics; a timeout kills the process group.

use super::perfdata::parse_plugin_output;
use super::{Outcome, Probe, Status};
use crate::config::CommandSettings;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

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
        let argv = &self.settings.argv;
        let Some((program, args)) = argv.split_first() else {
            return Outcome::new(Status::Unknown, "empty command");
        };
        let mut child = match tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return Outcome::new(Status::Unknown, format!("cannot start {program}: {e}")),
        };
        let pid = child.id();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let (out, err) = tokio::join!(read_capped(stdout), read_capped(stderr));
            let status = child.wait().await;
            (status, out, err)
        };
        match tokio::time::timeout(timeout, run).await {
            Err(_) => {
                kill_group(pid);
                Outcome::new(
                    Status::Unknown,
                    format!(
                        "plugin timed out after {}",
                        humantime::format_duration(timeout)
                    ),
                )
            }
            Ok((Err(e), _, _)) => Outcome::new(Status::Unknown, format!("plugin wait failed: {e}")),
            Ok((Ok(exit), out, err)) => {
                let text = if out.trim().is_empty() { err } else { out };
                let parsed = parse_plugin_output(&text);
                let status = match exit.code() {
                    Some(code) => Status::from_code(i64::from(code)),
                    None => Status::Unknown,
                };
                let message = if parsed.message.is_empty() {
                    match exit.code() {
                        Some(code) => format!("exit {code}, no output"),
                        None => "killed by a signal".to_string(),
                    }
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
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut buf = Vec::new();
    let mut limited = pipe.take(OUTPUT_CAP);
    // A read error leaves what was read so far; the exit code still decides the status.
    let _ = limited.read_to_end(&mut buf).await;
    // Drain the rest so a chatty plugin does not block on a full pipe.
    let mut rest = limited.into_inner();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
}

/// Kills the whole process group led by `pid` (the plugin and anything it started).
pub(crate) fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; a stale pid group fails with ESRCH, which is harmless.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}
