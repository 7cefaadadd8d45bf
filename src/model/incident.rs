//! The incident record (ITIL v4 style): states, severity, priority from impact × urgency, and
//! the timeline entries that tell its story.

use super::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Where an incident is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    /// Detected; nobody has looked yet.
    Open,
    /// A human has seen it.
    Acknowledged,
    /// A repair is running.
    Remediating,
    /// Automatic repair gave up; a human must act.
    Escalated,
    /// The service is healthy again.
    Resolved,
    /// Done; a new failure opens a new incident.
    Closed,
}

impl IncidentState {
    /// Every state, in lifecycle order.
    pub const ALL: [IncidentState; 6] = [
        IncidentState::Open,
        IncidentState::Acknowledged,
        IncidentState::Remediating,
        IncidentState::Escalated,
        IncidentState::Resolved,
        IncidentState::Closed,
    ];

    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Acknowledged => "acknowledged",
            IncidentState::Remediating => "remediating",
            IncidentState::Escalated => "escalated",
            IncidentState::Resolved => "resolved",
            IncidentState::Closed => "closed",
        }
    }

    /// Parses a stored or requested state name.
    pub fn parse(text: &str) -> Option<IncidentState> {
        IncidentState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the incident still needs attention (not resolved or closed).
    pub fn is_active(self) -> bool {
        !matches!(self, IncidentState::Resolved | IncidentState::Closed)
    }
}

/// How much of the service a failing check takes down (ITIL impact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    /// Many users or a critical service.
    High,
    /// Some users or a degraded service.
    #[default]
    Medium,
    /// Few users, a workaround exists.
    Low,
}

/// ITIL priority, P1 (most urgent) to P4.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Priority {
    /// Critical: act now.
    P1,
    /// High.
    P2,
    /// Medium.
    P3,
    /// Low.
    P4,
}

impl Priority {
    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }

    /// Parses `P1`..`P4`.
    pub fn parse(text: &str) -> Option<Priority> {
        [Priority::P1, Priority::P2, Priority::P3, Priority::P4]
            .into_iter()
            .find(|p| p.as_str() == text)
    }

    /// The ITIL matrix: impact (high 1, medium 2, low 3) plus urgency (critical 1, warning or
    /// unknown 2) minus one gives P1..P4:
    ///
    /// | impact \ severity | critical | warning/unknown |
    /// |---|---|---|
    /// | high   | P1 | P2 |
    /// | medium | P2 | P3 |
    /// | low    | P3 | P4 |
    pub fn from(impact: Impact, severity: Status) -> Priority {
        let impact = match impact {
            Impact::High => 1,
            Impact::Medium => 2,
            Impact::Low => 3,
        };
        let urgency = if severity == Status::Critical { 1 } else { 2 };
        match impact + urgency - 1 {
            1 => Priority::P1,
            2 => Priority::P2,
            3 => Priority::P3,
            _ => Priority::P4,
        }
    }
}

/// One incident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    /// Id (a string; numeric today).
    pub id: String,
    /// Dedup key: one active incident per fingerprint.
    pub fingerprint: String,
    /// One line for humans.
    pub title: String,
    /// Worst status seen: `warning`, `critical` or `unknown`.
    pub severity: Status,
    /// P1..P4.
    pub priority: Priority,
    /// Lifecycle state.
    pub state: IncidentState,
    /// The check that signalled it.
    pub check: Option<String>,
    /// Labels of the first signal.
    pub labels: BTreeMap<String, String>,
    /// First failing observation (before flap control).
    pub started_at: DateTime<Utc>,
    /// When the incident opened (detection).
    pub opened_at: DateTime<Utc>,
    /// When a human acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Latest signal.
    pub last_signal_at: DateTime<Utc>,
    /// Signals received.
    pub signal_count: i64,
    /// Seconds from the first failing observation to detection (MTTD sample).
    pub time_to_detect_seconds: f64,
    /// Seconds from the first failing observation to resolution (MTTR sample), once resolved.
    pub time_to_resolve_seconds: Option<f64>,
}

/// One entry of an incident's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// `opened`, `signal`, `acknowledged`, `resolved`, `reopened`, `closed`, `escalated`,
    /// `repair_started`, `repair_finished`, ...
    pub kind: String,
    /// Who: a user or token name, or `homeostat` for automatic actions.
    pub actor: String,
    /// What happened.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_matrix() {
        assert_eq!(Priority::from(Impact::High, Status::Critical), Priority::P1);
        assert_eq!(Priority::from(Impact::High, Status::Warning), Priority::P2);
        assert_eq!(
            Priority::from(Impact::Medium, Status::Critical),
            Priority::P2
        );
        assert_eq!(
            Priority::from(Impact::Medium, Status::Unknown),
            Priority::P3
        );
        assert_eq!(Priority::from(Impact::Low, Status::Critical), Priority::P3);
        assert_eq!(Priority::from(Impact::Low, Status::Warning), Priority::P4);
    }

    #[test]
    fn names_round_trip() {
        for s in IncidentState::ALL {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
        assert_eq!(Priority::parse("P3"), Some(Priority::P3));
        assert_eq!(Priority::parse("P5"), None);
    }
}
