//! What a probe reports, before flap control and timing turn it into an observation.

use crate::model::Status;
use std::collections::BTreeMap;

/// What a probe reports, before flap control and timing are applied.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Status as the probe sees it.
    pub status: Status,
    /// One line for humans.
    pub message: String,
    /// Named numbers (units in the name: `_seconds`, `_bytes`, `_percent`).
    pub metrics: BTreeMap<String, f64>,
}

impl Outcome {
    /// An outcome with no metrics.
    pub fn new(status: Status, message: impl Into<String>) -> Outcome {
        Outcome {
            status,
            message: message.into(),
            metrics: BTreeMap::new(),
        }
    }

    /// Adds a metric (non-finite values are dropped: JSON cannot carry them).
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Outcome {
        if value.is_finite() {
            self.metrics.insert(name.into(), value);
        }
        self
    }
}
