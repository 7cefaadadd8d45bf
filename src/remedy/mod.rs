//! Remediation: runbooks executed as repairs — argv and built-in steps (http, sleep, signal,
//! cleanup, redis, sql) with timeouts and process-group kill,
//! templated arguments, verify, rollback, next candidate, escalation — behind the safety gates
//! (mode, emergency stop, budgets and breakers, global limits, re-check, approvals).

mod engine;
mod model;
mod steps;
mod template;

pub use engine::{ManualRepair, RepairEngine, RepairError};
pub use model::{Breaker, Repair, RepairState, StepRecord};
pub use steps::{execute as execute_step, plan as plan_step};
pub use template::{render_argv, render_str};
