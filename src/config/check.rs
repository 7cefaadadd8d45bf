//! `[[check]]`: one configured probe. The table is flat, as users write it; `settings()` turns it
//! into the typed settings of its `type`, reporting missing and misplaced keys with their spans.

use super::Duration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// The kinds of check Homeostat can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// An HTTP(S) request: status, body, latency, TLS certificate lifetime.
    Http,
    /// A TCP connect.
    Tcp,
    /// A Nagios-convention plugin: exit 0/1/2/3, perfdata after `|`.
    Command,
    /// A process found by pidfile or command-line regex.
    Process,
    /// This host's CPU, memory, disk and load.
    Host,
}

impl CheckType {
    /// The name used in config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::Http => "http",
            CheckType::Tcp => "tcp",
            CheckType::Command => "command",
            CheckType::Process => "process",
            CheckType::Host => "host",
        }
    }
}

/// One `[[check]]` table. Keys that do not belong to its `type` are errors.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Unique name; used in labels, API paths and metrics.
    pub name: Spanned<String>,
    /// `http`, `tcp`, `command`, `process` or `host`.
    #[serde(rename = "type")]
    pub kind: Spanned<CheckType>,
    /// Time between two runs. Default `"10s"`.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Time limit for one run; past it the run counts as failed (`unknown` for `command`).
    /// Default `"5s"`.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Consecutive failing runs before the check is reported `critical` (flap control). Default `1`.
    #[serde(default = "default_failures_before_critical")]
    pub failures_before_critical: u32,
    /// Candidate runbooks for incidents of this check, in preference order.
    #[serde(default)]
    pub remedy: Vec<Spanned<String>>,
    /// Extra labels attached to this check's observations and signals.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `high`, `medium` or `low`: with the failure's severity, sets the incident priority.
    /// Default `medium`.
    #[serde(default)]
    pub impact: crate::model::Impact,

    /// http: the URL to request.
    pub url: Option<Spanned<String>>,
    /// http: request method. Default `"GET"`.
    pub method: Option<Spanned<String>>,
    /// http: request headers.
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    /// http: accepted status codes. Default: any 2xx or 3xx (redirects are not followed).
    pub expect_status: Option<Spanned<Vec<u16>>>,
    /// http: a string the body must contain.
    pub body_contains: Option<Spanned<String>>,
    /// http, tcp: latency above this makes the check `warning`.
    pub latency_warn: Option<Spanned<Duration>>,
    /// http, tcp: latency above this makes the check `critical`.
    pub latency_crit: Option<Spanned<Duration>>,
    /// http (https URLs): warn when the server certificate expires within this many days.
    /// Default `14`.
    pub tls_warn_days: Option<Spanned<u32>>,
    /// http: PEM file of extra CA certificates to trust (an internal CA), besides the
    /// system's web PKI roots.
    pub ca_file: Option<Spanned<String>>,
    /// tcp: `host:port` to connect to.
    pub address: Option<Spanned<String>>,
    /// command: argv of a Nagios-convention plugin (no shell).
    pub command: Option<Spanned<Vec<String>>>,
    /// process: file holding the pid to watch.
    pub pidfile: Option<Spanned<String>>,
    /// process: regex on the full command line (alternative to `pidfile`).
    #[serde(rename = "match")]
    pub match_regex: Option<Spanned<String>>,
    /// host: the path whose filesystem is measured. Default `"/"`.
    pub disk_path: Option<Spanned<String>>,
    /// host: disk use (percent) that makes the check `warning`.
    pub disk_warn_percent: Option<Spanned<f64>>,
    /// host: disk use (percent) that makes the check `critical`. Default `90`.
    pub disk_crit_percent: Option<Spanned<f64>>,
    /// host: memory use (percent) that makes the check `warning`.
    pub memory_warn_percent: Option<Spanned<f64>>,
    /// host: memory use (percent) that makes the check `critical`. Default `95`.
    pub memory_crit_percent: Option<Spanned<f64>>,
    /// host, process: CPU use (percent) that makes the check `warning`.
    pub cpu_warn_percent: Option<Spanned<f64>>,
    /// host, process: CPU use (percent) that makes the check `critical`.
    pub cpu_crit_percent: Option<Spanned<f64>>,
    /// host: 1-minute load average per core that makes the check `critical`.
    pub load_crit_per_core: Option<Spanned<f64>>,
    /// process: resident memory (bytes) that makes the check `critical`.
    pub rss_crit_bytes: Option<Spanned<u64>>,
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_failures_before_critical() -> u32 {
    1
}

/// A config problem at a byte range of the file.
pub type SpanError = (Range<usize>, String);

/// Settings of an `http` check.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// URL to request.
    pub url: reqwest::Url,
    /// Request method.
    pub method: reqwest::Method,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// Accepted status codes; empty means any 2xx.
    pub expect_status: Vec<u16>,
    /// A string the body must contain.
    pub body_contains: Option<String>,
    /// Latency for `warning`.
    pub latency_warn: Option<std::time::Duration>,
    /// Latency for `critical`.
    pub latency_crit: Option<std::time::Duration>,
    /// Days of certificate lifetime below which the check warns.
    pub tls_warn_days: u32,
    /// Extra trusted CA certificates (PEM).
    pub ca_file: Option<std::path::PathBuf>,
}

/// Settings of a `tcp` check.
#[derive(Clone, Debug)]
pub struct TcpSettings {
    /// `host:port`.
    pub address: String,
    /// Latency for `warning`.
    pub latency_warn: Option<std::time::Duration>,
    /// Latency for `critical`.
    pub latency_crit: Option<std::time::Duration>,
}

/// Settings of a `command` check.
#[derive(Clone, Debug)]
pub struct CommandSettings {
    /// Program and arguments.
    pub argv: Vec<String>,
}

/// How a `process` check finds its process.
#[derive(Clone, Debug)]
pub enum ProcessSelector {
    /// The pid written in this file.
    Pidfile(std::path::PathBuf),
    /// The processes whose command line matches.
    Match(regex::Regex),
}

/// Settings of a `process` check.
#[derive(Clone, Debug)]
pub struct ProcessSettings {
    /// How to find the process.
    pub selector: ProcessSelector,
    /// CPU percent for `warning`.
    pub cpu_warn_percent: Option<f64>,
    /// CPU percent for `critical`.
    pub cpu_crit_percent: Option<f64>,
    /// Resident bytes for `critical`.
    pub rss_crit_bytes: Option<u64>,
}

/// Settings of a `host` check.
#[derive(Clone, Debug)]
pub struct HostSettings {
    /// Path whose filesystem is measured.
    pub disk_path: std::path::PathBuf,
    /// Disk percent for `warning`.
    pub disk_warn_percent: Option<f64>,
    /// Disk percent for `critical`.
    pub disk_crit_percent: f64,
    /// Memory percent for `warning`.
    pub memory_warn_percent: Option<f64>,
    /// Memory percent for `critical`.
    pub memory_crit_percent: f64,
    /// CPU percent for `warning`.
    pub cpu_warn_percent: Option<f64>,
    /// CPU percent for `critical`.
    pub cpu_crit_percent: Option<f64>,
    /// Load per core for `critical`.
    pub load_crit_per_core: Option<f64>,
}

/// The typed settings of a check, by type.
#[derive(Clone, Debug)]
pub enum CheckSettings {
    /// `type = "http"`.
    Http(HttpSettings),
    /// `type = "tcp"`.
    Tcp(TcpSettings),
    /// `type = "command"`.
    Command(CommandSettings),
    /// `type = "process"`.
    Process(ProcessSettings),
    /// `type = "host"`.
    Host(HostSettings),
}

fn val<T: Clone>(field: &Option<Spanned<T>>) -> Option<T> {
    field.as_ref().map(|s| s.get_ref().clone())
}

fn dur(field: &Option<Spanned<Duration>>) -> Option<std::time::Duration> {
    field.as_ref().map(|s| s.get_ref().get())
}

/// The span of an optional key, when it is set.
fn span<T>(field: &Option<Spanned<T>>) -> Option<Range<usize>> {
    field.as_ref().map(Spanned::span)
}

impl CheckConfig {
    /// Every type-specific key that is set, with its span and the types it belongs to.
    fn specific_keys(&self) -> Vec<(&'static str, Range<usize>, &'static [CheckType])> {
        use CheckType::*;
        let mut keys = Vec::new();
        let mut add = |name, span: Option<Range<usize>>, types: &'static [CheckType]| {
            if let Some(span) = span {
                keys.push((name, span, types));
            }
        };
        add("url", span(&self.url), &[Http]);
        add("method", span(&self.method), &[Http]);
        add("headers", span(&self.headers), &[Http]);
        add("expect_status", span(&self.expect_status), &[Http]);
        add("body_contains", span(&self.body_contains), &[Http]);
        add("latency_warn", span(&self.latency_warn), &[Http, Tcp]);
        add("latency_crit", span(&self.latency_crit), &[Http, Tcp]);
        add("tls_warn_days", span(&self.tls_warn_days), &[Http]);
        add("ca_file", span(&self.ca_file), &[Http]);
        add("address", span(&self.address), &[Tcp]);
        add("command", span(&self.command), &[Command]);
        add("pidfile", span(&self.pidfile), &[Process]);
        add("match", span(&self.match_regex), &[Process]);
        add("disk_path", span(&self.disk_path), &[Host]);
        add("disk_warn_percent", span(&self.disk_warn_percent), &[Host]);
        add("disk_crit_percent", span(&self.disk_crit_percent), &[Host]);
        add(
            "memory_warn_percent",
            span(&self.memory_warn_percent),
            &[Host],
        );
        add(
            "memory_crit_percent",
            span(&self.memory_crit_percent),
            &[Host],
        );
        add(
            "cpu_warn_percent",
            span(&self.cpu_warn_percent),
            &[Host, Process],
        );
        add(
            "cpu_crit_percent",
            span(&self.cpu_crit_percent),
            &[Host, Process],
        );
        add(
            "load_crit_per_core",
            span(&self.load_crit_per_core),
            &[Host],
        );
        add("rss_crit_bytes", span(&self.rss_crit_bytes), &[Process]);
        keys
    }

    /// The check's typed settings, or every problem found (keys that do not belong to the type,
    /// required keys that are missing, values that do not parse), each with its span.
    pub fn settings(&self) -> Result<CheckSettings, Vec<SpanError>> {
        let kind = *self.kind.get_ref();
        let mut errors: Vec<SpanError> = self
            .specific_keys()
            .into_iter()
            .filter(|(_, _, types)| !types.contains(&kind))
            .map(|(key, span, types)| {
                let owners: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                (
                    span,
                    format!(
                        "key `{key}` does not apply to a check of type `{}` (it belongs to: {})",
                        kind.as_str(),
                        owners.join(", ")
                    ),
                )
            })
            .collect();
        let type_span = self.kind.span();
        let mut missing = |what: &str| {
            errors.push((
                type_span.clone(),
                format!("a check of type `{}` needs {what}", kind.as_str()),
            ))
        };
        let settings = match kind {
            CheckType::Http => self.http_settings(&mut missing),
            CheckType::Tcp => match val(&self.address) {
                Some(address) => Some(CheckSettings::Tcp(TcpSettings {
                    address,
                    latency_warn: dur(&self.latency_warn),
                    latency_crit: dur(&self.latency_crit),
                })),
                None => {
                    missing("`address = \"host:port\"`");
                    None
                }
            },
            CheckType::Command => match val(&self.command) {
                Some(argv) if !argv.is_empty() => {
                    Some(CheckSettings::Command(CommandSettings { argv }))
                }
                _ => {
                    missing("a non-empty `command = [\"program\", \"arg\", ...]`");
                    None
                }
            },
            CheckType::Process => self.process_settings(&mut missing),
            CheckType::Host => Some(CheckSettings::Host(HostSettings {
                disk_path: val(&self.disk_path).unwrap_or_else(|| "/".into()).into(),
                disk_warn_percent: val(&self.disk_warn_percent),
                disk_crit_percent: val(&self.disk_crit_percent).unwrap_or(90.0),
                memory_warn_percent: val(&self.memory_warn_percent),
                memory_crit_percent: val(&self.memory_crit_percent).unwrap_or(95.0),
                cpu_warn_percent: val(&self.cpu_warn_percent),
                cpu_crit_percent: val(&self.cpu_crit_percent),
                load_crit_per_core: val(&self.load_crit_per_core),
            })),
        };
        errors.extend(self.value_errors());
        match settings {
            Some(settings) if errors.is_empty() => Ok(settings),
            _ => Err(errors),
        }
    }

    fn http_settings(&self, missing: &mut impl FnMut(&str)) -> Option<CheckSettings> {
        let Some(url) = self.url.as_ref() else {
            missing("`url = \"http://...\"`");
            return None;
        };
        let url = reqwest::Url::parse(url.get_ref()).ok()?;
        let method = self
            .method
            .as_ref()
            .map(|m| reqwest::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()))
            .transpose()
            .ok()?
            .unwrap_or(reqwest::Method::GET);
        Some(CheckSettings::Http(HttpSettings {
            url,
            method,
            headers: val(&self.headers).unwrap_or_default(),
            expect_status: val(&self.expect_status).unwrap_or_default(),
            body_contains: val(&self.body_contains),
            latency_warn: dur(&self.latency_warn),
            latency_crit: dur(&self.latency_crit),
            tls_warn_days: val(&self.tls_warn_days).unwrap_or(14),
            ca_file: val(&self.ca_file).map(Into::into),
        }))
    }

    fn process_settings(&self, missing: &mut impl FnMut(&str)) -> Option<CheckSettings> {
        let selector = match (&self.pidfile, &self.match_regex) {
            (Some(pidfile), None) => ProcessSelector::Pidfile(pidfile.get_ref().into()),
            (None, Some(pattern)) => {
                ProcessSelector::Match(regex::Regex::new(pattern.get_ref()).ok()?)
            }
            _ => {
                missing("exactly one of `pidfile = \"/run/x.pid\"` or `match = \"regex\"`");
                return None;
            }
        };
        Some(CheckSettings::Process(ProcessSettings {
            selector,
            cpu_warn_percent: val(&self.cpu_warn_percent),
            cpu_crit_percent: val(&self.cpu_crit_percent),
            rss_crit_bytes: val(&self.rss_crit_bytes),
        }))
    }

    /// Values that deserialized but are not acceptable.
    fn value_errors(&self) -> Vec<SpanError> {
        let mut errors = Vec::new();
        if let Some(url) = &self.url {
            match reqwest::Url::parse(url.get_ref()) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(u) => errors.push((
                    url.span(),
                    format!(
                        "unsupported URL scheme `{}`: expected http or https",
                        u.scheme()
                    ),
                )),
                Err(e) => errors.push((url.span(), format!("invalid URL: {e}"))),
            }
        }
        if let Some(method) = &self.method
            && reqwest::Method::from_bytes(method.get_ref().to_ascii_uppercase().as_bytes())
                .is_err()
        {
            errors.push((
                method.span(),
                format!("invalid HTTP method `{}`", method.get_ref()),
            ));
        }
        if let Some(codes) = &self.expect_status
            && let Some(bad) = codes.get_ref().iter().find(|c| !(100..=599).contains(*c))
        {
            errors.push((
                codes.span(),
                format!("status code {bad} is outside 100..=599"),
            ));
        }
        if let Some(pattern) = &self.match_regex
            && let Err(e) = regex::Regex::new(pattern.get_ref())
        {
            errors.push((pattern.span(), format!("invalid regex: {e}")));
        }
        if let Some(address) = &self.address {
            let text = address.get_ref();
            let port_ok = text
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                errors.push((
                    address.span(),
                    format!("invalid address `{text}`: expected host:port"),
                ));
            }
        }
        if self.interval.get().is_zero() {
            errors.push((
                self.name.span(),
                "`interval` must be greater than zero".to_string(),
            ));
        }
        if self.failures_before_critical == 0 {
            errors.push((
                self.name.span(),
                "`failures_before_critical` must be at least 1".to_string(),
            ));
        }
        errors
    }
}
