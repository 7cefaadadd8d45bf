//! A signal: anything that may open an incident. Here: a check whose status changed.
//! The fingerprint is the dedup key incidents are keyed on.

use crate::checks::Status;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// A status change of a check (after flap control).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Signal {
    /// Dedup key: `check:<name>`.
    pub fingerprint: String,
    /// The check.
    pub check: String,
    /// The check's labels plus `check` and `type`.
    pub labels: BTreeMap<String, String>,
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
