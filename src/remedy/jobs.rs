//! The queue glue of repairs: the typed repair job (queue `repairs`), its worker settings, and
//! what a claim, a lost worker, a dead job or a restarted daemon does to the repairs it carries.
//!
//! An incident that needs repair, or a manual request, is a job with its runbook's priority and
//! a dedup key; the engine's worker claims at most `max_concurrent_repairs` of them at once
//! across every instance sharing the store, renews their leases while they run, and records
//! their outcome. A job whose lease expired (its daemon died) is claimed again: the repairs it
//! carried are marked `interrupted`, the step they were running is killed, and the repair is
//! continued after a re-check. A restarted daemon does that at once for the jobs of its own
//! previous life (same host, that process gone), without waiting for their leases.

use super::context::Context;
use crate::model::IncidentState;
use crate::queue::{
    Defer, EnqueueOutcome, HandlerError, Job, JobKind, JobQueue, LeaseOwner, Liveness, QueueError,
    Stopped, WorkerConfig,
};
use crate::store::{Backend, RepairScope, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a repair waiting for approval gives its worker slot back before its job is claimed
/// again to look for a decision.
const APPROVAL_POLL: Duration = Duration::from_millis(500);
/// How long a claimed repair job stays claimed without a heartbeat (renewed every third of it):
/// a repair whose daemon died is taken over by another instance this long after.
const REPAIR_LEASE: Duration = Duration::from_secs(10);
/// How often expired leases are looked for.
pub(super) const REAP_EVERY: Duration = Duration::from_secs(1);
/// How often the worker looks for due repair jobs when it found none.
const CLAIM_POLL: Duration = Duration::from_millis(100);
/// Why a repair whose daemon or worker stopped is `interrupted`.
const INTERRUPTED: &str = "the daemon stopped while this repair was unfinished";

/// The work one job of the `repairs` queue carries (its JSON payload).
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum RepairWork {
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

impl RepairWork {
    /// The repairs this work creates or runs.
    fn scope(&self) -> RepairScope<'_> {
        match self {
            RepairWork::Incident { incident, .. } => RepairScope::Incident(incident),
            RepairWork::Repair { repair } => RepairScope::Repair(repair),
        }
    }
}

/// A repair job: its work, at its runbook's priority.
pub(super) struct RepairJob {
    /// What the job does.
    pub(super) work: RepairWork,
    /// The priority of the (first candidate) runbook.
    pub(super) priority: u8,
}

impl JobKind for RepairJob {
    type Payload = RepairWork;
    const QUEUE: &'static str = "repairs";
    const KIND: &'static str = "repair";
    /// Claims of one repair job (daemon stops, lost workers, store errors) before it is dead.
    const MAX_ATTEMPTS: u32 = 10;

    fn payload(&self) -> &RepairWork {
        &self.work
    }

    fn priority(&self) -> u8 {
        self.priority
    }

    /// At most one unfinished job has this key: a repeated signal never queues a repair twice.
    fn dedup_key(&self) -> Option<String> {
        Some(match &self.work {
            RepairWork::Incident { incident, .. } => format!("repair:incident:{incident}"),
            RepairWork::Repair { repair } => format!("repair:repair:{repair}"),
        })
    }
}

/// The lease owner name of a new engine on this host.
pub(super) fn new_owner() -> LeaseOwner {
    LeaseOwner::current(&format!(
        "{}-{:08x}",
        RepairJob::QUEUE,
        rand::random::<u32>()
    ))
}

/// The repair worker's settings: `slots` repair jobs at once across every instance sharing the
/// store (`max_concurrent_repairs`).
pub(super) fn worker_config(owner: &str, slots: u32) -> WorkerConfig {
    let slots = slots.max(1);
    let mut config = WorkerConfig::new(RepairJob::QUEUE, owner);
    config.lease = REPAIR_LEASE;
    config.max_concurrent = slots;
    config.slots = usize::try_from(slots).unwrap_or(1);
    config.poll_interval = CLAIM_POLL;
    config
}

impl Context {
    /// Queues `job`; a duplicate when an unfinished job carries the same work.
    pub(super) async fn enqueue(&self, job: &RepairJob) -> Result<EnqueueOutcome, QueueError> {
        self.queue.enqueue_kind(job).await
    }

    /// Runs one claimed repair job with `work` (which returns whether the repair waits for
    /// approval). A job claimed before (its daemon stopped, its lease expired, or a store error
    /// failed it) first takes back the repairs it left unfinished. When `cancel` fires the
    /// repair is dropped at once (its step's process group is killed); at shutdown its repairs
    /// are marked `interrupted` and the job fails, so it is queued again and continued at the
    /// next start; when the lease was lost, the new owner does that.
    pub(super) async fn handle<F, Fut>(
        &self,
        job: Job,
        cancel: tokio_util::sync::CancellationToken,
        shutdown: tokio_util::sync::CancellationToken,
        work: F,
    ) -> Result<(), HandlerError>
    where
        F: FnOnce(RepairWork, bool) -> Fut,
        Fut: Future<Output = Result<bool, StoreError>>,
    {
        let repair_work = match job.decode::<RepairJob>() {
            Ok(repair_work) => repair_work,
            Err(e) => {
                tracing::error!(job_id = job.id, error = %e, "unreadable repair job; dropped");
                return Ok(());
            }
        };
        let retaken = job.attempts > 1;
        let outcome = {
            let run = async {
                if retaken {
                    self.take_back(&repair_work, false).await?;
                }
                work(repair_work.clone(), retaken).await
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
            None if shutdown.is_cancelled() => match self.take_back(&repair_work, false).await {
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
            self.bury(&job, &repair_work).await;
        }
        Err(failure)
    }

    /// Jobs the reaper (or a restart) took back. A job queued again is taken back by whoever
    /// claims it next (doing it here could race with that claim); a dead one (attempts used up)
    /// is taken back here, since nobody will claim it.
    pub(super) async fn reaped(&self, jobs: Vec<Job>) {
        for job in jobs.into_iter().filter(|j| j.state.is_final()) {
            match job.decode::<RepairJob>() {
                Ok(work) => self.bury(&job, &work).await,
                Err(e) => tracing::error!(job_id = job.id, error = %e, "unreadable repair job"),
            }
        }
    }

    /// A repair job that will never run again (its claims are used up): the repairs it kept
    /// waiting end, and its incident is escalated, a human must look at it.
    async fn bury(&self, job: &Job, work: &RepairWork) {
        if let Err(e) = self.take_back(work, true).await {
            tracing::error!(job_id = job.id, error = %e, "cannot take back the repairs of a dead repair job");
        }
        let RepairWork::Incident { incident, .. } = work else {
            return;
        };
        let message = format!(
            "automatic repair gave up: its job was claimed {} times without finishing (daemons stopped or failed while repairing)",
            job.attempts
        );
        if let Err(e) = self
            .incidents
            .automatic(incident, IncidentState::Escalated, &message)
            .await
        {
            tracing::warn!(error = %e, %incident, "cannot escalate the incident of a dead repair job");
        }
    }

    /// Marks the repairs `work` left running `interrupted` and kills the step process group
    /// each was running (when it is still the same process on this host). Repairs still queued
    /// or awaiting approval are left to the job's next claim, which continues them (an
    /// approval given meanwhile stands), unless `dead`: the job will never be claimed again.
    async fn take_back(&self, work: &RepairWork, dead: bool) -> Result<(), StoreError> {
        for (repair, group) in self
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
            if let Some(updated) = self.store.repair(&repair.id).await? {
                self.audit(&updated, "repair.interrupt", Some(INTERRUPTED))
                    .await;
                self.announce(&updated);
            }
        }
        Ok(())
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
pub(super) async fn take_back_previous_lives(
    store: &Store,
    queue: &JobQueue,
    me: &LeaseOwner,
) -> Result<Vec<Job>, QueueError> {
    let mut taken = Vec::new();
    for job in queue.running(RepairJob::QUEUE).await? {
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
        let work = job.decode::<RepairJob>().ok();
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
        if let Some(job) = queue.take_back(job.id, &owner, kill_orphans).await? {
            tracing::warn!(job_id = job.id, %owner, state = %job.state, "took back a repair job of this daemon's previous life");
            taken.push(job);
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored job carrying `job` as `enqueue_kind` would store it.
    fn stored(job: &RepairJob) -> Job {
        let new = job.new_job().expect("payload");
        let now = chrono::Utc::now();
        Job {
            id: 1,
            queue: new.queue,
            kind: new.kind,
            payload: new.payload,
            priority: new.priority,
            state: crate::queue::JobState::Queued,
            attempts: 0,
            max_attempts: new.max_attempts,
            run_after: now,
            lease_owner: None,
            lease_expires_at: None,
            dedup_key: new.dedup_key,
            last_error: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }

    #[test]
    fn repair_job_payloads_read_back_and_dedup_per_incident() {
        let jobs = [
            RepairJob {
                work: RepairWork::Incident {
                    incident: "7".into(),
                    actor: "alice".into(),
                },
                priority: 2,
            },
            RepairJob {
                work: RepairWork::Repair {
                    repair: "12".into(),
                },
                priority: 5,
            },
        ];
        for job in &jobs {
            let read = stored(job).decode::<RepairJob>().expect("decode");
            assert_eq!(read, job.work);
        }
        let stored_jobs: Vec<Job> = jobs.iter().map(stored).collect();
        // The stored format of earlier releases: same queue, kind, payload and dedup keys.
        assert_eq!(stored_jobs[0].queue, "repairs");
        assert_eq!(stored_jobs[0].kind, "repair");
        assert_eq!(stored_jobs[0].priority, 2);
        assert_eq!(stored_jobs[0].max_attempts, 10);
        assert_eq!(
            stored_jobs[0].payload,
            serde_json::json!({ "kind": "incident", "incident": "7", "actor": "alice" })
        );
        assert_eq!(
            stored_jobs[1].payload,
            serde_json::json!({ "kind": "repair", "repair": "12" })
        );
        assert_eq!(
            stored_jobs[0].dedup_key.as_deref(),
            Some("repair:incident:7")
        );
        assert_eq!(
            stored_jobs[1].dedup_key.as_deref(),
            Some("repair:repair:12")
        );
        let other_actor = RepairJob {
            work: RepairWork::Incident {
                incident: "7".into(),
                actor: "homeostat".into(),
            },
            priority: 2,
        };
        assert_eq!(other_actor.dedup_key(), jobs[0].dedup_key());
    }

    #[test]
    fn a_job_of_another_kind_is_not_read_as_a_repair_job() {
        let mut job = stored(&RepairJob {
            work: RepairWork::Repair { repair: "1".into() },
            priority: 5,
        });
        job.kind = "notify".into();
        assert!(matches!(
            job.decode::<RepairJob>(),
            Err(QueueError::OtherKind { .. })
        ));
    }
}
