//! The repair engine's front door: queues incidents for repair, takes manual requests, plans
//! what a repair will run, and tries an incident's candidate runbooks in order, escalating
//! when none is left. The gates are in `gates/`, the steps in `executor.rs`, the queue glue in
//! `jobs.rs`, the emergency stop in `stop.rs`.

use super::RepairPlan;
use super::context::{Attempt, Context, Subject};
use super::executor::{planned_steps, template_context};
use super::gates::Admission;
use super::jobs::{self, RepairJob, RepairWork};
use super::learning::{RunbookStats, rank};
use super::stop::EmergencyStop;
use crate::bus::EventBus;
use crate::checks::Check;
use crate::config::{Approval, Config, Mode, OnTimeout, Risk};
use crate::detect::Detector;
use crate::incidents::IncidentService;
use crate::model::{Incident, IncidentState, LOG_LABEL, Repair, RepairState};
use crate::queue::{EnqueueOutcome, Job, JobQueue, QueueError, Worker, reaper};
use crate::store::{Store, StoreError, Vault};
use crate::telemetry::Metrics;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// How often the stored emergency stop is re-read (another instance may have changed it).
const FOLLOW_STOP_EVERY: Duration = Duration::from_millis(500);

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
    /// The repair could not be queued.
    #[error(transparent)]
    Queue(#[from] QueueError),
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
    ctx: Arc<Context>,
}

impl RepairEngine {
    /// An engine; reads the persisted emergency stop from the store, and takes back at once the
    /// repair jobs its previous life left running (see `take_back_previous_lives`), killing the
    /// steps that life left behind.
    pub async fn new(parts: EngineParts) -> Result<RepairEngine, QueueError> {
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
        let owner = jobs::new_owner();
        let previous_life = jobs::take_back_previous_lives(&store, &queue, &owner).await?;
        let stop = EmergencyStop::load(store.clone(), bus.clone(), Arc::clone(&metrics)).await?;
        let engine = RepairEngine {
            ctx: Arc::new(Context {
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
                stop,
                executing: AtomicUsize::new(0),
                busy: Mutex::new(HashSet::new()),
            }),
        };
        engine.ctx.reaped(previous_life).await;
        Ok(engine)
    }

    /// Whether the emergency stop is active.
    pub fn emergency_stopped(&self) -> bool {
        self.ctx.stop.engaged()
    }

    /// Stops new repairs and kills running steps (their whole process groups) at once, then
    /// persists. When persisting fails the stop stays on here (and storing it is retried).
    pub async fn emergency_stop(&self, actor: &str) -> Result<(), StoreError> {
        self.ctx.stop.engage(actor).await
    }

    /// Lifts the emergency stop; persists.
    pub async fn resume(&self, actor: &str) -> Result<(), StoreError> {
        self.ctx.stop.resume(actor).await
    }

    /// Repairs of this instance running their steps or verifying now.
    pub fn running(&self) -> usize {
        self.ctx.executing.load(Ordering::SeqCst)
    }

    /// Queues a repair job for each incident that needs repair until `shutdown`, while a worker
    /// runs the queued jobs (at most `max_concurrent_repairs` across every instance sharing the
    /// store) and the reaper takes back jobs whose lease expired. At shutdown running steps are
    /// killed, their repairs marked `interrupted` and their jobs queued again for the next start.
    pub async fn run(self, mut inbox: UnboundedReceiver<Incident>, shutdown: CancellationToken) {
        let config = jobs::worker_config(
            &self.ctx.owner,
            self.ctx.config.policy.max_concurrent_repairs,
        );
        let engine = self.clone();
        let stop = shutdown.clone();
        let worker = Worker::new(
            self.ctx.queue.clone(),
            config,
            move |job: Job, cancel: CancellationToken| {
                let engine = engine.clone();
                let stop = stop.clone();
                async move {
                    let work = |work: RepairWork, retaken: bool| {
                        let engine = engine.clone();
                        async move { engine.work(&work, retaken).await }
                    };
                    engine.ctx.handle(job, cancel, stop, work).await
                }
            },
        );
        let worker = tokio::spawn(worker.run(shutdown.clone()));
        let ctx = Arc::clone(&self.ctx);
        let reaper = tokio::spawn(reaper::run(
            self.ctx.queue.clone(),
            jobs::REAP_EVERY,
            shutdown.clone(),
            move |jobs: Vec<Job>| {
                let ctx = Arc::clone(&ctx);
                tokio::spawn(async move { ctx.reaped(jobs).await });
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
                _ = follow.tick() => self.ctx.stop.follow_stored().await,
            }
        }
        // The worker ends once its jobs have recorded their outcome (see `handle`).
        let _ = worker.await;
        let _ = reaper.await;
        self.ctx.stop.kill_all();
    }

    /// Queues the repair of `incident` (nothing in mode `observe` or without candidates), with
    /// its first candidate runbook's priority; a duplicate when one is queued or running already.
    async fn enqueue_incident(
        &self,
        incident: &Incident,
        actor: &str,
    ) -> Result<Option<EnqueueOutcome>, QueueError> {
        if self.ctx.config.policy.mode == Mode::Observe {
            return Ok(None);
        }
        let remedy = self.candidates(incident).1;
        let Some(first) = remedy.first() else {
            return Ok(None);
        };
        let priority = self.ctx.runbook(first).map_or(5, |b| *b.priority.get_ref());
        let job = RepairJob {
            work: RepairWork::Incident {
                incident: incident.id.clone(),
                actor: actor.to_string(),
            },
            priority,
        };
        let outcome = self.ctx.enqueue(&job).await?;
        if let EnqueueOutcome::Created(job) = outcome {
            tracing::info!(incident = %incident.id, job, priority, "repair queued");
        }
        Ok(Some(outcome))
    }

    /// Does the work of a repair job; `retaken` when it was claimed before. Returns whether
    /// it waits for approval (the job is then deferred).
    async fn work(&self, work: &RepairWork, retaken: bool) -> Result<bool, StoreError> {
        let store = &self.ctx.store;
        match work {
            RepairWork::Incident { incident, actor } => {
                let Some(incident) = store.incident(incident).await? else {
                    return Ok(false);
                };
                let latest = self.latest_repair(&incident.id).await?;
                // Resolved (or closed) while its repair waited for approval, or the daemon now
                // runs in observe mode: the waiting repair ends, nothing is run.
                let why_not = if !incident.state.is_active() {
                    Some(format!(
                        "incident is {} now; nothing done",
                        incident.state.as_str()
                    ))
                } else if self.ctx.config.policy.mode == Mode::Observe {
                    Some("the mode is now observe: admitted earlier, not run".to_string())
                } else {
                    None
                };
                if let Some(why) = why_not {
                    if let Some(waiting) = latest.filter(|r| {
                        matches!(r.state, RepairState::Queued | RepairState::AwaitingApproval)
                    }) {
                        self.ctx.cancel(&waiting, &why).await?;
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
            RepairWork::Repair { repair } => {
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
                    .and_then(|t| self.ctx.checks.get(t))
                    .cloned();
                let attempt = self.continue_admitted(None, check.as_ref(), repair).await?;
                Ok(matches!(attempt, Attempt::Deferred))
            }
        }
    }

    /// The one check whose `remedy` names `runbook` (`None` when no check does); an error
    /// naming them when several do.
    fn only_check_repaired_by(&self, runbook: &str) -> Result<Option<String>, RepairError> {
        let mut checks: Vec<&String> = self
            .ctx
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

    /// The latest repair of the incident `id`, if any.
    async fn latest_repair(&self, id: &str) -> Result<Option<Repair>, StoreError> {
        let (repairs, _) = self
            .ctx
            .store
            .list_repairs(None, Some(id), None, 1, 0)
            .await?;
        Ok(repairs.into_iter().next())
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
        if self.ctx.config.policy.mode == Mode::Observe {
            return Err(RepairError::Invalid(
                "mode is observe: repairs are not run".to_string(),
            ));
        }
        match request {
            ManualRepair::Incident(id) => {
                let incident = self
                    .ctx
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
                let before = self.latest_repair(&id).await?.map(|r| r.id);
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
                    let latest = self.latest_repair(&id).await?;
                    if latest.as_ref().map(|r| &r.id) != before.as_ref() {
                        return Ok(latest);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None)
            }
            ManualRepair::Runbook { runbook, target } => {
                let book = self
                    .ctx
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
                        Some(Arc::clone(self.ctx.checks.get(name).ok_or_else(|| {
                            RepairError::NotFound(format!("no check `{name}`"))
                        })?))
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
                match self.ctx.admit(&subject).await? {
                    Admission::Refused(_, repair) => Ok(Some(repair)),
                    // The target is held again when a worker claims the job.
                    Admission::Admitted(repair, _, _lease) => {
                        let job = RepairJob {
                            work: RepairWork::Repair {
                                repair: repair.id.clone(),
                            },
                            priority: *book.priority.get_ref(),
                        };
                        if let Err(e) = self.ctx.enqueue(&job).await {
                            let why = format!("cannot queue the repair: {e}");
                            self.ctx.fail(&repair, &why).await?;
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
        if let Some(check) = incident.check.as_ref().and_then(|c| self.ctx.checks.get(c)) {
            return (Some(Arc::clone(check)), check.remedy.clone());
        }
        let remedy = incident
            .labels
            .get(LOG_LABEL)
            .and_then(|name| {
                self.ctx
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
            .ctx
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
        let Some(book) = self.ctx.runbook(&repair.runbook) else {
            return Ok(None);
        };
        let incident = match &repair.incident_id {
            Some(id) => self.ctx.store.incident(id).await?,
            None => None,
        };
        let check = repair.target.as_ref().and_then(|t| self.ctx.checks.get(t));
        // Planned with the real secrets (so the plan is exact), shown redacted.
        let secrets = self.ctx.secrets().await.unwrap_or_default();
        let context =
            template_context(incident.as_ref(), check.map(|c| c.as_ref()), book, &secrets);
        let steps = planned_steps(book, &context)
            .into_iter()
            .map(|step| step.redacted())
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

    /// Tries the incident's candidates in order (from `resume` on when it continues a repair)
    /// and escalates when none is left; returns whether a repair waits for approval.
    async fn repair_incident(
        &self,
        incident: &Incident,
        actor: &str,
        resume: Option<&Continue>,
    ) -> bool {
        if self.ctx.config.policy.mode == Mode::Observe {
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
            let Some(book) = self.ctx.runbook(name).cloned() else {
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
            .ctx
            .incidents
            .automatic(&incident.id, IncidentState::Escalated, &message)
            .await
        {
            tracing::error!(error = %e, incident = %incident.id, "cannot escalate incident");
        }
        false
    }

    /// Continues a repair that a stopped daemon left unfinished: same attempt (no new budget),
    /// re-check first, and steps the interrupted repair completed are not run again unless
    /// they are `idempotent`.
    async fn resume_attempt(
        &self,
        subject: &Subject<'_>,
        interrupted: &Repair,
    ) -> Result<Attempt, StoreError> {
        if self.ctx.refuse_if_stopped(subject).await?.is_some() {
            return Ok(Attempt::Halt);
        }
        let _lease = match self.ctx.hold_target(subject).await? {
            Ok(lease) => lease,
            Err((why, _)) => return Ok(Attempt::Next(why)),
        };
        let repair = self.ctx.create(subject, RepairState::Queued, None).await?;
        tracing::warn!(repair = %repair.id, interrupted = %interrupted.id, runbook = %repair.runbook, "resuming an interrupted repair");
        self.ctx.announce(&repair);
        self.ctx.execute(repair, subject, Some(interrupted)).await
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
            match self.ctx.approval(&repair, subject.book).await? {
                Some(true) => {}
                Some(false) => return Ok(Attempt::Next("approval denied".to_string())),
                None => return Ok(Attempt::Deferred),
            }
        }
        self.ctx.execute(repair, subject, None).await
    }

    /// Continues a repair admitted by an earlier claim of its job (queued, or awaiting
    /// approval): holds its target again, then `run_admitted`.
    async fn continue_admitted(
        &self,
        incident: Option<&Incident>,
        check: Option<&Arc<Check>>,
        repair: Repair,
    ) -> Result<Attempt, StoreError> {
        let Some(book) = self.ctx.runbook(&repair.runbook).cloned() else {
            let why = format!("runbook `{}` is no longer configured", repair.runbook);
            self.ctx.cancel(&repair, &why).await?;
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
        let _lease = match self.ctx.try_hold(subject.target()).await? {
            Ok(lease) => lease,
            Err(why) => {
                self.ctx.cancel(&repair, &why).await?;
                return Ok(Attempt::Next(why));
            }
        };
        let needs_approval = repair.state == RepairState::AwaitingApproval;
        self.run_admitted(&subject, repair, needs_approval).await
    }

    /// One candidate runbook, through every gate.
    async fn attempt(&self, subject: &Subject<'_>) -> Result<Attempt, StoreError> {
        match self.ctx.admit(subject).await? {
            Admission::Refused(attempt, _) => Ok(attempt),
            Admission::Admitted(repair, needs_approval, _lease) => {
                self.run_admitted(subject, repair, needs_approval).await
            }
        }
    }
}
