//! Incidents: the ITIL-style record of a failure — lifecycle states, priority from impact ×
//! urgency, a timeline, dedup by fingerprint, auto-resolve, and MTTD/MTTR samples.

mod service;
mod transition;

pub use service::IncidentService;
pub use transition::TransitionError;
