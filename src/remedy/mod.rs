//! Remediation: runbooks executed as repairs — argv steps with timeouts and process-group kill,
//! templated arguments, verify, rollback, next candidate, escalation — behind the safety gates
//! (mode, emergency stop, budgets and breakers, global limits, re-check, approvals).

mod engine;
mod model;
mod template;

pub use engine::{ManualRepair, RepairEngine, RepairError};
pub use model::{Breaker, Repair, RepairState, StepRecord};
pub use template::render_argv;
