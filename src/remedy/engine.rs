//! The repair engine: for an incident, tries its check's (or log source's) candidate runbooks
//! in order, each behind the safety gates, and escalates when none is left.
//!
//! Repair work runs on the durable job queue (queue `repairs`): an incident that needs repair,
//! or a manual request, is a job with its runbook's priority and a dedup key; the engine's
//! worker claims at most `max_concurrent_repairs` of them at once across every instance sharing
//! the store, renews their leases while they run, and records their outcome. A job whose lease
//! expired (its daemon died) is claimed again: the repairs it carried are marked `interrupted`,
//! the step they were running is killed, and the repair is continued after a re-check. A
//! restarted daemon does that at once for the jobs of its own previous life (same host, that
//! process gone), without waiting for their leases. A repair holds its target while it runs,
//! across instances on PostgreSQL (an advisory lock), so two repairs of one target never overlap.
//!
//! Gates, in the order a repair meets them: `max_concurrent_repairs` (the job claim), mode
//! `observe` (nothing planned), emergency stop (nothing starts; running steps are killed), open
//! breaker, per target × runbook budget (`max_attempts` within `window`, then the breaker opens
//! for `cooldown`), global `max_repairs_per_hour`, approval (`approval = "required"` or
//! `risk = "high"`), re-check (a healthy target is never repaired), then mode `dry-run` (record
//! the exact argv, run nothing). After the steps: verify, rollback, next candidate.

use super::RepairPlan;
use super::approval::approval_timed_out;
use super::learning::{RunbookStats, rank};
use super::steps;
use crate::bus::EventBus;
use crate::checks::Check;
use crate::checks::scheduler::OutcomeSink;
use crate::config::{Approval, Config, Mode, OnTimeout, Risk, RunbookConfig, StepConfig};
use crate::detect::Detector;
use crate::incidents::IncidentService;
use crate::model::{Breaker, Repair, RepairState, StepRecord};
use crate::model::{Event, Incident, IncidentState, LOG_LABEL, Status};
use crate::queue::{
    Defer, EnqueueOutcome, HandlerError, Job, JobQueue, LeaseOwner, Liveness, NewJob, QueueError,
    Stopped, Worker, WorkerConfig, reaper,
};
use crate::security::audit::AuditRecord;
use crate::store::{Backend, NewRepair, RepairScope, Store, StoreError, TargetHold, Vault};
use crate::telemetry::Metrics;
use crate::telemetry::events::RepairFinished;
use chrono::Utc;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// The setting that persists the emergency stop across restarts.
const EMERGENCY_STOP_KEY: &str = "emergency_stop";
/// How often the stored emergency stop is re-read (another instance may have changed it).
const FOLLOW_STOP_EVERY: Duration = Duration::from_millis(500);
/// How a continued repair records a step it did not run again.
const SKIPPED_PREFIX: &str = "skipped: completed by interrupted repair";
/// How long a repair waiting for approval gives its worker slot back before its job is claimed
/// again to look for a decision.
const APPROVAL_POLL: Duration = Duration::from_millis(500);
/// The job queue repair work runs on.
const REPAIR_QUEUE: &str = "repairs";
/// How long a claimed repair job stays claimed without a heartbeat (renewed every third of it):
/// a repair whose daemon died is taken over by another instance this long after.
const REPAIR_LEASE: Duration = Duration::from_secs(10);
/// How often expired leases are looked for.
const REAP_EVERY: Duration = Duration::from_secs(1);
/// How often the worker looks for due repair jobs when it found none.
const CLAIM_POLL: Duration = Duration::from_millis(100);
/// Claims of one repair job (daemon stops, lost workers, store errors) before it is dead.
const REPAIR_JOB_ATTEMPTS: u32 = 10;
/// How long a repair waits for a target whose durable hold another instance (or this one) is
/// giving up, before it counts the target as busy.
const TARGET_HOLD_WAIT: Duration = Duration::from_secs(2);
/// How often it looks again meanwhile.
const TARGET_HOLD_POLL: Duration = Duration::from_millis(50);
/// Why a repair whose daemon or worker stopped is `interrupted`.
const INTERRUPTED: &str = "the daemon stopped while this repair was unfinished";

/// The work one job of the `repairs` queue carries (its JSON payload).
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RepairJob {
    /// Repair an incident with its candidate runbooks.
    Incident {
        /// The incident id.
        incident: String,
        /// Who asked (`homeostat` for an automatic repair).
        actor: String,
    },
    /// Run one admitted repair (a manual runbook request), recorded before it was queued.
    Repair {
        /// The repair id.
        repair: String,
    },
}

impl RepairJob {
    fn payload(&self) -> serde_json::Value {
        match self {
            RepairJob::Incident { incident, actor } => {
                serde_json::json!({ "kind": "incident", "incident": incident, "actor": actor })
            }
            RepairJob::Repair { repair } => {
                serde_json::json!({ "kind": "repair", "repair": repair })
            }
        }
    }

    /// At most one unfinished job has this key: a repeated signal never queues a repair twice.
    fn dedup_key(&self) -> String {
        match self {
            RepairJob::Incident { incident, .. } => format!("repair:incident:{incident}"),
            RepairJob::Repair { repair } => format!("repair:repair:{repair}"),
        }
    }

    /// The repairs this job creates or runs.
    fn scope(&self) -> RepairScope<'_> {
        match self {
            RepairJob::Incident { incident, .. } => RepairScope::Incident(incident),
            RepairJob::Repair { repair } => RepairScope::Repair(repair),
        }
    }
}

/// A queue failure as a store failure (the only kind the engine's callers handle).
fn queue_failure(e: QueueError) -> StoreError {
    match e {
        QueueError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    }
}

/// Why a repair request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    /// The emergency stop is active.
    #[error("the emergency stop is active; resume first")]
    EmergencyStop,
    /// No such incident, runbook or check.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A repair asked for by a person or a script.
#[derive(Clone, Debug)]
pub enum ManualRepair {
    /// Run the incident's candidate runbooks now.
    Incident(String),
    /// Run one runbook, optionally against a target check (budgets then apply).
    Runbook {
        /// Runbook name.
        runbook: String,
        /// Target check.
        target: Option<String>,
    },
}

/// What a repair is about: the incident (if any), the target check (if any), the runbook.
struct Subject<'a> {
    incident: Option<&'a Incident>,
    check: Option<&'a Arc<Check>>,
    book: &'a RunbookConfig,
    attempt: i64,
    actor: &'a str,
}

impl Subject<'_> {
    /// The target budgets, breakers and the one-repair-at-a-time rule apply to: the check, or
    /// for a log incident `log:<source>` (check names cannot hold `:`).
    fn target(&self) -> Option<String> {
        match self.check {
            Some(check) => Some(check.name.clone()),
            None => self
                .incident
                .and_then(|i| i.labels.get(LOG_LABEL))
                .map(|source| format!("log:{source}")),
        }
    }
}

/// What the gates decided.
enum Admission {
    /// Refused: how the candidate ends, and the `cancelled` record.
    Refused(Attempt, Repair),
    /// Recorded `queued` or `awaiting_approval` (the flag says which), holding its target.
    Admitted(Repair, bool, Option<TargetLease>),
}

/// While held, no other repair of the same target may be admitted, by this instance (the
/// in-memory set) or by another sharing the PostgreSQL store (the durable `TargetHold`).
struct TargetLease {
    inner: Arc<Inner>,
    target: String,
    /// Released with the lease (dropped).
    durable: Option<TargetHold>,
}

impl Drop for TargetLease {
    fn drop(&mut self) {
        self.inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.target);
    }
}

/// How one candidate ended.
enum Attempt {
    /// Verified healthy.
    Repaired,
    /// Nothing to do: the target was already healthy, or this was a dry run.
    Done,
    /// Stop here without escalating (emergency stop, shutdown).
    Halt,
    /// Try the next candidate.
    Next(String),
    /// Stop and escalate.
    Escalate(String),
    /// Waiting for approval: give the worker slot back and look again later.
    Deferred,
}

/// A repair an incident's job continues instead of starting its candidate afresh.
enum Continue {
    /// Interrupted after its steps began: the same attempt, completed steps skipped.
    Interrupted(Repair),
    /// Admitted (queued or awaiting approval) by an earlier claim of the job that gave its
    /// slot back while the repair waited for approval.
    Admitted(Repair),
}

/// What the engine works with.
pub struct EngineParts {
    /// The store.
    pub store: Store,
    /// The config (policy, runbooks).
    pub config: Arc<Config>,
    /// The checks (re-check, verify, candidates).
    pub checks: Vec<Arc<Check>>,
    /// Detection, fed with re-check and verify results.
    pub detector: Arc<Detector>,
    /// Incident transitions.
    pub incidents: IncidentService,
    /// Event fan-out.
    pub bus: EventBus,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Secrets for `{{ secrets.NAME }}` in steps (none without a master key).
    pub vault: Option<Vault>,
}

/// Runs repairs; cheap to clone.
#[derive(Clone)]
pub struct RepairEngine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: Arc<Config>,
    checks: HashMap<String, Arc<Check>>,
    /// Re-check and verify results are observations too.
    detector: Arc<Detector>,
    incidents: IncidentService,
    vault: Option<Vault>,
    bus: EventBus,
    metrics: Arc<Metrics>,
    /// The durable queue repair jobs wait in.
    queue: JobQueue,
    /// The name this instance holds repair job leases under (see `LeaseOwner`).
    owner: String,
    /// Repairs of this instance in `execute` now (running or verifying).
    executing: AtomicUsize,
    emergency: AtomicBool,
    /// Local changes of the emergency stop so far, held while one is made or a stored value is
    /// applied: a stored value read while one happened is older than it and is not applied.
    stop_changes: Mutex<u64>,
    /// Held while the stop is written to or read from the store, so that a read never comes
    /// between a change and its write.
    stop_store: tokio::sync::Mutex<()>,
    /// The stop was engaged here but could not be stored: it is not lifted by the stored `0`,
    /// and storing it is tried again.
    stop_unstored: AtomicBool,
    /// Cancelled by the emergency stop (and shutdown); replaced on resume.
    kill: Mutex<CancellationToken>,
    /// Targets with a repair admitted and not finished (one repair per target at a time).
    busy: Mutex<HashSet<String>>,
}

/// Counts a repair in `RepairEngine::running` while held.
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

impl RepairEngine {
    /// An engine; reads the persisted emergency stop from the store, and takes back at once the
    /// repair jobs its previous life left running (see `take_back_previous_lives`), killing the
    /// steps that life left behind.
    pub async fn new(parts: EngineParts) -> Result<RepairEngine, StoreError> {
        let EngineParts {
            store,
            config,
            checks,
            detector,
            incidents,
            bus,
            metrics,
            vault,
        } = parts;
        let queue = JobQueue::new(store.clone());
        let owner = LeaseOwner::current(&format!("{REPAIR_QUEUE}-{:08x}", rand::random::<u32>()));
        let previous_life = take_back_previous_lives(&store, &queue, &owner).await?;
        let stopped = store
            .setting(EMERGENCY_STOP_KEY)
            .await?
            .is_some_and(|v| v == "1");
        metrics.emergency_stop.set(i64::from(stopped));
        let engine = RepairEngine {
            inner: Arc::new(Inner {
                store,
                detector,
                checks: checks
                    .iter()
                    .map(|c| (c.name.clone(), Arc::clone(c)))
                    .collect(),
                config,
                incidents,
                bus,
                metrics,
                vault,
                queue,
                owner: owner.to_string(),
                executing: AtomicUsize::new(0),
                emergency: AtomicBool::new(stopped),
                stop_changes: Mutex::new(0),
                stop_store: tokio::sync::Mutex::new(()),
                stop_unstored: AtomicBool::new(false),
                kill: Mutex::new(CancellationToken::new()),
                busy: Mutex::new(HashSet::new()),
            }),
        };
        engine.reaped(previous_life).await;
        Ok(engine)
    }

    /// Whether the emergency stop is active.
    pub fn emergency_stopped(&self) -> bool {
        self.inner.emergency.load(Ordering::SeqCst)
    }

    /// Stops new repairs and kills running steps (their whole process groups) at once, then
    /// persists. When persisting fails the stop stays on here (and storing it is retried).
    pub async fn emergency_stop(&self, actor: &str) -> Result<(), StoreError> {
        let inner = &self.inner;
        {
            let mut changes = self.stop_changes();
            *changes += 1;
            self.engage(actor);
        }
        let _store = inner.stop_store.lock().await;
        let stored = inner.store.set_setting(EMERGENCY_STOP_KEY, "1").await;
        inner.stop_unstored.store(stored.is_err(), Ordering::SeqCst);
        stored
    }

    /// The local effect of the emergency stop: flag, kill running steps, announce.
    fn engage(&self, actor: &str) {
        self.inner.emergency.store(true, Ordering::SeqCst);
        self.kill_token().cancel();
        self.inner.metrics.emergency_stop.set(1);
        tracing::error!(
            actor,
            "EMERGENCY STOP: no repairs will start; running steps killed"
        );
        self.inner.bus.publish(Event::EmergencyStop {
            active: true,
            actor: actor.to_string(),
            at: Utc::now(),
        });
    }

    /// Lifts the emergency stop; persists.
    pub async fn resume(&self, actor: &str) -> Result<(), StoreError> {
        let inner = &self.inner;
        let _store = inner.stop_store.lock().await;
        inner.store.set_setting(EMERGENCY_STOP_KEY, "0").await?;
        inner.stop_unstored.store(false, Ordering::SeqCst);
        let mut changes = self.stop_changes();
        *changes += 1;
        self.lift(actor);
        Ok(())
    }

    /// The local effect of lifting the stop.
    fn lift(&self, actor: &str) {
        *self.inner.kill.lock().unwrap_or_else(|p| p.into_inner()) = CancellationToken::new();
        self.inner.emergency.store(false, Ordering::SeqCst);
        self.inner.metrics.emergency_stop.set(0);
        tracing::warn!(actor, "emergency stop lifted: repairs may run again");
        self.inner.bus.publish(Event::EmergencyStop {
            active: false,
            actor: actor.to_string(),
            at: Utc::now(),
        });
    }

    /// Applies the stored emergency stop when another instance (same PostgreSQL) changed it.
    async fn follow_stored_stop(&self) {
        let inner = &self.inner;
        let _store = inner.stop_store.lock().await;
        if inner.stop_unstored.load(Ordering::SeqCst) {
            // Engaged here while the store failed: store it now; never lift it from a stale `0`.
            if inner
                .store
                .set_setting(EMERGENCY_STOP_KEY, "1")
                .await
                .is_ok()
            {
                inner.stop_unstored.store(false, Ordering::SeqCst);
            }
            return;
        }
        let before = *self.stop_changes();
        let read = inner.store.setting(EMERGENCY_STOP_KEY).await;
        let changes = self.stop_changes();
        if *changes != before {
            return; // changed here meanwhile: what was read is older
        }
        match read {
            Ok(value) => {
                let stored = value.is_some_and(|v| v == "1");
                if stored && !self.emergency_stopped() {
                    self.engage("another homeostat instance");
                } else if !stored && self.emergency_stopped() {
                    self.lift("another homeostat instance");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the stored emergency stop"),
        }
    }

    /// The count of local emergency stop changes, locked.
    fn stop_changes(&self) -> std::sync::MutexGuard<'_, u64> {
        self.inner
            .stop_changes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn kill_token(&self) -> CancellationToken {
        self.inner
            .kill
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Repairs of this instance running their steps or verifying now.
    pub fn running(&self) -> usize {
        self.inner.executing.load(Ordering::SeqCst)
    }

    /// Queues a repair job for each incident that needs repair until `shutdown`, while a worker
    /// runs the queued jobs (at most `max_concurrent_repairs` across every instance sharing the
    /// store) and the reaper takes back jobs whose lease expired. At shutdown running steps are
    /// killed, their repairs marked `interrupted` and their jobs queued again for the next start.
    pub async fn run(self, mut inbox: UnboundedReceiver<Incident>, shutdown: CancellationToken) {
        let slots = self.inner.config.policy.max_concurrent_repairs.max(1);
        let mut config = WorkerConfig::new(REPAIR_QUEUE, self.inner.owner.clone());
        config.lease = REPAIR_LEASE;
        config.max_concurrent = slots;
        config.slots = usize::try_from(slots).unwrap_or(1);
        config.poll_interval = CLAIM_POLL;
        let engine = self.clone();
        let stop = shutdown.clone();
        let worker = Worker::new(
            self.inner.queue.clone(),
            config,
            move |job: Job, cancel: CancellationToken| {
                let engine = engine.clone();
                let stop = stop.clone();
                async move { engine.handle(job, cancel, stop).await }
            },
        );
        let worker = tokio::spawn(worker.run(shutdown.clone()));
        let engine = self.clone();
        let reaper = tokio::spawn(reaper::run(
            self.inner.queue.clone(),
            REAP_EVERY,
            shutdown.clone(),
            move |jobs| {
                let engine = engine.clone();
                tokio::spawn(async move { engine.reaped(jobs).await });
            },
        ));
        let mut follow = tokio::time::interval(FOLLOW_STOP_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                incident = inbox.recv() => match incident {
                    Some(incident) => {
                        if let Err(e) = self.enqueue_incident(&incident, "homeostat").await {
                            tracing::error!(incident = %incident.id, error = %e, "cannot queue the repair of an incident");
                        }
                    }
                    None => break,
                },
                _ = follow.tick() => self.follow_stored_stop().await,
            }
        }
        // The worker ends once its jobs have recorded their outcome (see `handle`).
        let _ = worker.await;
        let _ = reaper.await;
        self.kill_token().cancel();
    }

    /// Queues the repair of `incident` (nothing in mode `observe` or without candidates), with
    /// its first candidate runbook's priority; a duplicate when one is queued or running already.
    async fn enqueue_incident(
        &self,
        incident: &Incident,
        actor: &str,
    ) -> Result<Option<EnqueueOutcome>, StoreError> {
        if self.inner.config.policy.mode == Mode::Observe {
            return Ok(None);
        }
        let remedy = self.candidates(incident).1;
        let Some(first) = remedy.first() else {
            return Ok(None);
        };
        let priority = self.runbook(first).map_or(5, |b| *b.priority.get_ref());
        let work = RepairJob::Incident {
            incident: incident.id.clone(),
            actor: actor.to_string(),
        };
        let outcome = self.enqueue(&work, priority).await?;
        if let EnqueueOutcome::Created(job) = outcome {
            tracing::info!(incident = %incident.id, job, priority, "repair queued");
        }
        Ok(Some(outcome))
    }

    async fn enqueue(&self, work: &RepairJob, priority: u8) -> Result<EnqueueOutcome, StoreError> {
        let job = NewJob::new(REPAIR_QUEUE, "repair", work.payload())
            .priority(priority)
            .max_attempts(REPAIR_JOB_ATTEMPTS)
            .dedup_key(work.dedup_key());
        self.inner.queue.enqueue(job).await.map_err(queue_failure)
    }

    /// Runs one claimed repair job. A job claimed before (its daemon stopped, its lease
    /// expired, or a store error failed it) first takes back the repairs it left unfinished.
    /// When `cancel` fires the repair is dropped at once (its step's process group is killed);
    /// at shutdown its repairs are marked `interrupted` and the job fails, so it is queued
    /// again and continued at the next start; when the lease was lost, the new owner does that.
    async fn handle(
        &self,
        job: Job,
        cancel: CancellationToken,
        shutdown: CancellationToken,
    ) -> Result<(), HandlerError> {
        let work: RepairJob = match serde_json::from_value(job.payload.clone()) {
            Ok(work) => work,
            Err(e) => {
                tracing::error!(job_id = job.id, error = %e, "unreadable repair job; dropped");
                return Ok(());
            }
        };
        let retaken = job.attempts > 1;
        let outcome = {
            let run = async {
                if retaken {
                    self.take_back(&work, false).await?;
                }
                self.work(&work, retaken).await
            };
            tokio::pin!(run);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => None,
                outcome = &mut run => Some(outcome),
            }
        };
        let failure: HandlerError = match outcome {
            Some(Ok(true)) => return Err(Box::new(Defer(APPROVAL_POLL))),
            Some(Ok(false)) => return Ok(()),
            Some(Err(e)) => e.into(),
            None if shutdown.is_cancelled() => match self.take_back(&work, false).await {
                // Due again at once: the next start resumes it without waiting out a backoff.
                Ok(()) => Box::new(Stopped(
                    "the daemon stopped before the repair finished".into(),
                )),
                Err(e) => e.into(),
            },
            // The lease was lost: whoever took the job over owns its outcome.
            None => return Err("stopped before the repair finished".into()),
        };
        if job.attempts >= job.max_attempts {
            // This failed claim was the job's last one: the job dies, nobody will try again; the
            // repairs it kept waiting end with it.
            if let Err(e) = self.take_back(&work, true).await {
                tracing::error!(job_id = job.id, error = %e, "cannot take back the repairs of a dead repair job");
            }
            self.give_up(&work, job.attempts).await;
        }
        Err(failure)
    }

    /// A repair job that will never run again (its claims are used up): its incident is
    /// escalated, a human must look at it.
    async fn give_up(&self, work: &RepairJob, claims: u32) {
        let RepairJob::Incident { incident, .. } = work else {
            return;
        };
        let message = format!(
            "automatic repair gave up: its job was claimed {claims} times without finishing (daemons stopped or failed while repairing)"
        );
        if let Err(e) = self
            .inner
            .incidents
            .automatic(incident, IncidentState::Escalated, &message)
            .await
        {
            tracing::warn!(error = %e, %incident, "cannot escalate the incident of a dead repair job");
        }
    }

    /// Does the work of a repair job; `retaken` when it was claimed before. Returns whether
    /// it waits for approval (the job is then deferred).
    async fn work(&self, work: &RepairJob, retaken: bool) -> Result<bool, StoreError> {
        let store = &self.inner.store;
        match work {
            RepairJob::Incident { incident, actor } => {
                let Some(incident) = store.incident(incident).await? else {
                    return Ok(false);
                };
                let latest = store
                    .list_repairs(None, Some(&incident.id), None, 1, 0)
                    .await?
                    .0
                    .into_iter()
                    .next();
                // Resolved (or closed) while its repair waited for approval, or the daemon now
                // runs in observe mode: the waiting repair ends, nothing is run.
                let why_not = if !incident.state.is_active() {
                    Some(format!(
                        "incident is {} now; nothing done",
                        incident.state.as_str()
                    ))
                } else if self.inner.config.policy.mode == Mode::Observe {
                    Some("the mode is now observe: admitted earlier, not run".to_string())
                } else {
                    None
                };
                if let Some(why) = why_not {
                    if let Some(waiting) = latest.filter(|r| {
                        matches!(r.state, RepairState::Queued | RepairState::AwaitingApproval)
                    }) {
                        self.cancel(&waiting, &why).await?;
                    }
                    return Ok(false);
                }
                // A repair that had started its steps is continued after an interruption (its
                // done steps skipped); one still queued or awaiting approval is continued as it
                // is, however often its job was claimed (a deferred approval poll is claimed
                // again every half second).
                let resume = match latest {
                    Some(r)
                        if retaken
                            && r.state == RepairState::Interrupted
                            && r.started_at.is_some() =>
                    {
                        tracing::warn!(repair = %r.id, runbook = %r.runbook, "repair interrupted by a stopped daemon; re-checking its incident");
                        Some(Continue::Interrupted(r))
                    }
                    Some(r)
                        if matches!(
                            r.state,
                            RepairState::Queued | RepairState::AwaitingApproval
                        ) =>
                    {
                        Some(Continue::Admitted(r))
                    }
                    _ => None,
                };
                Ok(self
                    .repair_incident(&incident, actor, resume.as_ref())
                    .await)
            }
            // A manual repair that was interrupted while running is not continued (`take_back`
            // ended it); one still queued or awaiting approval is.
            RepairJob::Repair { repair } => {
                let Some(repair) = store.repair(repair).await? else {
                    return Ok(false);
                };
                if !matches!(
                    repair.state,
                    RepairState::Queued | RepairState::AwaitingApproval
                ) {
                    return Ok(false); // Decided (denied) or ended while it waited in the queue.
                }
                let check = repair
                    .target
                    .as_ref()
                    .and_then(|t| self.inner.checks.get(t))
                    .cloned();
                let attempt = self.continue_admitted(None, check.as_ref(), repair).await?;
                Ok(matches!(attempt, Attempt::Deferred))
            }
        }
    }

    /// Marks the repairs `work` left running `interrupted` and kills the step process group
    /// each was running (when it is still the same process on this host). Repairs still queued
    /// or awaiting approval are left to the job's next claim, which continues them (an
    /// approval given meanwhile stands), unless `dead`: the job will never be claimed again.
    async fn take_back(&self, work: &RepairJob, dead: bool) -> Result<(), StoreError> {
        for (repair, group) in self
            .inner
            .store
            .interrupt_repairs(work.scope(), INTERRUPTED, dead)
            .await?
        {
            if let Some((pgid, ticks)) = group
                && crate::process::kill_orphaned_group(pgid, ticks)
            {
                tracing::warn!(pgid, repair = %repair.id, "killed a step left running by a stopped worker");
            }
            tracing::warn!(repair = %repair.id, runbook = %repair.runbook, "repair interrupted");
            if let Some(updated) = self.inner.store.repair(&repair.id).await? {
                self.audit(&updated, "repair.interrupt", Some(INTERRUPTED))
                    .await;
                self.announce(&updated);
            }
        }
        Ok(())
    }

    /// The one check whose `remedy` names `runbook` (`None` when no check does); an error
    /// naming them when several do.
    fn only_check_repaired_by(&self, runbook: &str) -> Result<Option<String>, RepairError> {
        let mut checks: Vec<&String> = self
            .inner
            .checks
            .iter()
            .filter(|(_, c)| c.remedy.iter().any(|r| r == runbook))
            .map(|(name, _)| name)
            .collect();
        checks.sort();
        match checks.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some((*one).clone())),
            several => Err(RepairError::Invalid(format!(
                "runbook `{runbook}` repairs the checks {}: say which with `target`",
                several
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Jobs the reaper took back. A job queued again is taken back by whoever claims it next
    /// (doing it here could race with that claim); a dead one (attempts used up) is taken back
    /// here, since nobody will claim it.
    async fn reaped(&self, jobs: Vec<Job>) {
        for job in jobs.into_iter().filter(|j| j.state.is_final()) {
            match serde_json::from_value::<RepairJob>(job.payload) {
                Ok(work) => {
                    if let Err(e) = self.take_back(&work, true).await {
                        tracing::error!(job_id = job.id, error = %e, "cannot take back the repairs of a dead repair job");
                    }
                    self.give_up(&work, job.attempts).await;
                }
                Err(e) => tracing::error!(job_id = job.id, error = %e, "unreadable repair job"),
            }
        }
    }

    /// Starts a repair asked for by `actor`; returns the first repair record it created, if any.
    pub async fn request(
        &self,
        request: ManualRepair,
        actor: &str,
    ) -> Result<Option<Repair>, RepairError> {
        if self.emergency_stopped() {
            return Err(RepairError::EmergencyStop);
        }
        if self.inner.config.policy.mode == Mode::Observe {
            return Err(RepairError::Invalid(
                "mode is observe: repairs are not run".to_string(),
            ));
        }
        match request {
            ManualRepair::Incident(id) => {
                let incident = self
                    .inner
                    .store
                    .incident(&id)
                    .await?
                    .ok_or_else(|| RepairError::NotFound(format!("no incident {id}")))?;
                if !incident.state.is_active() {
                    return Err(RepairError::Invalid(format!(
                        "incident {id} is {}",
                        incident.state.as_str()
                    )));
                }
                if self.candidates(&incident).1.is_empty() {
                    return Err(RepairError::Invalid(format!(
                        "incident {id} has no candidate runbooks"
                    )));
                }
                // Before taking the incident: a store error here must not leave it taken.
                let before = self
                    .inner
                    .store
                    .list_repairs(None, Some(&id), None, 1, 0)
                    .await?
                    .0
                    .first()
                    .map(|r| r.id.clone());
                if let Some(EnqueueOutcome::Duplicate(_)) =
                    self.enqueue_incident(&incident, actor).await?
                {
                    return Err(RepairError::Invalid(format!(
                        "incident {id} is already being repaired"
                    )));
                }
                // Report the repair record once it exists (a worker may be free at once).
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline {
                    let latest = self
                        .inner
                        .store
                        .list_repairs(None, Some(&id), None, 1, 0)
                        .await?
                        .0
                        .into_iter()
                        .next();
                    if latest.as_ref().map(|r| &r.id) != before.as_ref() {
                        return Ok(latest);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None)
            }
            ManualRepair::Runbook { runbook, target } => {
                let book = self
                    .runbook(&runbook)
                    .ok_or_else(|| RepairError::NotFound(format!("no runbook `{runbook}`")))?
                    .clone();
                // Without a target, the check the runbook repairs is the target (so its budget,
                // breaker, re-check and one-repair-at-a-time hold apply); a runbook that
                // repairs several checks needs to be told which.
                let target = match target {
                    Some(name) => Some(name),
                    None => self.only_check_repaired_by(&runbook)?,
                };
                let check = match &target {
                    Some(name) => {
                        Some(Arc::clone(self.inner.checks.get(name).ok_or_else(
                            || RepairError::NotFound(format!("no check `{name}`")),
                        )?))
                    }
                    None => None,
                };
                let subject = Subject {
                    incident: None,
                    check: check.as_ref(),
                    book: &book,
                    attempt: 1,
                    actor,
                };
                match self.admit(&subject).await? {
                    Admission::Refused(_, repair) => Ok(Some(repair)),
                    // The target is held again when a worker claims the job.
                    Admission::Admitted(repair, _, _lease) => {
                        let work = RepairJob::Repair {
                            repair: repair.id.clone(),
                        };
                        if let Err(e) = self.enqueue(&work, *book.priority.get_ref()).await {
                            let why = format!("cannot queue the repair: {e}");
                            self.finish(
                                &repair,
                                RepairState::Failed,
                                &[],
                                Some(&why),
                                Duration::ZERO,
                            )
                            .await?;
                            return Err(e.into());
                        }
                        Ok(Some(repair))
                    }
                }
            }
        }
    }

    /// The incident's target check (if any) and candidate runbooks in config order: its check's
    /// `remedy`, or for a log incident (label `log`) its log source's `remedy`.
    fn candidates(&self, incident: &Incident) -> (Option<Arc<Check>>, Vec<String>) {
        if let Some(check) = incident
            .check
            .as_ref()
            .and_then(|c| self.inner.checks.get(c))
        {
            return (Some(Arc::clone(check)), check.remedy.clone());
        }
        let remedy = incident
            .labels
            .get(LOG_LABEL)
            .and_then(|name| {
                self.inner
                    .config
                    .log
                    .iter()
                    .find(|l| l.name.get_ref() == name)
            })
            .map(|l| l.remedy.iter().map(|r| r.get_ref().clone()).collect())
            .unwrap_or_default();
        (None, remedy)
    }

    /// The incident's candidate runbooks, best first, with why.
    pub async fn suggestions(&self, incident: &Incident) -> Result<Vec<RunbookStats>, StoreError> {
        let remedy = self.candidates(incident).1;
        if remedy.is_empty() {
            return Ok(Vec::new());
        }
        let history = self
            .inner
            .store
            .runbook_history(&incident.fingerprint)
            .await?;
        Ok(rank(
            remedy
                .iter()
                .map(|name| match history.iter().find(|h| &h.0 == name) {
                    Some((_, attempts, successes, times)) => {
                        RunbookStats::new(name, *attempts, *successes, times.clone())
                    }
                    None => RunbookStats::new(name, 0, 0, Vec::new()),
                })
                .collect(),
        ))
    }

    /// What `repair` will run, planned from its runbook as configured now (templates filled in
    /// with its incident and check); `None` when the runbook is no longer configured.
    pub async fn plan(&self, repair: &Repair) -> Result<Option<RepairPlan>, StoreError> {
        let Some(book) = self.runbook(&repair.runbook) else {
            return Ok(None);
        };
        let incident = match &repair.incident_id {
            Some(id) => self.inner.store.incident(id).await?,
            None => None,
        };
        let check = repair
            .target
            .as_ref()
            .and_then(|t| self.inner.checks.get(t));
        // Planned with the real secrets (so the plan is exact), shown redacted.
        let secrets = self.secrets().await.unwrap_or_default();
        let context =
            template_context(incident.as_ref(), check.map(|c| c.as_ref()), book, &secrets);
        let steps = book
            .steps
            .iter()
            .map(|s| ("step", s))
            .chain(book.rollback.iter().map(|s| ("rollback", s)))
            .map(|(phase, step)| steps::plan(step, &context, phase).redacted())
            .collect();
        Ok(Some(RepairPlan {
            repair_id: repair.id.clone(),
            runbook: repair.runbook.clone(),
            risk: match book.risk {
                Risk::Low => "low",
                Risk::Medium => "medium",
                Risk::High => "high",
            },
            approval: match book.approval {
                Approval::None => "none",
                Approval::Required => "required",
            },
            required_role: book.required_role.as_str(),
            approval_timeout_seconds: book.approval_timeout.get().as_secs_f64(),
            on_timeout: match book.on_timeout {
                OnTimeout::Deny => "deny",
                OnTimeout::Approve => "approve",
            },
            verify_check: book.verify.as_ref().map(|v| v.check.get_ref().clone()),
            steps,
        }))
    }

    fn runbook(&self, name: &str) -> Option<&RunbookConfig> {
        self.inner
            .config
            .runbook
            .iter()
            .find(|r| r.name.get_ref() == name)
    }

    /// Tries the incident's candidates in order (from `resume` on when it continues a repair)
    /// and escalates when none is left; returns whether a repair waits for approval.
    async fn repair_incident(
        &self,
        incident: &Incident,
        actor: &str,
        resume: Option<&Continue>,
    ) -> bool {
        if self.inner.config.policy.mode == Mode::Observe {
            return false;
        }
        let (check, remedy) = self.candidates(incident);
        if remedy.is_empty() {
            return false;
        }
        let ordered = match self.suggestions(incident).await {
            Ok(ranked) => ranked.into_iter().map(|s| s.runbook).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "no repair history; using config order");
                remedy
            }
        };
        let mut reasons = Vec::new();
        for (index, name) in ordered.iter().enumerate() {
            let Some(book) = self.runbook(name).cloned() else {
                continue;
            };
            let attempt = i64::try_from(index + 1).unwrap_or(i64::MAX);
            let result = match resume {
                // Candidates before the continued one were already tried.
                Some(Continue::Interrupted(r) | Continue::Admitted(r)) if attempt < r.attempt => {
                    continue;
                }
                Some(Continue::Admitted(admitted)) if attempt == admitted.attempt => {
                    self.continue_admitted(Some(incident), check.as_ref(), admitted.clone())
                        .await
                }
                Some(Continue::Interrupted(interrupted))
                    if attempt == interrupted.attempt && interrupted.runbook == *name =>
                {
                    let subject = Subject {
                        incident: Some(incident),
                        check: check.as_ref(),
                        book: &book,
                        attempt,
                        actor: "homeostat",
                    };
                    self.resume_attempt(&subject, interrupted).await
                }
                _ => {
                    let subject = Subject {
                        incident: Some(incident),
                        check: check.as_ref(),
                        book: &book,
                        attempt,
                        actor,
                    };
                    self.attempt(&subject).await
                }
            };
            match result {
                Ok(Attempt::Repaired | Attempt::Done) => return false,
                Ok(Attempt::Deferred) => return true,
                Ok(Attempt::Halt) => {
                    // Stopped by the emergency stop: humans are in charge now; say so on the
                    // incident rather than leave it `remediating`. (A shutdown halts silently.)
                    if self.emergency_stopped() {
                        reasons.push(format!("{name}: stopped by the emergency stop"));
                        break;
                    }
                    return false;
                }
                Ok(Attempt::Next(reason)) => reasons.push(format!("{name}: {reason}")),
                Ok(Attempt::Escalate(reason)) => {
                    reasons.push(format!("{name}: {reason}"));
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, incident = %incident.id, runbook = %name, "repair failed on a store error");
                    reasons.push(format!("{name}: store error"));
                    break;
                }
            }
        }
        let message = format!("automatic repair gave up: {}", reasons.join("; "));
        if let Err(e) = self
            .inner
            .incidents
            .automatic(&incident.id, IncidentState::Escalated, &message)
            .await
        {
            tracing::error!(error = %e, incident = %incident.id, "cannot escalate incident");
        }
        false
    }

    /// Records a repair that a gate refused (state `cancelled`, with why) and counts it.
    async fn record_cancelled(
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
        .emit(&self.inner.metrics);
        self.announce(&repair);
        Ok(repair)
    }

    async fn create(
        &self,
        subject: &Subject<'_>,
        state: RepairState,
        error: Option<&str>,
    ) -> Result<Repair, StoreError> {
        let repair = self
            .inner
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

    /// Writes a repair decision of the engine to the audit log (a failure is logged, never
    /// fatal: the repair record itself is already stored).
    async fn audit(&self, repair: &Repair, action: &str, error: Option<&str>) {
        let record = AuditRecord::system(
            action,
            format!("repair {}", repair.id),
            repair.state.as_str(),
        )
        .with_detail(format!(
            "runbook={} target={} incident={} requested_by={}{}",
            repair.runbook,
            repair.target.as_deref().unwrap_or("-"),
            repair.incident_id.as_deref().unwrap_or("-"),
            repair.requested_by,
            error.map(|e| format!(" error={e}")).unwrap_or_default()
        ));
        if let Err(e) = self.inner.store.append_audit(&record).await {
            tracing::error!(error = %e, repair = %repair.id, "cannot write the audit log");
        }
    }

    /// Continues a repair that a stopped daemon left unfinished: same attempt (no new budget),
    /// re-check first, and steps the interrupted repair completed are not run again unless
    /// they are `idempotent`.
    async fn resume_attempt(
        &self,
        subject: &Subject<'_>,
        interrupted: &Repair,
    ) -> Result<Attempt, StoreError> {
        if self.emergency_stopped() {
            self.record_cancelled(subject, "emergency stop is active")
                .await?;
            return Ok(Attempt::Halt);
        }
        let _lease = match self.hold_target(subject).await? {
            Ok(lease) => lease,
            Err((why, _)) => return Ok(Attempt::Next(why)),
        };
        let repair = self.create(subject, RepairState::Queued, None).await?;
        tracing::warn!(repair = %repair.id, interrupted = %interrupted.id, runbook = %repair.runbook, "resuming an interrupted repair");
        self.announce(&repair);
        self.execute(
            repair,
            subject.incident,
            subject.check.map(|c| c.as_ref()),
            subject.book,
            Some(interrupted),
        )
        .await
    }

    /// The gates before a repair may be queued: emergency stop, breaker, per-target budget
    /// (target repairs only), global hourly budget. Admitted repairs are recorded `queued`, or
    /// `awaiting_approval` when the runbook needs approval.
    async fn admit(&self, subject: &Subject<'_>) -> Result<Admission, StoreError> {
        let store = &self.inner.store;
        let book = subject.book;
        let runbook = book.name.get_ref().as_str();
        let now = Utc::now();
        if self.mode_for(subject.book) == Mode::Observe {
            let repair = self
                .record_cancelled(subject, "mode is observe: repairs are not run")
                .await?;
            return Ok(Admission::Refused(Attempt::Halt, repair));
        }
        if self.emergency_stopped() {
            let repair = self
                .record_cancelled(subject, "emergency stop is active")
                .await?;
            return Ok(Admission::Refused(Attempt::Halt, repair));
        }
        let lease = match self.hold_target(subject).await? {
            Ok(lease) => lease,
            Err((why, repair)) => return Ok(Admission::Refused(Attempt::Next(why), repair)),
        };
        if let Some(target) = subject.target() {
            if let Some(breaker) = store
                .open_breakers(now)
                .await?
                .into_iter()
                .find(|b| b.target == target && b.runbook == runbook)
            {
                let why = format!(
                    "breaker open until {} ({})",
                    breaker.closes_at.to_rfc3339(),
                    breaker.reason
                );
                let repair = self.record_cancelled(subject, &why).await?;
                return Ok(Admission::Refused(Attempt::Next(why), repair));
            }
            let window =
                chrono::Duration::from_std(book.window.get()).unwrap_or(chrono::Duration::MAX);
            // Attempts before the breaker last closed (cooldown passed or a human reset it)
            // no longer count: closing the breaker really lets repairs run again.
            let window_start = now.checked_sub_signed(window).unwrap_or(now);
            let since = match store.breaker_closed_at(&target, runbook, now).await? {
                Some(closed) => closed.max(window_start),
                None => window_start,
            };
            let used = store.count_attempts(&target, runbook, since).await?;
            if used >= i64::from(book.max_attempts) {
                let cooldown = chrono::Duration::from_std(book.cooldown.get())
                    .unwrap_or(chrono::Duration::MAX);
                let reason = format!(
                    "{used} attempts within {} (max {})",
                    book.window, book.max_attempts
                );
                store
                    .open_breaker(&Breaker {
                        target: target.clone(),
                        runbook: runbook.to_string(),
                        opened_at: now,
                        closes_at: now.checked_add_signed(cooldown).unwrap_or(now),
                        reason: reason.clone(),
                    })
                    .await?;
                let why = format!(
                    "budget exhausted: {reason}; breaker opened for {}",
                    book.cooldown
                );
                let repair = self.record_cancelled(subject, &why).await?;
                return Ok(Admission::Refused(Attempt::Next(why), repair));
            }
        }
        let hourly = store
            .count_repairs_since(now - chrono::Duration::hours(1))
            .await?;
        if hourly >= i64::from(self.inner.config.policy.max_repairs_per_hour) {
            let why = format!(
                "global budget exhausted: {hourly} repairs in the last hour (max_repairs_per_hour)"
            );
            let repair = self.record_cancelled(subject, &why).await?;
            return Ok(Admission::Refused(Attempt::Escalate(why), repair));
        }
        let needs_approval = book.approval == Approval::Required || book.risk == Risk::High;
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
                        self.inner.store.set_step_group(&repair.id, Some((pid, ticks))).await?;
                        recorded = true;
                    }
                }
            }
        };
        if recorded {
            self.inner.store.set_step_group(&repair.id, None).await?;
        }
        Ok(record)
    }

    /// The mode a runbook runs in: the stricter of the global mode and its own.
    fn mode_for(&self, book: &RunbookConfig) -> Mode {
        let global = self.inner.config.policy.mode;
        book.mode
            .as_ref()
            .map_or(global, |m| global.strictest(*m.get_ref()))
    }

    /// Holds the subject's target for one repair (nothing to hold without a target); when
    /// another repair holds it, records this one refused and returns why.
    async fn hold_target(
        &self,
        subject: &Subject<'_>,
    ) -> Result<Result<Option<TargetLease>, (String, Repair)>, StoreError> {
        match self.try_hold(subject.target()).await? {
            Ok(lease) => Ok(Ok(lease)),
            Err(why) => {
                let repair = self.record_cancelled(subject, &why).await?;
                Ok(Err((why, repair)))
            }
        }
    }

    /// Holds `target` for one repair (nothing to hold without one); why not when another
    /// repair holds it, of this instance or of another sharing the store. A hold just given up
    /// elsewhere (e.g. by the instance that admitted a manual repair this one now runs) is
    /// released in the background: it is waited for up to `TARGET_HOLD_WAIT`.
    async fn try_hold(
        &self,
        target: Option<String>,
    ) -> Result<Result<Option<TargetLease>, String>, StoreError> {
        let Some(target) = target else {
            return Ok(Ok(None));
        };
        let busy = format!("another repair of `{target}` is in progress");
        let free = self
            .inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.clone());
        if !free {
            return Ok(Err(busy));
        }
        let mut lease = TargetLease {
            inner: Arc::clone(&self.inner),
            target,
            durable: None,
        };
        // On an error `lease` is dropped, which frees the target again.
        lease.durable = self
            .inner
            .store
            .try_hold_target(&lease.target, TARGET_HOLD_WAIT, TARGET_HOLD_POLL)
            .await?;
        Ok(match lease.durable {
            Some(_) => Ok(Some(lease)),
            None => Err(busy),
        })
    }

    /// Runs an admitted repair: approval (if needed; `Deferred` while undecided), then
    /// `execute`.
    async fn run_admitted(
        &self,
        subject: &Subject<'_>,
        repair: Repair,
        needs_approval: bool,
    ) -> Result<Attempt, StoreError> {
        if needs_approval {
            match self.approval(&repair, subject.book).await? {
                Some(true) => {}
                Some(false) => return Ok(Attempt::Next("approval denied".to_string())),
                None => return Ok(Attempt::Deferred),
            }
        }
        self.execute(
            repair,
            subject.incident,
            subject.check.map(|c| c.as_ref()),
            subject.book,
            None,
        )
        .await
    }

    /// Continues a repair admitted by an earlier claim of its job (queued, or awaiting
    /// approval): holds its target again, then `run_admitted`.
    async fn continue_admitted(
        &self,
        incident: Option<&Incident>,
        check: Option<&Arc<Check>>,
        repair: Repair,
    ) -> Result<Attempt, StoreError> {
        let Some(book) = self.runbook(&repair.runbook).cloned() else {
            let why = format!("runbook `{}` is no longer configured", repair.runbook);
            self.cancel(&repair, &why).await?;
            return Ok(Attempt::Next(why));
        };
        let actor = repair.requested_by.clone();
        let subject = Subject {
            incident,
            check,
            book: &book,
            attempt: repair.attempt,
            actor: &actor,
        };
        let _lease = match self.try_hold(subject.target()).await? {
            Ok(lease) => lease,
            Err(why) => {
                self.cancel(&repair, &why).await?;
                return Ok(Attempt::Next(why));
            }
        };
        let needs_approval = repair.state == RepairState::AwaitingApproval;
        self.run_admitted(&subject, repair, needs_approval).await
    }

    /// One candidate runbook, through every gate.
    async fn attempt(&self, subject: &Subject<'_>) -> Result<Attempt, StoreError> {
        match self.admit(subject).await? {
            Admission::Refused(attempt, _) => Ok(attempt),
            Admission::Admitted(repair, needs_approval, _lease) => {
                self.run_admitted(subject, repair, needs_approval).await
            }
        }
    }

    /// The decision on a repair in `awaiting_approval`: `Some(true)` approved (by a person, or
    /// by `on_timeout` once `approval_timeout` has passed since it was created), `Some(false)`
    /// denied or ended, `None` still undecided.
    async fn approval(
        &self,
        repair: &Repair,
        book: &RunbookConfig,
    ) -> Result<Option<bool>, StoreError> {
        loop {
            match self.inner.store.repair(&repair.id).await?.map(|r| r.state) {
                Some(RepairState::Queued) => return Ok(Some(true)),
                Some(RepairState::AwaitingApproval) => {}
                _ => return Ok(Some(false)),
            }
            let Some((to, note)) = approval_timed_out(repair, book, Utc::now()) else {
                return Ok(None);
            };
            if self
                .inner
                .store
                .decide_repair(&repair.id, to, "homeostat", note)
                .await?
            {
                return Ok(Some(to == RepairState::Queued));
            }
            // A person decided at the same moment: read their decision.
        }
    }

    /// Runs a created repair: re-check, dry-run or steps, verify, rollback. `interrupted`
    /// is the repair this one continues, whose completed steps are skipped.
    async fn execute(
        &self,
        repair: Repair,
        incident: Option<&Incident>,
        check: Option<&Check>,
        book: &RunbookConfig,
        interrupted: Option<&Repair>,
    ) -> Result<Attempt, StoreError> {
        let store = &self.inner.store;
        let kill = self.kill_token();
        let _executing = Executing::enter(&self.inner.executing);
        if self.emergency_stopped() {
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
                self.finish(
                    &repair,
                    RepairState::Failed,
                    &[],
                    Some(&why),
                    Duration::ZERO,
                )
                .await?;
                return Ok(Attempt::Done);
            }
        };
        let context = template_context(incident, check, book, &secrets);
        if repair.dry_run {
            let mut planned = Vec::new();
            for (phase, step) in book
                .steps
                .iter()
                .map(|s| ("step", s))
                .chain(book.rollback.iter().map(|s| ("rollback", s)))
            {
                planned.push(steps::plan(step, &context, phase));
            }
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
            self.inner
                .incidents
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
        if failure.is_none() && kill.is_cancelled() {
            failure = Some("emergency stop".into());
        }
        if kill.is_cancelled() {
            self.finish(
                &repair,
                RepairState::Cancelled,
                &records,
                Some("killed by the emergency stop"),
                started.elapsed(),
            )
            .await?;
            return Ok(Attempt::Halt);
        }
        if failure.is_none() {
            store
                .update_repair(&repair.id, RepairState::Verifying, &records, None)
                .await?;
            let verify = book.verify.as_ref().and_then(|v| {
                self.inner
                    .checks
                    .get(v.check.get_ref())
                    .map(|c| (Arc::clone(c), v.within.get()))
            });
            let verify = verify.or_else(|| {
                check
                    .and_then(|c| self.inner.checks.get(&c.name))
                    .map(|c| (Arc::clone(c), Duration::from_secs(30)))
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
            self.finish(
                &repair,
                RepairState::Cancelled,
                &records,
                Some("stopped by the emergency stop during verify"),
                started.elapsed(),
            )
            .await?;
            return Ok(Attempt::Halt);
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
                self.inner
                    .incidents
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
            self.inner
                .store
                .update_repair(&repair.id, RepairState::Running, records, None)
                .await?;
            if failure.is_some() {
                return Ok(failure);
            }
        }
        Ok(None)
    }

    async fn finish(
        &self,
        repair: &Repair,
        state: RepairState,
        steps: &[StepRecord],
        error: Option<&str>,
        duration: Duration,
    ) -> Result<(), StoreError> {
        self.inner
            .store
            .update_repair(&repair.id, state, steps, error)
            .await?;
        RepairFinished {
            repair: &repair.id,
            runbook: &repair.runbook,
            outcome: state.as_str(),
            duration,
            error,
        }
        .emit(&self.inner.metrics);
        if let Some(updated) = self.inner.store.repair(&repair.id).await? {
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
        self.inner.detector.observe(
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

    /// Ends `repair` as `cancelled` (nothing run) with the reason.
    async fn cancel(&self, repair: &Repair, why: &str) -> Result<(), StoreError> {
        self.finish(
            repair,
            RepairState::Cancelled,
            &[],
            Some(why),
            Duration::ZERO,
        )
        .await
    }

    /// Why `repair`, admitted earlier, may no longer run: the mode is now stricter than when it
    /// was admitted (observe; or dry-run for a repair admitted to run for real), or its target's
    /// breaker is open now.
    async fn closed_gate(
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
            .inner
            .store
            .open_breakers(Utc::now())
            .await?
            .into_iter()
            .find(|b| b.target == target && b.runbook == repair.runbook);
        Ok(open.map(|b| {
            format!(
                "breaker opened meanwhile, until {} ({})",
                b.closes_at.to_rfc3339(),
                b.reason
            )
        }))
    }

    /// The secrets steps may use (none without a master key).
    async fn secrets(
        &self,
    ) -> Result<std::collections::BTreeMap<String, String>, crate::store::VaultError> {
        match &self.inner.vault {
            Some(vault) => vault.all().await,
            None => Ok(Default::default()),
        }
    }

    fn announce(&self, repair: &Repair) {
        self.inner
            .bus
            .publish(Event::Repair(Box::new(repair.clone())));
    }
}

/// Takes back at once the repair jobs whose lease owner is a previous life of this daemon: a
/// process of this host that is gone (the lease would otherwise hold them for up to
/// `REPAIR_LEASE`). On SQLite, which one daemon uses at a time, every owner that is not a live
/// process of this host counts as a previous life. Jobs of live instances sharing a PostgreSQL
/// store are never touched, nor those of other hosts (their leases expire). The step process
/// group each job's repair was running is killed (if it is still that process) while the job
/// is held, before anyone can claim it again; whoever claims it marks its repair `interrupted`,
/// re-checks and resumes (`handle`). Returns the jobs taken back (queued again, or dead).
async fn take_back_previous_lives(
    store: &Store,
    queue: &JobQueue,
    me: &LeaseOwner,
) -> Result<Vec<Job>, StoreError> {
    let mut taken = Vec::new();
    for job in queue.running(REPAIR_QUEUE).await.map_err(queue_failure)? {
        let Some(owner) = job.lease_owner.clone() else {
            continue;
        };
        let previous_life = match me.liveness_of(&owner) {
            Liveness::Dead => true,
            Liveness::Unknown => store.backend() == Backend::Sqlite,
            Liveness::Alive => false,
        };
        if !previous_life {
            continue;
        }
        let work = serde_json::from_value::<RepairJob>(job.payload.clone()).ok();
        let kill_orphans = |_: Job| async {
            let Some(work) = &work else { return };
            match store.unfinished_step_groups(work.scope()).await {
                Ok(groups) => {
                    for (pgid, ticks) in groups {
                        if crate::process::kill_orphaned_group(pgid, ticks) {
                            tracing::warn!(pgid, %owner, "killed a step left running by a stopped daemon");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the steps a stopped daemon left running")
                }
            }
        };
        if let Some(job) = queue
            .take_back(job.id, &owner, kill_orphans)
            .await
            .map_err(queue_failure)?
        {
            tracing::warn!(job_id = job.id, %owner, state = %job.state, "took back a repair job of this daemon's previous life");
            taken.push(job);
        }
    }
    Ok(taken)
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

fn template_context(
    incident: Option<&Incident>,
    check: Option<&Check>,
    book: &RunbookConfig,
    secrets: &std::collections::BTreeMap<String, String>,
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

/// `now + wait`, saturating far in the future instead of overflowing on a huge configured value.
fn deadline_after(wait: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_job_payloads_read_back_and_dedup_per_incident() {
        let jobs = [
            RepairJob::Incident {
                incident: "7".into(),
                actor: "alice".into(),
            },
            RepairJob::Repair {
                repair: "12".into(),
            },
        ];
        for job in &jobs {
            let read: RepairJob = serde_json::from_value(job.payload()).expect("payload");
            assert_eq!(&read, job);
        }
        assert_eq!(jobs[0].dedup_key(), "repair:incident:7");
        assert_eq!(jobs[1].dedup_key(), "repair:repair:12");
        let other_actor = RepairJob::Incident {
            incident: "7".into(),
            actor: "homeostat".into(),
        };
        assert_eq!(other_actor.dedup_key(), jobs[0].dedup_key());
    }
}
