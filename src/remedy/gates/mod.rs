//! The safety gates a repair passes before it runs, in order: mode, emergency stop, target hold,
//! breaker and budgets, approval; and the gates re-checked when an admitted repair starts.
//!
//! In the order a repair meets them: `max_concurrent_repairs` (the job claim), mode `observe`
//! (nothing planned), emergency stop (nothing starts; running steps are killed), the target hold
//! (one repair per target), open breaker, per target × runbook budget (`max_attempts` within
//! `window`, then the breaker opens for `cooldown`), global `max_repairs_per_hour`, approval
//! (`approval = "required"` or `risk = "high"`); when the repair starts, the mode and breaker
//! again, re-check (a healthy target is never repaired), then mode `dry-run` (record the exact
//! argv, run nothing). After the steps: verify, rollback, next candidate.

mod approval;
mod budget;
mod hold;

pub use approval::approval_timed_out;
pub(super) use hold::TargetLease;

use super::context::{Attempt, Context, Subject};
use crate::config::{Mode, RunbookConfig};
use crate::model::{Repair, RepairState};
use crate::store::{NewRepair, StoreError};
use crate::telemetry::events::RepairFinished;
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// What the gates decided.
pub(super) enum Admission {
    /// Refused: how the candidate ends, and the `cancelled` record.
    Refused(Attempt, Repair),
    /// Recorded `queued` or `awaiting_approval` (the flag says which), holding its target.
    Admitted(Repair, bool, Option<TargetLease>),
}

impl Context {
    /// The gates before a repair may be queued: mode, emergency stop, target hold, breaker,
    /// per-target budget (target repairs only), global hourly budget. Admitted repairs are
    /// recorded `queued`, or `awaiting_approval` when the runbook needs approval.
    pub(super) async fn admit(
        self: &Arc<Self>,
        subject: &Subject<'_>,
    ) -> Result<Admission, StoreError> {
        if self.mode_for(subject.book) == Mode::Observe {
            let repair = self
                .record_cancelled(subject, "mode is observe: repairs are not run")
                .await?;
            return Ok(Admission::Refused(Attempt::Halt, repair));
        }
        if let Some(repair) = self.refuse_if_stopped(subject).await? {
            return Ok(Admission::Refused(Attempt::Halt, repair));
        }
        let lease = match self.hold_target(subject).await? {
            Ok(lease) => lease,
            Err((why, repair)) => return Ok(Admission::Refused(Attempt::Next(why), repair)),
        };
        if let Some(refused) = self.refuse_over_budget(subject, Utc::now()).await? {
            return Ok(refused);
        }
        let needs_approval = approval::needs_approval(subject.book);
        let state = if needs_approval {
            RepairState::AwaitingApproval
        } else {
            RepairState::Queued
        };
        let repair = self.create(subject, state, None).await?;
        if needs_approval {
            tracing::warn!(repair = %repair.id, runbook = %repair.runbook, "repair awaiting approval");
        }
        self.announce(&repair);
        Ok(Admission::Admitted(repair, needs_approval, lease))
    }

    /// While the emergency stop is engaged: records `subject` refused (nothing starts).
    pub(super) async fn refuse_if_stopped(
        &self,
        subject: &Subject<'_>,
    ) -> Result<Option<Repair>, StoreError> {
        if !self.stop.engaged() {
            return Ok(None);
        }
        let repair = self
            .record_cancelled(subject, "emergency stop is active")
            .await?;
        Ok(Some(repair))
    }

    /// The mode a runbook runs in: the stricter of the global mode and its own.
    pub(super) fn mode_for(&self, book: &RunbookConfig) -> Mode {
        let global = self.config.policy.mode;
        book.mode
            .as_ref()
            .map_or(global, |m| global.strictest(*m.get_ref()))
    }

    /// Why `repair`, admitted earlier, may no longer run: the mode is now stricter than when it
    /// was admitted (observe; or dry-run for a repair admitted to run for real), or its target's
    /// breaker is open now.
    pub(super) async fn closed_gate(
        &self,
        repair: &Repair,
        book: &RunbookConfig,
    ) -> Result<Option<String>, StoreError> {
        match self.mode_for(book) {
            Mode::Observe => {
                return Ok(Some(
                    "the mode is now observe: admitted earlier, not run".to_string(),
                ));
            }
            Mode::DryRun if !repair.dry_run => {
                return Ok(Some(
                    "the mode is now dry-run: admitted earlier to run for real, not run"
                        .to_string(),
                ));
            }
            _ => {}
        }
        let Some(target) = repair.target.as_deref() else {
            return Ok(None);
        };
        let open = self
            .open_breaker_of(target, &repair.runbook, Utc::now())
            .await?;
        Ok(open.map(|b| {
            format!(
                "breaker opened meanwhile, until {} ({})",
                b.closes_at.to_rfc3339(),
                b.reason
            )
        }))
    }

    /// Records a new repair of `subject` in `state` (with why, if refused) and audits it.
    pub(super) async fn create(
        &self,
        subject: &Subject<'_>,
        state: RepairState,
        error: Option<&str>,
    ) -> Result<Repair, StoreError> {
        let repair = self
            .store
            .create_repair(&NewRepair {
                incident_id: subject.incident.map(|i| i.id.as_str()),
                runbook: subject.book.name.get_ref(),
                target: subject.target().as_deref(),
                state,
                attempt: subject.attempt,
                dry_run: self.mode_for(subject.book) == Mode::DryRun,
                requested_by: subject.actor,
                error,
            })
            .await?;
        self.audit(&repair, "repair.create", error).await;
        Ok(repair)
    }

    /// Records a repair that a gate refused (state `cancelled`, with why) and counts it.
    pub(super) async fn record_cancelled(
        &self,
        subject: &Subject<'_>,
        why: &str,
    ) -> Result<Repair, StoreError> {
        let repair = self
            .create(subject, RepairState::Cancelled, Some(why))
            .await?;
        tracing::warn!(incident = ?repair.incident_id, repair = %repair.id, runbook = %repair.runbook, reason = why, "repair not started");
        RepairFinished {
            repair: &repair.id,
            runbook: &repair.runbook,
            outcome: "cancelled",
            duration: Duration::ZERO,
            error: Some(why),
        }
        .emit(&self.metrics);
        self.announce(&repair);
        Ok(repair)
    }
}
