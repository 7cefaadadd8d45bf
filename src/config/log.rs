//! `[[log]]`: a log source to tail (a glob of files), how to find the message in each line, and
//! which category rates become signals. `format()` and `problems()` validate with spans.

use super::Duration;
use super::check::SpanError;
use crate::model::{Category, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use toml::Spanned;

/// One `[[log]]` table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Unique name (letters, digits, `-`, `_`, `.`); used in fingerprints (`log:<name>:<category>`),
    /// labels, metrics and stored offsets.
    pub name: Spanned<String>,
    /// Absolute path or glob of the files to follow, like `"/var/log/app/*.log"`. Files that
    /// start matching later are picked up (read from their start).
    pub path: Spanned<String>,
    /// How a line holds its message: `"plain"` (the whole line; default), `"json"` (the string
    /// field `message_field`), or a regex with a named group `message`. Lines the format does not
    /// fit are skipped (and counted). A regex may also have a named group `time`: the line's
    /// time (see `time_field` for the forms understood), which category rates then count by,
    /// and a named group `level`: the line's level (`error` and worse make it a failure line;
    /// json reads the first of `level`, `severity`, `lvl`, `loglevel`, `log.level` present).
    #[serde(default = "default_format")]
    pub format: Spanned<String>,
    /// json: the field holding the message. Default `"message"`.
    pub message_field: Option<Spanned<String>>,
    /// json: the top-level field holding the line's time, which category rates count by instead
    /// of the time the line was read. A string in RFC 3339 / ISO 8601 (`T` or space, optional
    /// fraction, no zone means UTC), syslog `Nov 23 01:02:03` (UTC, this year), common log format
    /// `23/Nov/2026:01:02:03 +0000`, or epoch seconds / milliseconds (a number or digits).
    /// Default: the first of `time`, `timestamp`, `ts`, `@timestamp` present. Lines without a
    /// time that parses count at the time they are read (and in
    /// `homeostat_log_lines_untimed_total`).
    pub time_field: Option<Spanned<String>>,
    /// Where to start in files found at the first start: `"end"` (default: only new lines) or
    /// `"start"`. Later, stored offsets decide; files created later are read from their start
    /// (also after a restart: a source that started once, even with no file matched, never
    /// applies `"end"` again).
    #[serde(default)]
    pub from: LogStart,
    /// Lines longer than this many bytes are cut to it (and counted). Default `65536`.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Category-rate rules: `count` lines of `category` within `within` open an incident.
    #[serde(default)]
    pub alert: Vec<AlertConfig>,
    /// The rule for `critical` and `error` categories that have no `[[log.alert]]` of their own.
    /// Default `{ count = 10, within = "1m" }`; `count = 0` turns it off.
    #[serde(default)]
    pub default_alert: DefaultAlertConfig,
    /// Candidate runbooks for incidents of this source, in preference order.
    #[serde(default)]
    pub remedy: Vec<Spanned<String>>,
    /// Extra labels attached to this source's signals. They also tie the source's clusters to
    /// incidents in learning: a cluster learns only from incidents that carry all of them.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `high`, `medium` or `low`: with the category's severity, sets the incident priority.
    /// Default `medium`.
    #[serde(default)]
    pub impact: crate::model::Impact,
}

/// Where reading starts in files that exist when a source first starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStart {
    /// At the end: only lines written from now on.
    #[default]
    End,
    /// At the start: the whole file.
    Start,
}

/// `[[log.alert]]`: a category rate that becomes a signal.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// A category name: built-in, like `"out_of_memory"`, or a `[[category]]` (not a disabled
    /// one).
    pub category: Spanned<String>,
    /// Lines of the category within `within` that open (or reopen) the incident. Default `5`.
    #[serde(default = "default_alert_count")]
    pub count: Spanned<u32>,
    /// The window; the incident resolves after a whole window without such a line.
    /// Default `"1m"`.
    #[serde(default = "default_within")]
    pub within: Duration,
}

/// `default_alert`: the rate rule for `critical` and `error` categories without their own alert.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultAlertConfig {
    /// Lines within `within`; `0` turns the default rule off. Default `10`.
    #[serde(default = "default_default_count")]
    pub count: u32,
    /// The window. Default `"1m"`.
    #[serde(default = "default_within")]
    pub within: Duration,
}

impl Default for DefaultAlertConfig {
    fn default() -> Self {
        DefaultAlertConfig {
            count: default_default_count(),
            within: default_within(),
        }
    }
}

fn default_format() -> Spanned<String> {
    Spanned::new(0..0, "plain".to_string())
}

fn default_max_line_bytes() -> usize {
    64 * 1024
}

fn default_alert_count() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}

fn default_default_count() -> u32 {
    10
}

fn default_within() -> Duration {
    Duration::from_secs(60)
}

/// How a source's lines hold their message.
#[derive(Clone, Debug)]
pub enum LogFormat {
    /// The whole line.
    Plain,
    /// A JSON object.
    Json {
        /// The string field holding the message.
        message_field: String,
        /// The field holding the line time; `None`: the first of
        /// `time`, `timestamp`, `ts` and `@timestamp` present.
        time_field: Option<String>,
    },
    /// A regex; the message is its `message` group, the line time its `time` group and its
    /// level its `level` group (if any).
    Regex(regex::Regex),
}

/// One category-rate rule, resolved against the category pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertRule {
    /// The category's name.
    pub category: String,
    /// Lines within `within` that fire.
    pub count: u32,
    /// The window.
    pub within: std::time::Duration,
    /// The category's severity.
    pub severity: Severity,
}

impl LogConfig {
    /// The message format, or why it is not usable (with its span).
    pub fn format(&self) -> Result<LogFormat, Vec<SpanError>> {
        let format = self.format.get_ref();
        let mut errors = Vec::new();
        let parsed = match format.as_str() {
            "plain" => Some(LogFormat::Plain),
            "json" => Some(LogFormat::Json {
                message_field: self
                    .message_field
                    .as_ref()
                    .map_or_else(|| "message".to_string(), |f| f.get_ref().clone()),
                time_field: self.time_field.as_ref().map(|f| f.get_ref().clone()),
            }),
            pattern => match regex::Regex::new(pattern) {
                Ok(re) if re.capture_names().any(|n| n == Some("message")) => {
                    Some(LogFormat::Regex(re))
                }
                Ok(_) => {
                    errors.push((
                        self.format.span(),
                        "format regex has no named group `message`, like \"^\\\\S+ (?P<message>.*)$\" (or use \"plain\" or \"json\")".to_string(),
                    ));
                    None
                }
                Err(e) => {
                    errors.push((self.format.span(), format!("invalid format regex: {e}")));
                    None
                }
            },
        };
        for (key, field) in [
            ("message_field", &self.message_field),
            ("time_field", &self.time_field),
        ] {
            if let Some(field) = field
                && format != "json"
            {
                let hint = if key == "time_field" {
                    " (a regex format takes a named group `time`)"
                } else {
                    ""
                };
                errors.push((
                    field.span(),
                    format!("`{key}` applies to `format = \"json\"` only{hint}"),
                ));
            }
        }
        match parsed {
            Some(parsed) if errors.is_empty() => Ok(parsed),
            _ => Err(errors),
        }
    }

    /// The category-rate rules in force: every `[[log.alert]]`, plus the default rule for each
    /// `critical` or `error` category without its own, among `categories` (those in force, see
    /// `Config::categories`). Unknown categories are left out (they are config errors, see
    /// `problems`).
    pub fn rules(&self, categories: &[Category]) -> Vec<AlertRule> {
        let mut rules: Vec<AlertRule> = self
            .alert
            .iter()
            .filter_map(|a| {
                let category = categories
                    .iter()
                    .find(|c| &c.name == a.category.get_ref())?;
                Some(AlertRule {
                    category: category.name.clone(),
                    count: *a.count.get_ref(),
                    within: a.within.get(),
                    severity: category.severity,
                })
            })
            .collect();
        if self.default_alert.count > 0 {
            for category in categories {
                let covered = rules.iter().any(|r| r.category == category.name);
                if !covered && category.severity >= Severity::Error {
                    rules.push(AlertRule {
                        category: category.name.clone(),
                        count: self.default_alert.count,
                        within: self.default_alert.within.get(),
                        severity: category.severity,
                    });
                }
            }
        }
        rules
    }

    /// The directory to watch for the glob: the literal path before the first wildcard
    /// component, and whether files below it may be deeper than one level.
    pub fn watch_root(&self) -> (PathBuf, bool) {
        let mut root = PathBuf::new();
        let mut components = Path::new(self.path.get_ref()).components().peekable();
        while let Some(c) = components.next() {
            let text = c.as_os_str().to_string_lossy();
            if text.contains(['*', '?', '[']) || components.peek().is_none() {
                let deeper = components.peek().is_some() || text.contains("**");
                return (root, deeper);
            }
            root.push(c);
        }
        (root, false)
    }

    /// Problems serde cannot see: the glob, the format, alert categories (one of `categories`,
    /// those in force) and counts.
    pub fn problems(&self, categories: &[Category]) -> Vec<SpanError> {
        let mut problems = Vec::new();
        let path = self.path.get_ref();
        if !path.starts_with('/') {
            problems.push((
                self.path.span(),
                format!("log path `{path}` must be absolute, like \"/var/log/app/*.log\""),
            ));
        } else if Path::new(path)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            problems.push((
                self.path.span(),
                format!("log path `{path}` must not contain `..`"),
            ));
        } else if let Err(e) = glob::Pattern::new(path) {
            problems.push((self.path.span(), format!("invalid glob `{path}`: {e}")));
        }
        if let Err(errors) = self.format() {
            problems.extend(errors);
        }
        if self.max_line_bytes < 64 {
            problems.push((
                self.name.span(),
                "`max_line_bytes` must be at least 64".to_string(),
            ));
        }
        if self.default_alert.count > 0 && self.default_alert.within.get().is_zero() {
            problems.push((
                self.name.span(),
                "`default_alert.within` must be greater than zero".to_string(),
            ));
        }
        let mut seen = Vec::new();
        for alert in &self.alert {
            let category = alert.category.get_ref();
            if !categories.iter().any(|c| &c.name == category) {
                let known: Vec<&str> = categories.iter().map(|c| c.name.as_str()).collect();
                problems.push((
                    alert.category.span(),
                    format!(
                        "unknown category `{category}` (known: {})",
                        known.join(", ")
                    ),
                ));
            } else if seen.contains(&category) {
                problems.push((
                    alert.category.span(),
                    format!("category `{category}` has two alerts in this log source"),
                ));
            }
            seen.push(category);
            if *alert.count.get_ref() == 0 {
                problems.push((alert.count.span(), "`count` must be at least 1".to_string()));
            }
            if alert.within.get().is_zero() {
                problems.push((
                    alert.category.span(),
                    "`within` must be greater than zero".to_string(),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> LogConfig {
        toml::from_str(&format!(
            "name = \"app\"\npath = \"/var/log/app/*.log\"\n{extra}"
        ))
        .expect("parses")
    }

    #[test]
    fn default_rule_covers_error_categories_without_their_own_alert() {
        let categories = crate::config::builtin_categories();
        let log = source("[[alert]]\ncategory = \"out_of_memory\"\ncount = 3\nwithin = \"10s\"\n");
        let rules = log.rules(&categories);
        let oom: Vec<_> = rules
            .iter()
            .filter(|r| r.category == "out_of_memory")
            .collect();
        assert_eq!(oom.len(), 1);
        assert_eq!((oom[0].count, oom[0].within.as_secs()), (3, 10));
        assert!(
            rules
                .iter()
                .all(|r| r.category == "out_of_memory" || r.count == 10)
        );
        assert!(rules.iter().all(|r| r.severity >= Severity::Error));
        let off = source("default_alert = { count = 0 }\n");
        assert!(off.rules(&categories).is_empty());
    }

    #[test]
    fn watch_root_is_the_literal_directory() {
        assert_eq!(
            source("").watch_root(),
            (PathBuf::from("/var/log/app"), false)
        );
        let deep: LogConfig =
            toml::from_str("name = \"a\"\npath = \"/var/log/*/x.log\"\n").expect("parses");
        assert_eq!(deep.watch_root(), (PathBuf::from("/var/log"), true));
    }

    #[test]
    fn regex_format_needs_a_message_group() {
        assert!(matches!(
            source("format = '^(?P<message>.*)$'").format(),
            Ok(LogFormat::Regex(_))
        ));
        assert!(source("format = '^(.*)$'").format().is_err());
        assert!(source("format = '^(?P<message>.*$'").format().is_err());
        assert!(matches!(
            source("format = \"json\"\nmessage_field = \"msg\"").format(),
            Ok(LogFormat::Json { message_field, time_field: None }) if message_field == "msg"
        ));
        assert!(matches!(
            source("format = \"json\"\ntime_field = \"at\"").format(),
            Ok(LogFormat::Json { time_field: Some(t), .. }) if t == "at"
        ));
        assert!(
            source("format = '^(?P<message>.*)$'\ntime_field = \"at\"")
                .format()
                .is_err()
        );
    }
}
