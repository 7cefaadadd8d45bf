//! Remediation: runbooks executed as repairs — argv steps with timeouts and process-group kill,
//! templated arguments, verify, rollback, next candidate, escalation — behind the safety gates
//! (mode, emergency stop, budgets and breakers, global limits, re-check, approvals); learning
//! orders candidate runbooks by their record.

mod engine;
mod learning;
mod model;
mod template;

pub use engine::{EngineParts, ManualRepair, RepairEngine, RepairError};
pub use learning::{RunbookStats, rank};
pub use model::{Breaker, Repair, RepairState, StepRecord};
pub use template::render_argv;
