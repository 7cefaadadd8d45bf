//! `signal` steps: send a signal to the process whose pid is in a pidfile (never pid 1 or less,
//! never Homeostat itself, never a process that started after the pidfile was written).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::Render;
use crate::config::{SignalName, SignalStep};

/// A signal and the pidfile naming its target, templates filled in.
pub(super) struct Target {
    pidfile: String,
    signal: SignalName,
}

impl Target {
    pub(super) fn new(step: &SignalStep, render: &Render<'_>) -> Result<Target, String> {
        Ok(Target {
            pidfile: render(&step.pidfile)?,
            signal: step.signal,
        })
    }

    pub(super) fn command(&self) -> Vec<String> {
        vec![
            "signal".to_string(),
            self.signal.as_str().to_string(),
            self.pidfile.clone(),
        ]
    }

    /// Reads the pid and sends the signal.
    pub(super) async fn send(&self) -> Result<String, String> {
        let text = tokio::fs::read_to_string(&self.pidfile)
            .await
            .map_err(|e| format!("cannot read pidfile {}: {e}", self.pidfile))?;
        let written = tokio::fs::metadata(&self.pidfile)
            .await
            .and_then(|m| m.modified())
            .map_err(|e| format!("cannot read pidfile {}: {e}", self.pidfile))?;
        let pid: i32 = text.trim().parse().map_err(|_| {
            format!(
                "pidfile {} does not hold a pid: {:?}",
                self.pidfile,
                text.trim()
            )
        })?;
        if pid <= 1 {
            return Err(format!(
                "refusing to signal pid {pid} (from {})",
                self.pidfile
            ));
        }
        if i32::try_from(std::process::id()) == Ok(pid) {
            return Err(format!(
                "refusing to signal Homeostat itself (pid {pid} from {})",
                self.pidfile
            ));
        }
        not_reused(pid, &self.pidfile, written)?;
        let name = self.signal.as_str();
        // SAFETY: kill only sends a signal, to one process (pid > 1 checked above).
        let rc = unsafe { libc::kill(pid, number(self.signal)) };
        if rc != 0 {
            let error = std::io::Error::last_os_error();
            return Err(format!("cannot send {name} to pid {pid}: {error}"));
        }
        Ok(format!("sent {name} to pid {pid}\n"))
    }
}

/// Refuses a pid whose process started after the pidfile was last written: that process cannot
/// be the one the pidfile names, it reused the pid (the service died and left its pidfile).
fn not_reused(pid: i32, pidfile: &str, written: SystemTime) -> Result<(), String> {
    let target = Pid::from_u32(pid.unsigned_abs());
    let mut system = System::new();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[target]),
        true,
        ProcessRefreshKind::nothing(),
    );
    let process = system
        .process(target)
        .ok_or_else(|| format!("no process with pid {pid} (from {pidfile})"))?;
    let started = UNIX_EPOCH + Duration::from_secs(process.start_time());
    // Start times are whole seconds.
    if started > written + Duration::from_secs(1) {
        return Err(format!(
            "refusing to signal pid {pid}: it started after {pidfile} was written, so it is another process that reused the pid"
        ));
    }
    Ok(())
}

fn number(signal: SignalName) -> libc::c_int {
    match signal {
        SignalName::Hup => libc::SIGHUP,
        SignalName::Int => libc::SIGINT,
        SignalName::Quit => libc::SIGQUIT,
        SignalName::Kill => libc::SIGKILL,
        SignalName::Usr1 => libc::SIGUSR1,
        SignalName::Usr2 => libc::SIGUSR2,
        SignalName::Term => libc::SIGTERM,
        SignalName::Cont => libc::SIGCONT,
        SignalName::Stop => libc::SIGSTOP,
    }
}
