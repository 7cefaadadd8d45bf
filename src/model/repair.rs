//! The repair record: one execution of a runbook for an incident, its state and the exact
//! commands it ran (or, in dry-run, would have run).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a repair is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RepairState {
    /// Waiting for a slot.
    Queued,
    /// Waiting for a human decision.
    AwaitingApproval,
    /// Running its steps.
    Running,
    /// Steps done; waiting for the verify check to be healthy.
    Verifying,
    /// Verified healthy.
    Succeeded,
    /// A step failed or verify did not pass, and there was no rollback.
    Failed,
    /// Verify or a step failed and the rollback steps ran.
    RolledBack,
    /// A human (or the approval timeout) said no.
    Denied,
    /// Not run or stopped: dry-run, emergency stop, budget, breaker, target already healthy.
    Cancelled,
    /// The daemon stopped while it ran.
    Interrupted,
}

impl RepairState {
    /// Every state.
    pub const ALL: [RepairState; 10] = [
        RepairState::Queued,
        RepairState::AwaitingApproval,
        RepairState::Running,
        RepairState::Verifying,
        RepairState::Succeeded,
        RepairState::Failed,
        RepairState::RolledBack,
        RepairState::Denied,
        RepairState::Cancelled,
        RepairState::Interrupted,
    ];

    /// The name used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RepairState::Queued => "queued",
            RepairState::AwaitingApproval => "awaiting_approval",
            RepairState::Running => "running",
            RepairState::Verifying => "verifying",
            RepairState::Succeeded => "succeeded",
            RepairState::Failed => "failed",
            RepairState::RolledBack => "rolled_back",
            RepairState::Denied => "denied",
            RepairState::Cancelled => "cancelled",
            RepairState::Interrupted => "interrupted",
        }
    }

    /// Parses a state name.
    pub fn parse(text: &str) -> Option<RepairState> {
        RepairState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the repair has finished.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            RepairState::Queued
                | RepairState::AwaitingApproval
                | RepairState::Running
                | RepairState::Verifying
        )
    }
}

/// One step as run (or planned).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StepRecord {
    /// `step` or `rollback`.
    pub phase: String,
    /// The exact argv (after templating); for a built-in step, its kind and what it acts on,
    /// e.g. `["http", "POST", "http://..."]` or `["redis", "redis://...", "FLUSHDB"]`.
    pub command: Vec<String>,
    /// Exit code (`0` for a built-in step that succeeded); `null` when not run (dry-run), failed
    /// built-in, killed or timed out.
    pub exit_code: Option<i32>,
    /// Captured stdout and stderr (capped).
    pub output: String,
    /// Wall time.
    pub duration_ms: u64,
    /// Why it did not finish normally, if it did not.
    pub error: Option<String>,
}

impl StepRecord {
    /// This record with secrets, tokens and PII replaced (what is stored and shown).
    pub fn redacted(&self) -> StepRecord {
        let r = |t: &str| crate::security::redact::redact(t).into_owned();
        StepRecord {
            phase: self.phase.clone(),
            command: self.command.iter().map(|c| r(c)).collect(),
            exit_code: self.exit_code,
            output: r(&self.output),
            duration_ms: self.duration_ms,
            error: self.error.as_deref().map(r),
        }
    }
}

/// One repair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Repair {
    /// Id.
    pub id: String,
    /// The incident it repairs; `null` for a runbook run by hand.
    pub incident_id: Option<String>,
    /// Runbook name.
    pub runbook: String,
    /// The check it repairs (budgets and breakers are per target and runbook).
    pub target: Option<String>,
    /// State.
    pub state: RepairState,
    /// 1 for the first repair of the incident, 2 for the next candidate, ...
    pub attempt: i64,
    /// Planned only: nothing was run.
    pub dry_run: bool,
    /// Steps and rollback steps in order.
    pub steps: Vec<StepRecord>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// `homeostat` for automatic repairs, else who asked.
    pub requested_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its steps started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
}

/// An open circuit breaker: no automatic repairs of `target` with `runbook` until `closes_at`
/// or a human resets it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Breaker {
    /// Check name.
    pub target: String,
    /// Runbook name.
    pub runbook: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it closes by itself.
    pub closes_at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}
