//! Something that happened, as the event bus carries it to listeners and SSE clients.

use super::{Incident, Repair, Signal};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Something that happened, as sent to listeners and SSE clients.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A check's status changed: carries the signal.
    CheckStatus(Signal),
    /// An incident opened, changed state or got another signal.
    Incident {
        /// `opened`, `updated`, `reopened`, `acknowledged`, `resolved`, ...
        action: &'static str,
        /// The incident after the change.
        incident: Box<Incident>,
    },
    /// A repair was created or changed state.
    Repair(Box<Repair>),
    /// The emergency stop was engaged or lifted.
    EmergencyStop {
        /// Engaged after the change.
        active: bool,
        /// Who.
        actor: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Monitoring (checks and detection) started or stopped.
    Monitoring {
        /// Running after the change.
        running: bool,
        /// When.
        at: DateTime<Utc>,
    },
}

impl Event {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::CheckStatus(_) => "check_status",
            Event::Incident { .. } => "incident",
            Event::Repair(_) => "repair",
            Event::EmergencyStop { .. } => "emergency_stop",
            Event::Monitoring { .. } => "monitoring",
        }
    }
}
