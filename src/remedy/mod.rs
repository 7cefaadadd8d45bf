//! Remediation: runbooks executed as repairs — argv and built-in steps (http, sleep, signal,
//! cleanup, redis, sql) with timeouts and process-group kill,
//! templated arguments, verify, rollback, next candidate, escalation — behind the safety gates
//! (mode, emergency stop, budgets and breakers, global limits, re-check, approvals); learning
//! orders candidate runbooks by their record.
//!
//! Where each concept lives: `engine.rs` the front door (run, request, plan, candidates);
//! `jobs.rs` the repair job on the queue (enqueue, claim, take back, dead jobs); `stop.rs` the
//! emergency stop; `gates/` admission — `mod.rs` the order and the mode, `budget.rs` breakers
//! and budgets, `approval.rs` approval and its timeout, `hold.rs` the target hold;
//! `executor.rs` steps, verify, rollback, finish; `context.rs` what they share; `steps/` the
//! step kinds; `template.rs` templating; `learning.rs` the ranking of runbooks.

mod context;
mod engine;
mod executor;
mod gates;
mod jobs;
mod learning;
mod plan;
mod steps;
mod stop;
mod template;

pub use engine::{EngineParts, ManualRepair, RepairEngine, RepairError};
pub use gates::approval_timed_out;
pub use learning::{RunbookStats, rank, rank_history};
pub use plan::RepairPlan;
pub use steps::{execute as execute_step, plan as plan_step};
pub use template::{render_argv, render_str};
