//! What one run of a check found: its status, latency, message and metrics.
//! Status follows the Nagios convention and orders from best to worst.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// The health of a check, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Healthy.
    Ok,
    /// Working, but past a warning threshold.
    Warning,
    /// Failing.
    Critical,
    /// The check itself could not tell (plugin error, timeout of a command, not yet run).
    Unknown,
}

impl Status {
    /// The Nagios exit code / metric value: 0 ok, 1 warning, 2 critical, 3 unknown.
    pub fn code(self) -> i64 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// The status for a Nagios exit code or stored code; anything unexpected is `unknown`.
    pub fn from_code(code: i64) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::Warning,
            2 => Status::Critical,
            _ => Status::Unknown,
        }
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }

    /// Whether this status counts as a failure for flap control and incidents.
    pub fn is_failure(self) -> bool {
        self != Status::Ok
    }

    /// The worse of two statuses (critical > unknown > warning > ok).
    pub fn worst(self, other: Status) -> Status {
        let rank = |s: Status| match s {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Unknown => 2,
            Status::Critical => 3,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// One run of a check, as stored and served.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Observation {
    /// Check name.
    pub check: String,
    /// Status after flap control.
    pub status: Status,
    /// Status the probe itself reported.
    pub raw_status: Status,
    /// Time the run took, in milliseconds.
    pub latency_ms: f64,
    /// One line for humans.
    pub message: String,
    /// Named numbers from the run.
    pub metrics: BTreeMap<String, f64>,
    /// When the run started (RFC 3339 UTC).
    pub observed_at: DateTime<Utc>,
}
