//! The executor: runs an admitted repair — re-check, dry-run plan or steps (each step's process
//! group recorded), verify, rollback — and finishes it (record, metrics, audit, event).

use super::context::{Attempt, Context, Subject};
use super::steps;
use crate::checks::Check;
use crate::checks::scheduler::OutcomeSink;
use crate::config::{RunbookConfig, StepConfig};
use crate::model::{Incident, IncidentState, Repair, RepairState, Status, StepRecord};
use crate::store::StoreError;
use crate::telemetry::events::RepairFinished;
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How a continued repair records a step it did not run again.
const SKIPPED_PREFIX: &str = "skipped: completed by interrupted repair";
/// How long verify waits for the target check when the runbook names no `verify`.
const DEFAULT_VERIFY_WITHIN: Duration = Duration::from_secs(30);

/// Counts a repair in `Context::executing` while held.
struct Executing<'a>(&'a AtomicUsize);

impl<'a> Executing<'a> {
    fn enter(count: &'a AtomicUsize) -> Executing<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Executing(count)
    }
}

impl Drop for Executing<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Context {
    /// Runs `repair`, created for `subject`: re-check, dry-run or steps, verify, rollback.
    /// `interrupted` is the repair this one continues, whose completed steps are skipped.
    pub(super) async fn execute(
        &self,
        repair: Repair,
        subject: &Subject<'_>,
        interrupted: Option<&Repair>,
    ) -> Result<Attempt, StoreError> {
        let (incident, book) = (subject.incident, subject.book);
        let check = subject.check.map(|c| c.as_ref());
        let store = &self.store;
        let kill = self.stop.kill_token();
        let _executing = Executing::enter(&self.executing);
        if self.stop.engaged() {
            self.cancel(&repair, "emergency stop is active").await?;
            return Ok(Attempt::Halt);
        }
        // The gates that can change while a repair waits (for approval, for a slot, or across a
        // restart with another config): the mode now, and the breaker of its target now.
        if let Some(why) = self.closed_gate(&repair, book).await? {
            self.cancel(&repair, &why).await?;
            return Ok(Attempt::Halt);
        }
        // Re-check before acting: a healthy target is never repaired.
        if let Some(check) = check {
            let outcome = self.probe(check, check.timeout).await;
            if outcome.status == Status::Ok {
                let why = format!(
                    "target `{}` is healthy on re-check ({}); nothing done",
                    check.name, outcome.message
                );
                self.cancel(&repair, &why).await?;
                return Ok(Attempt::Done);
            }
        }
        let secrets = match self.secrets().await {
            Ok(secrets) => secrets,
            Err(e) => {
                let why = format!("cannot read secrets: {e}");
                self.fail(&repair, &why).await?;
                return Ok(Attempt::Done);
            }
        };
        let context = template_context(incident, check, book, &secrets);
        if repair.dry_run {
            let planned = planned_steps(book, &context);
            self.finish(
                &repair,
                RepairState::Cancelled,
                &planned,
                Some("dry-run: planned only, nothing was run"),
                Duration::ZERO,
            )
            .await?;
            return Ok(Attempt::Done);
        }
        if let Some(incident) = incident {
            self.incidents
                .automatic(
                    &incident.id,
                    IncidentState::Remediating,
                    &format!("repair {} started: runbook {}", repair.id, repair.runbook),
                )
                .await?;
        }
        let started = Instant::now();
        let mut records = Vec::new();
        let steps = steps_to_run(&book.steps, interrupted, &mut records);
        // The skipped steps are stored at once: if this repair is interrupted too, the next
        // continuation must still know that they had completed.
        store
            .update_repair(&repair.id, RepairState::Running, &records, None)
            .await?;
        tracing::info!(repair = %repair.id, incident = ?repair.incident_id, runbook = %repair.runbook, "repair running");
        let mut failure = self
            .run_steps(&repair, "step", &steps, &context, &kill, &mut records)
            .await?;
        if kill.is_cancelled() {
            return self
                .stopped(&repair, &records, "killed by the emergency stop", started)
                .await;
        }
        if failure.is_none() {
            store
                .update_repair(&repair.id, RepairState::Verifying, &records, None)
                .await?;
            let verify = book.verify.as_ref().and_then(|v| {
                self.checks
                    .get(v.check.get_ref())
                    .map(|c| (Arc::clone(c), v.within.get()))
            });
            let verify = verify.or_else(|| {
                check
                    .and_then(|c| self.checks.get(&c.name))
                    .map(|c| (Arc::clone(c), DEFAULT_VERIFY_WITHIN))
            });
            if let Some((target, within)) = verify
                && !self.verify(&target, within, &kill).await
            {
                failure = Some(format!(
                    "verify failed: `{}` not healthy within {}",
                    target.name,
                    humantime::format_duration(within)
                ));
            }
        }
        if kill.is_cancelled() {
            // The emergency stop came during verify: nothing more runs, not even rollback.
            return self
                .stopped(
                    &repair,
                    &records,
                    "stopped by the emergency stop during verify",
                    started,
                )
                .await;
        }
        let Some(reason) = failure else {
            self.finish(
                &repair,
                RepairState::Succeeded,
                &records,
                None,
                started.elapsed(),
            )
            .await?;
            if let Some(incident) = incident {
                self.incidents
                    .automatic(
                        &incident.id,
                        IncidentState::Resolved,
                        &format!(
                            "repaired by runbook {} (repair {})",
                            repair.runbook, repair.id
                        ),
                    )
                    .await?;
            }
            return Ok(Attempt::Repaired);
        };
        let state = if book.rollback.is_empty() {
            RepairState::Failed
        } else {
            let rollback_failure = self
                .run_steps(
                    &repair,
                    "rollback",
                    &book.rollback,
                    &context,
                    &kill,
                    &mut records,
                )
                .await?;
            if let Some(e) = rollback_failure {
                tracing::error!(repair = %repair.id, error = %e, "rollback failed");
            }
            RepairState::RolledBack
        };
        self.finish(&repair, state, &records, Some(&reason), started.elapsed())
            .await?;
        Ok(Attempt::Next(reason))
    }

    /// Runs `steps` in order, recording each; returns why the first failing one failed.
    async fn run_steps(
        &self,
        repair: &Repair,
        phase: &str,
        steps: &[StepConfig],
        context: &minijinja::Value,
        kill: &CancellationToken,
        records: &mut Vec<StepRecord>,
    ) -> Result<Option<String>, StoreError> {
        for step in steps {
            tracing::info!(repair = %repair.id, incident = ?repair.incident_id, runbook = %repair.runbook, phase, "running step");
            let record = self
                .execute_recorded(repair, step, context, kill, phase)
                .await?;
            tracing::info!(repair = %repair.id, incident = ?repair.incident_id, runbook = %repair.runbook, phase, command = ?record.command, error = ?record.error, "step finished");
            let failure = record
                .error
                .as_ref()
                .map(|e| format!("{phase} `{}` failed: {e}", record.command.join(" ")));
            records.push(record);
            self.store
                .update_repair(&repair.id, RepairState::Running, records, None)
                .await?;
            if failure.is_some() {
                return Ok(failure);
            }
        }
        Ok(None)
    }

    /// Ends `repair` in `state` with its step records and why: stored, counted (with its
    /// duration), audited and announced.
    pub(super) async fn finish(
        &self,
        repair: &Repair,
        state: RepairState,
        steps: &[StepRecord],
        error: Option<&str>,
        duration: Duration,
    ) -> Result<(), StoreError> {
        self.store
            .update_repair(&repair.id, state, steps, error)
            .await?;
        RepairFinished {
            repair: &repair.id,
            runbook: &repair.runbook,
            outcome: state.as_str(),
            duration,
            error,
        }
        .emit(&self.metrics);
        if let Some(updated) = self.store.repair(&repair.id).await? {
            self.audit(&updated, "repair.finish", error).await;
            self.announce(&updated);
        }
        Ok(())
    }

    /// Runs `check` once for a repair (re-check, verify). The result is an observation of the
    /// check like any other, so detection sees the recovery (or the failure) too.
    async fn probe(&self, check: &Check, timeout: Duration) -> crate::checks::Outcome {
        let started_at = Utc::now();
        let started = Instant::now();
        let outcome = check.kind.probe(timeout).await;
        self.detector.observe(
            check,
            outcome.clone(),
            started_at,
            started.elapsed(),
            Duration::ZERO,
        );
        outcome
    }

    /// Re-runs `check` until it is healthy or `within` passes (or the kill token fires).
    async fn verify(&self, check: &Check, within: Duration, kill: &CancellationToken) -> bool {
        let deadline = deadline_after(within);
        let pause = (within / 20).clamp(Duration::from_millis(100), Duration::from_secs(1));
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = check.timeout.min(remaining.max(Duration::from_millis(100)));
            let probe = tokio::time::timeout(
                remaining.max(Duration::from_millis(1)),
                self.probe(check, timeout),
            );
            if let Ok(outcome) = probe.await
                && outcome.status == Status::Ok
            {
                return true;
            }
            if Instant::now() >= deadline || kill.is_cancelled() {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = kill.cancelled() => return false,
            }
        }
    }

    /// Ends `repair`, whose steps began at `started`, as `cancelled` by the emergency stop.
    async fn stopped(
        &self,
        repair: &Repair,
        records: &[StepRecord],
        why: &str,
        started: Instant,
    ) -> Result<Attempt, StoreError> {
        self.finish(
            repair,
            RepairState::Cancelled,
            records,
            Some(why),
            started.elapsed(),
        )
        .await?;
        Ok(Attempt::Halt)
    }

    /// Ends `repair` as `failed` (nothing run) with the reason.
    pub(super) async fn fail(&self, repair: &Repair, why: &str) -> Result<(), StoreError> {
        self.finish(repair, RepairState::Failed, &[], Some(why), Duration::ZERO)
            .await
    }

    /// Ends `repair` as `cancelled` (nothing run) with the reason.
    pub(super) async fn cancel(&self, repair: &Repair, why: &str) -> Result<(), StoreError> {
        self.finish(
            repair,
            RepairState::Cancelled,
            &[],
            Some(why),
            Duration::ZERO,
        )
        .await
    }
    /// Runs one step, recording its process group in the store while it runs (so a restart
    /// after a crash can stop it).
    async fn execute_recorded(
        &self,
        repair: &Repair,
        step: &StepConfig,
        context: &minijinja::Value,
        kill: &CancellationToken,
        phase: &str,
    ) -> Result<StepRecord, StoreError> {
        let (spawned_tx, mut spawned) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let report = move |pid: u32| {
            let _ = spawned_tx.send(pid);
        };
        let execution = steps::execute_reporting(step, context, kill, phase, Some(&report));
        tokio::pin!(execution);
        let mut recorded = false;
        let record = loop {
            tokio::select! {
                record = &mut execution => break record,
                Some(pid) = spawned.recv() => {
                    if let Some(ticks) = crate::process::start_ticks(pid) {
                        self.store.set_step_group(&repair.id, Some((pid, ticks))).await?;
                        recorded = true;
                    }
                }
            }
        };
        if recorded {
            self.store.set_step_group(&repair.id, None).await?;
        }
        Ok(record)
    }
}

/// The steps still to run when continuing `interrupted`: the steps it completed are skipped
/// (recorded as skipped in `records`) unless they are `idempotent`.
fn steps_to_run(
    steps: &[StepConfig],
    interrupted: Option<&Repair>,
    records: &mut Vec<StepRecord>,
) -> Vec<StepConfig> {
    let Some(interrupted) = interrupted else {
        return steps.to_vec();
    };
    let completed = interrupted
        .steps
        .iter()
        .take_while(|r| {
            r.phase == "step"
                && (r.exit_code == Some(0)
                    || r.error
                        .as_deref()
                        .is_some_and(|e| e.starts_with(SKIPPED_PREFIX)))
        })
        .count();
    let mut remaining = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if index < completed && !step.idempotent {
            records.push(StepRecord {
                phase: "step".into(),
                command: interrupted.steps[index].command.clone(),
                exit_code: None,
                output: String::new(),
                duration_ms: 0,
                error: Some(format!("{SKIPPED_PREFIX} {}", interrupted.id)),
            });
        } else {
            remaining.push(step.clone());
        }
    }
    remaining
}

/// The values step templates see: `incident`, `check`, `runbook`, `secrets`.
pub(super) fn template_context(
    incident: Option<&Incident>,
    check: Option<&Check>,
    book: &RunbookConfig,
    secrets: &BTreeMap<String, String>,
) -> minijinja::Value {
    minijinja::context! {
        incident => incident.map(|i| minijinja::context! {
            id => i.id, title => i.title, fingerprint => i.fingerprint, severity => i.severity.as_str(),
            priority => i.priority.as_str(), labels => i.labels,
        }),
        check => check.map(|c| minijinja::context! { name => c.name, labels => c.labels }),
        runbook => minijinja::context! { name => book.name.get_ref() },
        secrets => secrets,
    }
}

/// What `book` would run with `context`: its steps, then its rollback steps (nothing is run).
pub(super) fn planned_steps(book: &RunbookConfig, context: &minijinja::Value) -> Vec<StepRecord> {
    book.steps
        .iter()
        .map(|s| ("step", s))
        .chain(book.rollback.iter().map(|s| ("rollback", s)))
        .map(|(phase, step)| steps::plan(step, context, phase))
        .collect()
}

/// `now + wait`, saturating far in the future instead of overflowing on a huge configured value.
fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}
