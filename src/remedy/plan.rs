//! The plan of a repair: what it will run, with its templates filled in, as the approver sees it.

use crate::model::StepRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// What a repair will run, as planned from its runbook now (templates filled in): shown to the
/// approver of a repair awaiting approval.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RepairPlan {
    /// The repair.
    pub repair_id: String,
    /// Runbook name.
    pub runbook: String,
    /// The runbook's risk: `low`, `medium` or `high`.
    pub risk: &'static str,
    /// The runbook's approval setting: `none` or `required`.
    pub approval: &'static str,
    /// Least role that may approve.
    pub required_role: &'static str,
    /// How long the repair waits for a decision, in seconds.
    pub approval_timeout_seconds: f64,
    /// What happens when nobody decides in time: `deny` or `approve`.
    pub on_timeout: &'static str,
    /// The check that must be healthy afterwards, if any.
    pub verify_check: Option<String>,
    /// Steps then rollback steps, each with its exact command (not run: no exit code).
    pub steps: Vec<StepRecord>,
}
