//! A runbook step: exactly one kind key (`run`, `http`, `sleep`, `signal`, `cleanup`, `redis`,
//! `sql`) plus the common keys. `kind()` checks the table and returns the typed kind, with spans.

use super::Duration;
use super::check::SpanError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path};
use toml::Spanned;

/// One step of a runbook. A step table has exactly one kind key: `run`, `http`, `sleep`,
/// `signal`, `cleanup`, `redis` or `sql`. String values of every kind may use templates
/// (`{{ incident.labels.x }}`); an undefined name fails the step.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Program and arguments, run as an argv array; never through a shell unless `shell = true`.
    pub run: Option<Spanned<Vec<String>>>,
    /// Call a URL and expect a status, e.g. a service's own pool-reset endpoint.
    pub http: Option<Spanned<HttpStep>>,
    /// Wait this long, e.g. `"2s"`; must be shorter than `timeout`.
    pub sleep: Option<Spanned<Duration>>,
    /// Send a signal to the process whose pid is in a pidfile.
    pub signal: Option<Spanned<SignalStep>>,
    /// Delete or gzip old files matching a glob, up to a byte cap (the disk-full repair).
    pub cleanup: Option<Spanned<CleanupStep>>,
    /// Send one command to a Redis server, e.g. `["FLUSHDB"]` (the clear-cache repair).
    pub redis: Option<Spanned<RedisStep>>,
    /// Run one SQL statement on PostgreSQL, e.g. terminate idle connections.
    pub sql: Option<Spanned<SqlStep>>,
    /// Time limit for the step; past it the step fails (a `run` step's whole process group is
    /// killed). Default `"30s"`.
    #[serde(default = "default_step_timeout")]
    pub timeout: Duration,
    /// `run` only: run `run` joined by spaces through `/bin/sh -c`. Default `false`.
    pub shell: Option<Spanned<bool>>,
    /// `run` only: extra environment variables.
    pub env: Option<Spanned<BTreeMap<String, String>>>,
    /// `run` only: working directory.
    pub cwd: Option<Spanned<String>>,
    /// Safe to run again after an interrupted repair. Default `false`.
    #[serde(default)]
    pub idempotent: bool,
    /// Where the step is in the config file (set while loading; `0..0` when unknown).
    #[serde(skip)]
    pub span: Range<usize>,
}

fn default_step_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `http = { url, method, expect_status, body, headers }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// The URL to call (`http` or `https`).
    pub url: String,
    /// Request method. Default `"POST"`.
    #[serde(default = "default_http_method")]
    pub method: Spanned<String>,
    /// Status codes that mean success. Default `[200]`.
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<u16>,
    /// Request body.
    pub body: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_http_method() -> Spanned<String> {
    Spanned::new(0..0, "POST".to_string())
}

fn default_expect_status() -> Vec<u16> {
    vec![200]
}

/// A signal a `signal` step can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SignalName {
    /// SIGHUP: reload, by convention.
    Hup,
    /// SIGINT.
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGKILL: cannot be caught.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGTERM: stop gracefully.
    Term,
    /// SIGCONT.
    Cont,
    /// SIGSTOP: cannot be caught.
    Stop,
}

impl SignalName {
    /// The name used in config (`"HUP"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SignalName::Hup => "HUP",
            SignalName::Int => "INT",
            SignalName::Quit => "QUIT",
            SignalName::Kill => "KILL",
            SignalName::Usr1 => "USR1",
            SignalName::Usr2 => "USR2",
            SignalName::Term => "TERM",
            SignalName::Cont => "CONT",
            SignalName::Stop => "STOP",
        }
    }
}

/// `signal = { pidfile, signal }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalStep {
    /// File holding the pid; a pid of 1 or less is refused.
    pub pidfile: String,
    /// `HUP`, `INT`, `QUIT`, `KILL`, `USR1`, `USR2`, `TERM`, `CONT` or `STOP`. Default `"HUP"`.
    #[serde(default = "default_signal")]
    pub signal: SignalName,
}

fn default_signal() -> SignalName {
    SignalName::Hup
}

/// What a `cleanup` step does to each old file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CleanupAction {
    /// Remove the file.
    #[default]
    Delete,
    /// Compress the file to `NAME.gz` (same mtime) and remove the original; `.gz` files are skipped.
    Gzip,
}

impl CleanupAction {
    /// The name used in config.
    pub fn as_str(self) -> &'static str {
        match self {
            CleanupAction::Delete => "delete",
            CleanupAction::Gzip => "gzip",
        }
    }
}

/// `cleanup = { glob, older_than, action, max_bytes }`. Only regular files are touched, oldest
/// first; symlinks (and paths through symlinked directories the glob matched) and directories
/// never are.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupStep {
    /// Absolute glob, e.g. `"/var/log/app/*.log.*"`; the part before the first wildcard must name
    /// a directory other than `/`, and `..` is refused.
    pub glob: Spanned<String>,
    /// Only files last modified longer ago than this, e.g. `"7d"`.
    pub older_than: Duration,
    /// `delete` or `gzip`. Default `delete`.
    #[serde(default)]
    pub action: CleanupAction,
    /// Stop before the sizes of the files touched would add up to more than this. Default 1 GiB.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

fn default_max_bytes() -> u64 {
    1 << 30
}

/// `redis = { url, command }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisStep {
    /// `redis://[:password@]host:port/db` (no TLS).
    pub url: String,
    /// The command and its arguments, e.g. `["FLUSHDB"]`.
    pub command: Vec<String>,
}

/// `sql = { url, statement }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlStep {
    /// `postgres://user@host/db`.
    pub url: String,
    /// The statement (several separated by `;` are allowed). Templated values are inserted as
    /// they are, not quoted: use them only for trusted labels.
    pub statement: String,
}

/// The typed kind of a valid step.
#[derive(Clone, Copy, Debug)]
pub enum StepKind<'a> {
    /// `run`: an argv.
    Run {
        /// Program and arguments.
        argv: &'a [String],
        /// Through `/bin/sh -c`.
        shell: bool,
        /// Extra environment variables.
        env: Option<&'a BTreeMap<String, String>>,
        /// Working directory.
        cwd: Option<&'a str>,
    },
    /// `http`.
    Http(&'a HttpStep),
    /// `sleep`.
    Sleep(std::time::Duration),
    /// `signal`.
    Signal(&'a SignalStep),
    /// `cleanup`.
    Cleanup(&'a CleanupStep),
    /// `redis`.
    Redis(&'a RedisStep),
    /// `sql`.
    Sql(&'a SqlStep),
}

/// Whether `text` holds a template (rendered only when the step runs).
fn templated(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Why a cleanup glob is refused, if it is: it must be absolute, contain no `..`, and the part
/// before its first wildcard (or template) must name a directory other than `/`. Checked when
/// the config loads and again after templating, before anything is touched.
pub fn cleanup_glob_problem(glob: &str) -> Option<String> {
    if glob.trim().is_empty() {
        return Some("the cleanup glob is empty".to_string());
    }
    if !glob.starts_with('/') {
        return Some(format!(
            "cleanup glob `{glob}` must be an absolute path, like \"/var/log/app/*.log.*\""
        ));
    }
    if Path::new(glob)
        .components()
        .any(|c| c == Component::ParentDir)
    {
        return Some(format!("cleanup glob `{glob}` must not contain `..`"));
    }
    let wildcard = ["*", "?", "[", "{{", "{%"]
        .iter()
        .filter_map(|w| glob.find(w))
        .min()
        .unwrap_or(glob.len());
    let literal = glob.get(..wildcard).unwrap_or_default();
    let dir = literal
        .rfind('/')
        .and_then(|i| literal.get(..i))
        .unwrap_or_default();
    if !Path::new(dir)
        .components()
        .any(|c| matches!(c, Component::Normal(_)))
    {
        return Some(format!(
            "cleanup glob `{glob}` has no literal directory before its first wildcard; \
             name the directory, like \"/var/log/app/*.log.*\""
        ));
    }
    None
}

impl StepConfig {
    /// The step's typed kind, or every problem found (no kind or several, keys that do not belong
    /// to the kind, unsafe or empty values), each with its span.
    pub fn kind(&self) -> Result<StepKind<'_>, Vec<SpanError>> {
        let kinds: Vec<(&str, Range<usize>)> = [
            ("run", self.run.as_ref().map(Spanned::span)),
            ("http", self.http.as_ref().map(Spanned::span)),
            ("sleep", self.sleep.as_ref().map(Spanned::span)),
            ("signal", self.signal.as_ref().map(Spanned::span)),
            ("cleanup", self.cleanup.as_ref().map(Spanned::span)),
            ("redis", self.redis.as_ref().map(Spanned::span)),
            ("sql", self.sql.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(name, span)| span.map(|s| (name, s)))
        .collect();
        let mut errors = Vec::new();
        match kinds.as_slice() {
            [] => errors.push((
                self.span.clone(),
                "a step needs exactly one of `run`, `http`, `sleep`, `signal`, `cleanup`, `redis` \
                 or `sql`"
                    .to_string(),
            )),
            [_] => {}
            several => {
                let names: Vec<String> = several.iter().map(|(n, _)| format!("`{n}`")).collect();
                errors.push((
                    self.span.clone(),
                    format!(
                        "a step has several kinds ({}); use exactly one per step",
                        names.join(", ")
                    ),
                ));
            }
        }
        if self.run.is_none() {
            for (key, span) in [
                ("shell", self.shell.as_ref().map(Spanned::span)),
                ("env", self.env.as_ref().map(Spanned::span)),
                ("cwd", self.cwd.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    errors.push((span, format!("key `{key}` only applies to `run` steps")));
                }
            }
        }
        errors.extend(self.value_errors());
        if !errors.is_empty() {
            return Err(errors);
        }
        let kind = if let Some(run) = &self.run {
            StepKind::Run {
                argv: run.get_ref(),
                shell: self.shell.as_ref().is_some_and(|s| *s.get_ref()),
                env: self.env.as_ref().map(Spanned::get_ref),
                cwd: self.cwd.as_ref().map(|c| c.get_ref().as_str()),
            }
        } else if let Some(http) = &self.http {
            StepKind::Http(http.get_ref())
        } else if let Some(sleep) = &self.sleep {
            StepKind::Sleep(sleep.get_ref().get())
        } else if let Some(signal) = &self.signal {
            StepKind::Signal(signal.get_ref())
        } else if let Some(cleanup) = &self.cleanup {
            StepKind::Cleanup(cleanup.get_ref())
        } else if let Some(redis) = &self.redis {
            StepKind::Redis(redis.get_ref())
        } else if let Some(sql) = &self.sql {
            StepKind::Sql(sql.get_ref())
        } else {
            return Err(vec![(self.span.clone(), "a step needs a kind".to_string())]);
        };
        Ok(kind)
    }

    /// Values that deserialized but are not acceptable.
    fn value_errors(&self) -> Vec<SpanError> {
        let mut errors = Vec::new();
        if let Some(run) = &self.run
            && run.get_ref().is_empty()
        {
            errors.push((run.span(), "`run` must not be empty".to_string()));
        }
        if let Some(run) = &self.run
            && self.shell.as_ref().is_some_and(|s| *s.get_ref())
            && run
                .get_ref()
                .iter()
                .any(|word| template_in_double_quotes(word))
        {
            errors.push((
                run.span(),
                "a template inside double quotes in a `shell = true` step: its value is \
                 single-quoted for `sh` already, and inside `\"...\"` those quotes are plain \
                 characters, so `$(...)` in the value would run; write the template outside \
                 the double quotes"
                    .to_string(),
            ));
        }
        if let Some(http) = &self.http {
            let step = http.get_ref();
            if !templated(&step.url) {
                match reqwest::Url::parse(&step.url) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                    Ok(u) => errors.push((
                        http.span(),
                        format!(
                            "unsupported URL scheme `{}`: expected http or https",
                            u.scheme()
                        ),
                    )),
                    Err(e) => {
                        errors.push((http.span(), format!("invalid URL `{}`: {e}", step.url)))
                    }
                }
            }
            let method = step.method.get_ref();
            if reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).is_err() {
                errors.push((
                    step.method.span(),
                    format!("invalid HTTP method `{method}`"),
                ));
            }
            if step.expect_status.is_empty() {
                errors.push((http.span(), "`expect_status` must not be empty".to_string()));
            }
            if let Some(bad) = step
                .expect_status
                .iter()
                .find(|c| !(100..=599).contains(*c))
            {
                errors.push((
                    http.span(),
                    format!("status code {bad} is outside 100..=599"),
                ));
            }
        }
        if let Some(sleep) = &self.sleep
            && *sleep.get_ref() >= self.timeout
        {
            errors.push((
                sleep.span(),
                format!(
                    "sleep {} is not shorter than the step timeout {}; raise `timeout`",
                    sleep.get_ref(),
                    self.timeout
                ),
            ));
        }
        if let Some(signal) = &self.signal
            && signal.get_ref().pidfile.trim().is_empty()
        {
            errors.push((signal.span(), "`pidfile` must not be empty".to_string()));
        }
        if let Some(cleanup) = &self.cleanup {
            let glob = &cleanup.get_ref().glob;
            if let Some(problem) = cleanup_glob_problem(glob.get_ref()) {
                errors.push((glob.span(), problem));
            }
        }
        if let Some(redis) = &self.redis {
            let step = redis.get_ref();
            if step.command.is_empty() {
                errors.push((redis.span(), "`command` must not be empty".to_string()));
            }
            if !templated(&step.url)
                && !["redis://", "redis+unix://", "unix://"]
                    .iter()
                    .any(|p| step.url.starts_with(p))
            {
                errors.push((
                    redis.span(),
                    format!(
                        "invalid Redis url `{}`: expected redis://host:port/db",
                        step.url
                    ),
                ));
            }
        }
        if let Some(sql) = &self.sql {
            let step = sql.get_ref();
            if step.statement.trim().is_empty() {
                errors.push((sql.span(), "`statement` must not be empty".to_string()));
            }
            if !templated(&step.url)
                && !["postgres://", "postgresql://"]
                    .iter()
                    .any(|p| step.url.starts_with(p))
            {
                errors.push((
                    sql.span(),
                    format!(
                        "invalid PostgreSQL url `{}`: expected postgres://user@host/db",
                        step.url
                    ),
                ));
            }
        }
        errors
    }
}

/// Whether `word` of a shell script has a `{{` template inside a double-quoted string (a
/// backslash escapes the next character there; single quotes are plain characters there).
fn template_in_double_quotes(word: &str) -> bool {
    let (mut single, mut double, mut escaped) = (false, false, false);
    for (i, c) in word.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '{' if double && word[i..].starts_with("{{") => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_templates_inside_double_quotes_are_found() {
        for bad in [
            r#"echo "{{ incident.title }}""#,
            r#"echo "a 'b' {{ x }}""#,
            r#"echo \" "{{ x }}""#,
        ] {
            assert!(template_in_double_quotes(bad), "{bad}");
        }
        for good in [
            "systemctl restart {{ incident.labels.service }}",
            r#"echo '"{{ x }}"'"#,
            r#"echo \"{{ x }}\""#,
            r#"echo "done" {{ x }}"#,
        ] {
            assert!(!template_in_double_quotes(good), "{good}");
        }
    }

    #[test]
    fn cleanup_globs_need_a_literal_directory() {
        for bad in [
            "",
            " ",
            "/",
            "*",
            "/*",
            "/**/*.log",
            "logs/*.log",
            "/var/../*",
            "{{ x }}/a",
        ] {
            assert!(cleanup_glob_problem(bad).is_some(), "{bad:?} accepted");
        }
        for good in [
            "/var/log/app/*.log.*",
            "/var/*",
            "/tmp/x*/y",
            "/var/log/app.log.1",
            "/srv/{{ incident.labels.app }}/*.log",
        ] {
            assert_eq!(cleanup_glob_problem(good), None, "{good:?} refused");
        }
    }
}
