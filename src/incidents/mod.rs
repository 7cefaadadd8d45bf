//! Incidents: the ITIL-style record of a failure — lifecycle states, priority from impact ×
//! urgency, a timeline, dedup by fingerprint, auto-resolve, and MTTD/MTTR samples.

mod model;
mod service;

pub use model::{Incident, IncidentState, Priority, TimelineEntry};
pub use service::IncidentService;
