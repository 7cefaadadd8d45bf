//! The plain records every stage shares — observations and their status, log categories and
//! file positions, signals, incidents, repairs, breakers and bus events — with no I/O: the floor
//! that store, bus and telemetry stand on.

mod category;
mod event;
mod incident;
mod log_file;
mod observation;
mod repair;
mod signal;

pub use category::{Category, CategoryId, Severity};
pub use event::Event;
pub use incident::{Impact, Incident, IncidentState, Priority, TimelineEntry};
pub use log_file::{FileId, Position};
pub use observation::{Observation, Status};
pub use repair::{Breaker, Repair, RepairState, StepRecord};
pub use signal::{LOG_LABEL, Signal, check_fingerprint, log_fingerprint};
