//! The internal event bus: every observation status change (as a signal) and monitoring
//! start/stop, fanned out to later stages (incidents, SSE, dashboard). Slow listeners lose old events.

use crate::detect::Signal;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for a listener that falls behind.
const CAPACITY: usize = 1024;

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
        incident: Box<crate::incidents::Incident>,
    },
    /// A repair was created or changed state.
    Repair(Box<crate::remedy::Repair>),
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

/// Publish/subscribe for events; cheap to clone.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    /// Sends to every current listener (none listening is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// A new listener that sees events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
