//! Log categories as records: a named family of log lines (patterns, severity, advice,
//! runbooks), its severity, and its index among the categories in force.

use serde::{Deserialize, Serialize};

/// Index of a category among the categories in force (a classifier's), in priority order (0
/// wins over 1).
pub type CategoryId = usize;

/// How serious a category is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, no action needed.
    Info,
    /// May need attention soon.
    Warning,
    /// Something failed.
    Error,
    /// Service is down or data at risk.
    Critical,
}

/// A named family of log lines recognized by regex patterns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    /// Short machine name, e.g. `disk_full`.
    pub name: String,
    /// Regex patterns (`regex` crate syntax); any one matching puts a line in the category.
    pub patterns: Vec<String>,
    /// How serious a matching line is.
    pub severity: Severity,
    /// What an operator should check first.
    pub advice: String,
    /// Names of runbooks that may remedy it.
    pub runbooks: Vec<String>,
}
