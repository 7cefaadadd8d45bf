//! Configuration: the TOML schema (one `XConfig` struct per part, every key documented on its
//! field), loading, and validation whose errors name `file:line:col`.

mod category;
mod check;
mod duration;
mod incidents;
mod log;
mod pack;
mod policy;
mod runbook;
mod security;
mod server;
mod step;
mod store;

pub use category::{CategoryConfig, PATTERN_SIZE_LIMIT, compile_patterns};
pub use check::{
    CheckConfig, CheckSettings, CheckType, CommandSettings, HostSettings, HttpSettings,
    ProcessSelector, ProcessSettings, TcpSettings,
};
pub use duration::Duration;
pub use incidents::IncidentsConfig;
pub use log::{AlertConfig, AlertRule, DefaultAlertConfig, LogConfig, LogFormat, LogStart};
pub use pack::builtin_categories;
pub use policy::{Mode, PolicyConfig};
pub use runbook::{Approval, OnTimeout, Risk, Role, RunbookConfig, VerifyConfig};
pub use security::{SecurityConfig, UserConfig};
pub use server::ServerConfig;
pub use step::{
    CleanupAction, CleanupStep, HttpStep, RedisStep, SignalName, SignalStep, SqlStep, StepConfig,
    StepKind, cleanup_glob_problem,
};
pub use store::StoreConfig;

use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The config file used when neither `--config` nor `HOMEOSTAT_CONFIG` names one.
pub const DEFAULT_PATH: &str = "homeostat.toml";

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP API listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// Durable store.
    #[serde(default)]
    pub store: StoreConfig,
    /// Global safety settings.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Incident lifecycle.
    #[serde(default)]
    pub incidents: IncidentsConfig,
    /// The checks to run.
    #[serde(default)]
    pub check: Vec<CheckConfig>,
    /// The runbooks checks may use as remedies.
    #[serde(default)]
    pub runbook: Vec<RunbookConfig>,
    /// Login protection, sessions, secrets key, audit retention.
    #[serde(default)]
    pub security: SecurityConfig,
    /// Accounts defined in the config file.
    #[serde(default)]
    pub user: Vec<UserConfig>,
    /// The log sources to tail.
    #[serde(default)]
    pub log: Vec<LogConfig>,
    /// Log categories of the user's own, and changes to built-in ones.
    #[serde(default)]
    pub category: Vec<CategoryConfig>,
}

/// One problem in a config file, located by line and column (both 1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The file.
    pub file: PathBuf,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid config; every problem found is listed.
    #[error("{}", issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The problems, in file order.
        issues: Vec<ConfigIssue>,
    },
}

impl Config {
    /// The labels of log source `name` (none when no `[[log]]` has that name, say after a
    /// rename): what ties its clusters to incidents in learning.
    pub fn log_labels(&self, name: &str) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.log
            .iter()
            .find(|l| l.name.get_ref() == name)
            .map_or(&NONE, |l| &l.labels)
    }

    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let locate = |span: Range<usize>, message: String| {
            let (line, column) = line_col(text, span.start);
            ConfigIssue {
                file: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            issues: vec![locate(
                e.span().unwrap_or(0..0),
                e.message().trim().to_string(),
            )],
        })?;
        let mut problems = config.problems();
        if problems.is_empty() {
            return Ok(config);
        }
        problems.sort_by_key(|(span, _)| span.start);
        Err(ConfigError::Invalid {
            issues: problems
                .into_iter()
                .map(|(span, message)| locate(span, message))
                .collect(),
        })
    }

    /// Everything serde cannot see: per-type keys, duplicate names and dangling references.
    fn problems(&self) -> Vec<(Range<usize>, String)> {
        let mut problems = Vec::new();
        let listen = &self.server.listen;
        if let Err(e) = listen.get_ref().parse::<std::net::SocketAddr>() {
            problems.push((
                listen.span(),
                format!(
                    "invalid listen address `{}`: {e} (expected ip:port)",
                    listen.get_ref()
                ),
            ));
        }
        let url = self.store.url.get_ref();
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            problems.push((
                self.store.url.span(),
                format!("invalid store url `{url}`: expected sqlite://PATH or postgres://..."),
            ));
        }
        for check in &self.check {
            if let Err(errors) = check.settings() {
                problems.extend(errors);
            }
        }
        let check_names = unique_names("check", self.check.iter().map(|c| &c.name), &mut problems);
        let mut runbook_names: HashMap<&str, Range<usize>> = HashMap::new();
        for runbook in &self.runbook {
            let name = runbook.name.get_ref().as_str();
            if runbook_names.insert(name, runbook.name.span()).is_some() {
                problems.push((
                    runbook.name.span(),
                    format!("duplicate runbook name `{name}`"),
                ));
            }
            if let Some(mode) = &runbook.mode {
                let global = self.policy.mode;
                if mode.get_ref().permissiveness() > global.permissiveness() {
                    problems.push((
                        mode.span(),
                        format!(
                            "runbook mode `{}` is looser than the global mode `{}`; a runbook may only be stricter",
                            mode.get_ref().as_str(),
                            global.as_str()
                        ),
                    ));
                }
            }
            if let Some(verify) = &runbook.verify {
                let target = verify.check.get_ref();
                if !check_names.contains_key(target.as_str()) {
                    problems.push((
                        verify.check.span(),
                        format!("verify.check `{target}` is not a defined check"),
                    ));
                }
            }
            if !(1..=9).contains(runbook.priority.get_ref()) {
                problems.push((
                    runbook.priority.span(),
                    "priority must be between 1 (first) and 9 (last)".to_string(),
                ));
            }
            for step in runbook.steps.iter().chain(&runbook.rollback) {
                if let Err(errors) = step.kind() {
                    problems.extend(errors);
                }
            }
        }
        let mut user_names: HashMap<&str, Range<usize>> = HashMap::new();
        for user in &self.user {
            let name = user.name.get_ref().as_str();
            if !valid_name(name) {
                problems.push((
                    user.name.span(),
                    format!("user name `{name}`: use letters, digits, `-`, `_` and `.` only"),
                ));
            }
            if user_names.insert(name, user.name.span()).is_some() {
                problems.push((user.name.span(), format!("duplicate user name `{name}`")));
            }
            if let Err(e) = crate::security::password::check_phc(user.password_hash.get_ref()) {
                problems.push((user.password_hash.span(), e));
            }
        }
        let before = problems.len();
        let builtin = builtin_categories();
        for category in &self.category {
            problems.extend(category.problems(&builtin, &runbook_names));
        }
        unique_names(
            "category",
            self.category.iter().map(|c| &c.name),
            &mut problems,
        );
        if let Some(first) = self.category.first()
            && problems.len() == before
        {
            // Each pattern compiles on its own; each category's together must too (size limit).
            let failed = self.categories().into_iter().find_map(|c| {
                compile_patterns(&c.patterns)
                    .err()
                    .map(|source| (c.name, source))
            });
            if let Some((category, source)) = failed {
                let at = self.category.iter().find(|c| *c.name.get_ref() == category);
                problems.push((
                    at.unwrap_or(first).name.span(),
                    format!(
                        "the patterns of category `{category}` do not compile together: {source}"
                    ),
                ));
            }
        }
        let categories = pack::merge_categories(builtin, &self.category_overrides());
        for log in &self.log {
            problems.extend(log.problems(&categories));
        }
        unique_names("log", self.log.iter().map(|l| &l.name), &mut problems);
        let remedies = self
            .check
            .iter()
            .flat_map(|c| &c.remedy)
            .chain(self.log.iter().flat_map(|l| &l.remedy));
        for remedy in remedies {
            if !runbook_names.contains_key(remedy.get_ref().as_str()) {
                problems.push((
                    remedy.span(),
                    format!("remedy `{}` is not a defined runbook", remedy.get_ref()),
                ));
            }
        }
        problems
    }

    /// The log categories in force, in priority order: the `[[category]]` tables applied to the
    /// built-in pack (see `merge_categories`). Their patterns compile (one set per category)
    /// for every config that loaded.
    pub fn categories(&self) -> Vec<crate::model::Category> {
        pack::merge_categories(builtin_categories(), &self.category_overrides())
    }

    fn category_overrides(&self) -> Vec<pack::CategoryOverride> {
        self.category
            .iter()
            .map(CategoryConfig::to_override)
            .collect()
    }

    /// The path to load: the explicit one, else `HOMEOSTAT_CONFIG` (handled by the CLI), else the default.
    pub fn resolve_path(explicit: Option<&Path>) -> PathBuf {
        explicit
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
    }
}

/// The names of `kind` (`check`, `log`) with the span of each one's first use; a name that is
/// not letters, digits, `-`, `_` and `.`, or that is used twice, is a problem.
fn unique_names<'a>(
    kind: &str,
    names: impl Iterator<Item = &'a Spanned<String>>,
    problems: &mut Vec<(Range<usize>, String)>,
) -> HashMap<&'a str, Range<usize>> {
    let mut seen: HashMap<&str, Range<usize>> = HashMap::new();
    for spanned in names {
        let name = spanned.get_ref().as_str();
        if !valid_name(name) {
            problems.push((
                spanned.span(),
                format!("{kind} name `{name}`: use letters, digits, `-`, `_` and `.` only"),
            ));
        }
        if seen.contains_key(name) {
            problems.push((spanned.span(), format!("duplicate {kind} name `{name}`")));
        } else {
            seen.insert(name, spanned.span());
        }
    }
    seen
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// 1-based line and character column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn empty_file_is_a_valid_config_with_defaults() {
        let config = Config::parse("", Path::new("x.toml")).expect("valid");
        assert_eq!(config.server.listen.get_ref(), "127.0.0.1:9780");
        assert_eq!(config.store.url.get_ref(), "sqlite://homeostat.db");
        assert_eq!(config.policy.mode, Mode::Enforce);
    }
}
