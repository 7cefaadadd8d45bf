//! A signal: anything that may open an incident: a check whose status changed, or a log
//! category whose rate crossed its alert. The fingerprint is the dedup key incidents are keyed on.

use super::{Impact, Status};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A status change of a check (after flap control), or of a log category rate.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Signal {
    /// Dedup key: `check:<name>` or `log:<source>:<category>`.
    pub fingerprint: String,
    /// The check; `null` for log signals.
    pub check: Option<String>,
    /// What the signal is about, for titles and timelines: the check name, or `log <source>`.
    pub subject: String,
    /// The check's labels plus `check` and `type`; or the log source's labels plus `log` and
    /// `category`.
    pub labels: BTreeMap<String, String>,
    /// Impact of the check or log source (with the status: the incident priority).
    #[serde(skip)]
    pub impact: Impact,
    /// New status.
    pub status: Status,
    /// Status before the change.
    pub previous: Status,
    /// The observation's message (evidence).
    pub message: String,
    /// When the observation that caused the change started.
    pub at: DateTime<Utc>,
    /// Start of the failure (first failing run, before flap control); `null` for healthy signals.
    pub failing_since: Option<DateTime<Utc>>,
}

/// The fingerprint of signals about check `name`.
pub fn check_fingerprint(name: &str) -> String {
    format!("check:{name}")
}

/// The label naming the log source of a log signal (and of its incident).
pub const LOG_LABEL: &str = "log";

/// The fingerprint of signals about `category` lines in log source `source`.
pub fn log_fingerprint(source: &str, category: &str) -> String {
    format!("log:{source}:{category}")
}
