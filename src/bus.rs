//! The internal event bus: every observation status change (as a signal), incident and repair
//! transition and monitoring start/stop, fanned out to later stages (incidents, SSE, dashboard).
//! Slow listeners lose old events.

use crate::model::Event;
use tokio::sync::broadcast;

/// Events kept for a listener that falls behind.
const CAPACITY: usize = 1024;

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
