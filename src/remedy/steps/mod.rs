//! Runbook steps as they run: `execute` does any step kind (`run`, `http`, `sleep`, `signal`,
//! `cleanup`, `redis`, `sql`) within its timeout and the kill token; `plan` records it for dry-run.

mod cleanup;
mod http;
mod redis;
mod signal;
mod sql;

use super::template::{
    render_json_str, render_shell_str, render_sql_str, render_str, render_url_str,
};
use crate::config::{StepConfig, StepKind};
use crate::model::StepRecord;
use crate::process::{self, Ending, Invocation, SpawnReporter};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Output kept per stream of a step.
const STEP_OUTPUT_CAP: usize = 64 * 1024;

/// Fills the templates of one string value.
type Render<'a> = dyn Fn(&str) -> Result<String, String> + 'a;

/// How templates are filled, by where the value goes.
struct Fill<'r> {
    /// Argv elements and the values of built-in steps, as they are.
    plain: &'r Render<'r>,
    /// `shell = true` steps: every value shell-quoted, so it stays one word.
    shell: &'r Render<'r>,
    /// SQL statements: plain words only (see `render_sql_str`).
    sql: &'r Render<'r>,
    /// URLs of `http` steps: values percent-encoded (see `render_url_str`).
    url: &'r Render<'r>,
    /// JSON bodies of `http` steps: values escaped for JSON (see `render_json_str`).
    json: &'r Render<'r>,
}

/// A step with its templates filled in: exactly what will be done.
enum Action<'a> {
    /// A process, bounded by `process::run`.
    Run {
        argv: Vec<String>,
        env: Option<&'a BTreeMap<String, String>>,
        cwd: Option<&'a str>,
    },
    /// Done in this process, bounded by `execute`.
    Builtin(Builtin),
}

/// A built-in step with its templates filled in.
enum Builtin {
    Http(http::Request),
    Sleep(Duration),
    Signal(signal::Target),
    Cleanup(cleanup::Sweep),
    Redis(redis::Command),
    Sql(sql::Statement),
}

/// What a built-in step did: its output, and why it failed if it did.
struct Outcome {
    output: String,
    error: Option<String>,
}

impl From<Result<String, String>> for Outcome {
    fn from(result: Result<String, String>) -> Self {
        match result {
            Ok(output) => Outcome {
                output,
                error: None,
            },
            Err(error) => Outcome {
                output: String::new(),
                error: Some(error),
            },
        }
    }
}

impl<'a> Action<'a> {
    /// `fill` fills the templates: shell-quoted values in `shell = true` steps (a templated
    /// value stays one word and cannot inject shell syntax), plain words only in SQL.
    fn new(kind: StepKind<'a>, fill: &Fill<'_>) -> Result<Action<'a>, String> {
        let render = fill.plain;
        Ok(match kind {
            StepKind::Run {
                argv,
                shell,
                env,
                cwd,
            } => {
                let each = if shell { fill.shell } else { fill.plain };
                let argv = argv
                    .iter()
                    .map(|a| each(a))
                    .collect::<Result<Vec<_>, _>>()?;
                let argv = if shell {
                    vec!["/bin/sh".to_string(), "-c".to_string(), argv.join(" ")]
                } else {
                    argv
                };
                Action::Run { argv, env, cwd }
            }
            StepKind::Http(step) => Action::Builtin(Builtin::Http(http::Request::new(step, fill)?)),
            StepKind::Sleep(duration) => Action::Builtin(Builtin::Sleep(duration)),
            StepKind::Signal(step) => {
                Action::Builtin(Builtin::Signal(signal::Target::new(step, render)?))
            }
            StepKind::Cleanup(step) => {
                Action::Builtin(Builtin::Cleanup(cleanup::Sweep::new(step, render)?))
            }
            StepKind::Redis(step) => {
                Action::Builtin(Builtin::Redis(redis::Command::new(step, render)?))
            }
            StepKind::Sql(step) => {
                Action::Builtin(Builtin::Sql(sql::Statement::new(step, render, fill.sql)?))
            }
        })
    }

    /// What the step record shows as its command.
    fn command(&self) -> Vec<String> {
        match self {
            Action::Run { argv, .. } => argv.clone(),
            Action::Builtin(Builtin::Http(request)) => request.command(),
            Action::Builtin(Builtin::Sleep(duration)) => vec![
                "sleep".to_string(),
                humantime::format_duration(*duration).to_string(),
            ],
            Action::Builtin(Builtin::Signal(target)) => target.command(),
            Action::Builtin(Builtin::Cleanup(sweep)) => sweep.command(),
            Action::Builtin(Builtin::Redis(command)) => command.command(),
            Action::Builtin(Builtin::Sql(statement)) => statement.command(),
        }
    }
}

impl Builtin {
    async fn perform(&self, timeout: Duration, kill: &CancellationToken) -> Outcome {
        match self {
            Builtin::Http(request) => request.send(timeout).await,
            Builtin::Sleep(duration) => {
                tokio::time::sleep(*duration).await;
                Ok(String::new()).into()
            }
            Builtin::Signal(target) => target.send().await.into(),
            Builtin::Cleanup(sweep) => sweep.run(kill).await,
            Builtin::Redis(command) => command.send().await.into(),
            Builtin::Sql(statement) => statement.run().await.into(),
        }
    }
}

/// The step's action with templates filled from `context`.
fn action<'a>(step: &'a StepConfig, context: &minijinja::Value) -> Result<Action<'a>, String> {
    let kind = step.kind().map_err(|errors| {
        errors
            .into_iter()
            .map(|(_, message)| message)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Action::new(
        kind,
        &Fill {
            plain: &|text| render_str(text, context),
            shell: &|text| render_shell_str(text, context),
            sql: &|text| render_sql_str(text, context),
            url: &|text| render_url_str(text, context),
            json: &|text| render_json_str(text, context),
        },
    )
}

/// The step as written, templates unfilled (for records of steps whose templates fail).
fn raw_command(step: &StepConfig) -> Vec<String> {
    match step.kind() {
        Ok(StepKind::Run { argv, .. }) => argv.to_vec(),
        Ok(kind) => {
            let as_written: &Render<'_> = &|text| Ok(text.to_string());
            let fill = Fill {
                plain: as_written,
                shell: as_written,
                sql: as_written,
                url: as_written,
                json: as_written,
            };
            Action::new(kind, &fill)
                .map(|a| a.command())
                .unwrap_or_default()
        }
        Err(_) => Vec::new(),
    }
}

/// The dry-run record of `step`: the exact command it would run, nothing run.
pub fn plan(step: &StepConfig, context: &minijinja::Value, phase: &str) -> StepRecord {
    let command = match action(step, context) {
        Ok(action) => action.command(),
        Err(e) => raw_command(step)
            .into_iter()
            .chain([format!("<{e}>")])
            .collect(),
    };
    StepRecord {
        phase: phase.into(),
        command,
        exit_code: None,
        output: String::new(),
        duration_ms: 0,
        error: Some("dry-run: not run".into()),
    }
}

/// Runs `step` within its timeout; the kill token (emergency stop) ends it at once. The record's
/// `error` says why it failed, if it did; built-in kinds report exit code 0 on success.
pub async fn execute(
    step: &StepConfig,
    context: &minijinja::Value,
    kill: &CancellationToken,
    phase: &str,
) -> StepRecord {
    execute_reporting(step, context, kill, phase, None).await
}

/// `execute`, telling `on_spawn` the process group of a `run` step as soon as it starts.
pub async fn execute_reporting(
    step: &StepConfig,
    context: &minijinja::Value,
    kill: &CancellationToken,
    phase: &str,
    on_spawn: Option<SpawnReporter<'_>>,
) -> StepRecord {
    let started = Instant::now();
    let record = |command, exit_code, output: String, error| StepRecord {
        phase: phase.into(),
        command,
        exit_code,
        output,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error,
    };
    let action = match action(step, context) {
        Ok(action) => action,
        Err(e) => return record(raw_command(step), None, String::new(), Some(e)),
    };
    let command = action.command();
    if kill.is_cancelled() {
        let error = Some("killed by the emergency stop".to_string());
        return record(command, None, String::new(), error);
    }
    let builtin = match action {
        Action::Run { argv, env, cwd } => {
            let (exit_code, output, error) =
                run_process(&argv, env, cwd, step, kill, on_spawn).await;
            return record(command, exit_code, output, error);
        }
        Action::Builtin(builtin) => builtin,
    };
    let timeout = step.timeout.get();
    let outcome = tokio::select! {
        outcome = builtin.perform(timeout, kill) => outcome,
        _ = tokio::time::sleep(timeout) => Err(format!("timed out after {}", step.timeout)).into(),
        _ = kill.cancelled() => Err("killed by the emergency stop".to_string()).into(),
    };
    let exit_code = outcome.error.is_none().then_some(0);
    record(command, exit_code, truncate(outcome.output), outcome.error)
}

async fn run_process(
    argv: &[String],
    env: Option<&BTreeMap<String, String>>,
    cwd: Option<&str>,
    step: &StepConfig,
    kill: &CancellationToken,
    on_spawn: Option<SpawnReporter<'_>>,
) -> (Option<i32>, String, Option<String>) {
    let invocation = Invocation {
        argv,
        env,
        cwd,
        timeout: step.timeout.get(),
        output_cap: STEP_OUTPUT_CAP as u64,
        on_spawn,
    };
    let finished = process::run(&invocation, kill).await;
    let mut output = finished.stdout;
    output.push_str(&finished.stderr);
    let (exit_code, error) = match &finished.ending {
        Ending::Exited(Some(0)) => (Some(0), None),
        Ending::Exited(Some(code)) => (Some(*code), Some(format!("exit code {code}"))),
        Ending::Exited(None) => (None, Some("killed by a signal".to_string())),
        Ending::TimedOut => (
            None,
            Some(format!(
                "timed out after {}; process group killed",
                step.timeout
            )),
        ),
        Ending::Cancelled => (None, Some("killed by the emergency stop".to_string())),
        Ending::SpawnFailed(e) => (None, Some(e.clone())),
    };
    (exit_code, output, error)
}

/// Keeps at most `STEP_OUTPUT_CAP` bytes of built-in step output, cut at a character boundary.
fn truncate(mut output: String) -> String {
    if output.len() > STEP_OUTPUT_CAP {
        let mut end = STEP_OUTPUT_CAP;
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        output.truncate(end);
    }
    output
}

/// `url` with its password (if any) replaced by `***`, for records and messages.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
