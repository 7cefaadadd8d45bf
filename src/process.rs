//! Processes: run an argv (never through a shell) in its own process group with a time limit
//! and a cancel token, capture bounded output, kill the whole group when it must stop; and hand
//! this daemon's own free heap back to the OS.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// Told the pid (= process group id) of the child right after it starts.
pub type SpawnReporter<'a> = &'a (dyn Fn(u32) + Send + Sync);

/// What to run.
#[derive(Clone, Default)]
pub struct Invocation<'a> {
    /// Program and arguments.
    pub argv: &'a [String],
    /// Extra environment variables.
    pub env: Option<&'a BTreeMap<String, String>>,
    /// Working directory.
    pub cwd: Option<&'a str>,
    /// Time limit.
    pub timeout: Duration,
    /// Bytes of stdout and of stderr kept, each.
    pub output_cap: u64,
    /// Called with the child's pid once it runs (e.g. to record it for crash recovery).
    pub on_spawn: Option<SpawnReporter<'a>>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The process exited; its code (`None` when killed by a signal).
    Exited(Option<i32>),
    /// The time limit passed; the group was killed.
    TimedOut,
    /// The cancel token fired; the group was killed.
    Cancelled,
    /// It could not be started.
    SpawnFailed(String),
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Finished {
    /// How it ended.
    pub ending: Ending,
    /// Captured stdout (lossy UTF-8, capped).
    pub stdout: String,
    /// Captured stderr (lossy UTF-8, capped).
    pub stderr: String,
    /// Wall time.
    pub duration: Duration,
}

/// How long output is still collected after the child exits: a child that started a daemon in
/// the background (which keeps the pipes open) must not make the step wait for its timeout.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Kills the process group if the run is abandoned (its future dropped) before the child exited.
struct GroupGuard {
    pid: Option<u32>,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            kill_group(self.pid);
        }
    }
}

/// Environment variables of the daemon that hold credentials: removed from every child.
pub const INHERITED_SECRETS: [&str; 3] = [
    "HOMEOSTAT_MASTER_KEY",
    "HOMEOSTAT_ADMIN_TOKEN",
    "HOMEOSTAT_TOKEN",
];

/// Runs `invocation`, killing the process group on timeout, when `cancel` fires, or when the
/// returned future is dropped before the child exits. Processes the child left running in the
/// background after it exited normally are not killed (a restart step may start a daemon).
pub async fn run(invocation: &Invocation<'_>, cancel: &CancellationToken) -> Finished {
    let started = Instant::now();
    let Some((program, args)) = invocation.argv.split_first() else {
        return Finished {
            ending: Ending::SpawnFailed("empty command".into()),
            stdout: String::new(),
            stderr: String::new(),
            duration: started.elapsed(),
        };
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Steps and plugins never see the daemon's own credentials.
    for name in INHERITED_SECRETS {
        command.env_remove(name);
    }
    if let Some(env) = invocation.env {
        command.envs(env);
    }
    if let Some(cwd) = invocation.cwd {
        command.current_dir(cwd);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return Finished {
                ending: Ending::SpawnFailed(format!("cannot start {program}: {e}")),
                stdout: String::new(),
                stderr: String::new(),
                duration: started.elapsed(),
            };
        }
    };
    let mut guard = GroupGuard {
        pid: child.id(),
        armed: true,
    };
    if let (Some(report), Some(pid)) = (invocation.on_spawn, guard.pid) {
        report(pid);
    }
    let stdout = Capture::start(child.stdout.take(), invocation.output_cap);
    let stderr = Capture::start(child.stderr.take(), invocation.output_cap);
    let ending = tokio::select! {
        status = child.wait() => match status {
            Ok(status) => Ending::Exited(status.code()),
            Err(e) => Ending::SpawnFailed(format!("wait failed: {e}")),
        },
        _ = tokio::time::sleep(invocation.timeout) => {
            kill_group(guard.pid);
            Ending::TimedOut
        }
        _ = cancel.cancelled() => {
            kill_group(guard.pid);
            Ending::Cancelled
        }
    };
    guard.armed = false;
    let duration = started.elapsed();
    let (stdout, stderr) = tokio::join!(stdout.finish(), stderr.finish());
    Finished {
        ending,
        stdout,
        stderr,
        duration,
    }
}

/// Output of one pipe, read in the background up to a cap (the rest is drained and dropped).
struct Capture {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    fn start<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
        pipe: Option<R>,
        cap: u64,
    ) -> Capture {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = pipe.map(|mut pipe| {
            let buffer = std::sync::Arc::clone(&buffer);
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                let cap = usize::try_from(cap).unwrap_or(usize::MAX);
                // A read error ends the capture with what was read so far.
                while let Ok(n) = pipe.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    let mut kept = buffer.lock().unwrap_or_else(|p| p.into_inner());
                    let room = cap.saturating_sub(kept.len()).min(n);
                    kept.extend_from_slice(&chunk[..room]);
                }
            })
        });
        Capture { buffer, task }
    }

    /// Waits up to `DRAIN_GRACE` for the pipe to close, then returns what was captured.
    async fn finish(mut self) -> String {
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(DRAIN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        let bytes = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The start time of process `pid` in clock ticks since boot (`/proc/PID/stat` field 22): with
/// the pid it identifies one process even after pids are reused.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Kills the process group `pgid` if its leader is still the process that started at
/// `ticks` (never a stranger that reused the pid). Returns whether it did.
pub fn kill_orphaned_group(pgid: u32, ticks: u64) -> bool {
    if start_ticks(pgid) != Some(ticks) {
        return false;
    }
    kill_group(Some(pgid));
    true
}

/// Kills the whole process group led by `pid` (the child and everything it started).
fn kill_group(pid: Option<u32>) {
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: killpg only sends a signal; a stale group fails with ESRCH, which is harmless.
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
        }
    }
}

/// Hands the allocator's free pages back to the OS (glibc keeps freed memory inside its heaps,
/// where it counts as the daemon's resident memory); called after start-up and after each
/// retention pass, both of which free more than steady operation reuses.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[tokio::test]
    async fn a_daemon_left_in_the_background_neither_blocks_nor_gets_killed() {
        let dir =
            std::env::temp_dir().join(format!("homeostat-process-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pidfile = dir.join("daemon.pid");
        let script = format!("sleep 30 & echo $! > {}; echo started", pidfile.display());
        let command = argv(&["sh", "-c", &script]);
        let invocation = Invocation {
            argv: &command,
            timeout: Duration::from_secs(20),
            output_cap: 1024,
            ..Invocation::default()
        };
        let finished = run(&invocation, &CancellationToken::new()).await;
        assert_eq!(finished.ending, Ending::Exited(Some(0)));
        assert_eq!(finished.stdout, "started\n");
        assert!(
            finished.duration < Duration::from_secs(5),
            "waited {:?} for the daemon's pipes",
            finished.duration
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid")
            .trim()
            .parse()
            .expect("pid");
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the background daemon was killed"
        );
        // SAFETY: cleaning up the daemon this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_abandoned_run_kills_its_process_group() {
        let dir =
            std::env::temp_dir().join(format!("homeostat-process-abandon-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let pidfile = dir.join("child.pid");
        let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let command = argv(&["sh", "-c", &script]);
        let task = tokio::spawn(async move {
            let invocation = Invocation {
                argv: &command,
                timeout: Duration::from_secs(60),
                output_cap: 1024,
                ..Invocation::default()
            };
            run(&invocation, &CancellationToken::new()).await
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        let pid: i32 = loop {
            if let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                break pid;
            }
            assert!(Instant::now() < deadline, "child never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        task.abort();
        let _ = task.await;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the grandchild survived an abandoned run"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
