//! Child processes: run an argv (never through a shell) in its own process group with a time
//! limit and a cancel token, capture bounded output, and kill the whole group when it must stop.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// What to run.
#[derive(Clone, Debug, Default)]
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

/// Runs `invocation`, killing the process group on timeout or when `cancel` fires.
pub async fn run(invocation: &Invocation<'_>, cancel: &CancellationToken) -> Finished {
    let started = Instant::now();
    let finished = |ending, stdout, stderr| Finished {
        ending,
        stdout,
        stderr,
        duration: started.elapsed(),
    };
    let Some((program, args)) = invocation.argv.split_first() else {
        return finished(
            Ending::SpawnFailed("empty command".into()),
            String::new(),
            String::new(),
        );
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(env) = invocation.env {
        command.envs(env);
    }
    if let Some(cwd) = invocation.cwd {
        command.current_dir(cwd);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return finished(
                Ending::SpawnFailed(format!("cannot start {program}: {e}")),
                String::new(),
                String::new(),
            );
        }
    };
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let cap = invocation.output_cap;
    let wait = async {
        let (out, err) = tokio::join!(read_capped(stdout, cap), read_capped(stderr, cap));
        (child.wait().await, out, err)
    };
    tokio::select! {
        (status, out, err) = wait => {
            let ending = match status {
                Ok(status) => Ending::Exited(status.code()),
                Err(e) => Ending::SpawnFailed(format!("wait failed: {e}")),
            };
            finished(ending, out, err)
        }
        _ = tokio::time::sleep(invocation.timeout) => {
            kill_group(pid);
            finished(Ending::TimedOut, String::new(), String::new())
        }
        _ = cancel.cancelled() => {
            kill_group(pid);
            finished(Ending::Cancelled, String::new(), String::new())
        }
    }
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>, cap: u64) -> String {
    let Some(pipe) = pipe else {
        return String::new();
    };
    let mut buf = Vec::new();
    let mut limited = pipe.take(cap);
    // A read error leaves what was read so far; the exit code still tells the outcome.
    let _ = limited.read_to_end(&mut buf).await;
    // Drain the rest so a chatty child does not block on a full pipe.
    let mut rest = limited.into_inner();
    let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
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
