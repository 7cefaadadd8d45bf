//! `Worker`: claims jobs of one queue, runs them with a user-supplied `JobHandler` while renewing
//! their leases (every lease/3), and records the outcome; stops when its token is cancelled.

use super::job::Job;
use super::job_queue::JobQueue;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What a handler returns when an attempt failed; its text becomes the job's `last_error`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a handler returns (as its `HandlerError`) to give the job back for now: it is queued
/// again, due after the duration, and the attempt does not count (see `JobQueue::defer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defer(pub Duration);

impl std::fmt::Display for Defer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deferred for {:?}", self.0)
    }
}

impl std::error::Error for Defer {}

/// Returned (boxed) by a handler that stopped because its daemon is stopping: the claim counts
/// like a failed one (a job whose claims are used up dies), but the job is due again at once —
/// a stop is not the job's fault, so it waits out no backoff.
#[derive(Debug)]
pub struct Stopped(pub String);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stopped {}

/// Runs jobs. Implemented for every `Fn(Job, CancellationToken) -> impl Future<Output =
/// Result<(), HandlerError>>`.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt of `job`. `cancel` fires when the worker shuts down or has lost the lease
    /// (the job was cancelled or reaped): stop soon then. `Err` counts as a failed attempt,
    /// except `Err(Defer)`, which queues the job again for later without counting.
    fn run(
        &self,
        job: Job,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

impl<F, Fut> JobHandler for F
where
    F: Fn(Job, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send,
{
    fn run(
        &self,
        job: Job,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        self(job, cancel)
    }
}

/// How a `Worker` works.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The queue it takes jobs from.
    pub queue: String,
    /// Its name in leases; unique among live workers (e.g. a `LeaseOwner`, which lets a
    /// restarted daemon recognise the leases of its previous life).
    pub owner: String,
    /// How long a claim lasts without a heartbeat; a crashed worker's jobs come back after this.
    pub lease: Duration,
    /// At most this many jobs of the queue run at once, across all workers.
    pub max_concurrent: u32,
    /// At most this many jobs run at once in this worker.
    pub slots: usize,
    /// How long it waits before looking again when no job was due.
    pub poll_interval: Duration,
}

impl WorkerConfig {
    /// A worker named `owner` on `queue`: 30 s leases, 4 concurrent jobs per queue, 1 slot,
    /// polling every 500 ms.
    pub fn new(queue: impl Into<String>, owner: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            queue: queue.into(),
            owner: owner.into(),
            lease: Duration::from_secs(30),
            max_concurrent: 4,
            slots: 1,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// Claims and runs the jobs of one queue.
pub struct Worker<H> {
    queue: JobQueue,
    config: WorkerConfig,
    handler: H,
}

impl<H: JobHandler> Worker<H> {
    /// A worker that runs the jobs of `config.queue` with `handler`.
    pub fn new(queue: JobQueue, config: WorkerConfig, handler: H) -> Worker<H> {
        Worker {
            queue,
            config,
            handler,
        }
    }

    /// Works until `shutdown` is cancelled; then claims nothing more, cancels the running
    /// handlers' tokens, and records their outcomes before returning. Store errors are logged and
    /// retried after `poll_interval`; they never end the worker.
    pub async fn run(self, shutdown: CancellationToken) {
        let worker = Arc::new(self);
        let slots = worker.config.slots.max(1);
        let mut running = JoinSet::new();
        while !shutdown.is_cancelled() {
            let room = slots.saturating_sub(running.len());
            let mut claimed = 0;
            if room > 0 {
                let config = &worker.config;
                match worker
                    .queue
                    .claim_batch(
                        &config.queue,
                        &config.owner,
                        config.lease,
                        config.max_concurrent,
                        room,
                    )
                    .await
                {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            let worker = Arc::clone(&worker);
                            let cancel = shutdown.child_token();
                            running.spawn(async move { worker.execute(job, cancel).await });
                        }
                    }
                    Err(e) => tracing::warn!(
                        queue = %config.queue, owner = %config.owner, error = %e,
                        "claiming jobs failed; will retry"
                    ),
                }
            }
            if claimed > 0 && running.len() < slots {
                continue; // There may be more due jobs.
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = tokio::time::sleep(worker.config.poll_interval) => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    /// Runs one claimed job to its outcome, renewing the lease meanwhile.
    async fn execute(&self, job: Job, cancel: CancellationToken) {
        let WorkerConfig {
            owner,
            lease,
            queue,
            ..
        } = &self.config;
        let id = job.id;
        tracing::debug!(job_id = id, %queue, kind = %job.kind, attempt = job.attempts, "job started");
        let attempt = AssertUnwindSafe(self.handler.run(job, cancel.clone())).catch_unwind();
        tokio::pin!(attempt);
        let period = (*lease / 3).max(Duration::from_millis(1));
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lease_lost = false;
        // The lease runs from the claim, a moment before this: counted from here it is fenced
        // one heartbeat period early.
        let mut renewed = tokio::time::Instant::now();
        let outcome = loop {
            tokio::select! {
                outcome = &mut attempt => break outcome,
                _ = heartbeat.tick(), if !lease_lost => {
                    let beat = tokio::time::timeout(period, self.queue.heartbeat(id, owner, *lease)).await;
                    match beat {
                        Ok(Ok(true)) => renewed = tokio::time::Instant::now(),
                        Ok(Ok(false)) => {
                            tracing::warn!(job_id = id, %queue, %owner, "lease lost; asking the handler to stop");
                            lease_lost = true;
                            cancel.cancel();
                        }
                        Ok(Err(_)) | Err(_) if renewed.elapsed() + period >= *lease => {
                            // Self-fencing: the lease may expire before a heartbeat gets through,
                            // and then another worker takes the job over; this one must not go on
                            // working on it meanwhile.
                            tracing::error!(job_id = id, %queue, %owner, "no heartbeat got through for most of the lease; stopping the handler");
                            lease_lost = true;
                            cancel.cancel();
                        }
                        Ok(Err(e)) => tracing::warn!(job_id = id, %queue, error = %e, "heartbeat failed; will retry"),
                        Err(_) => tracing::warn!(job_id = id, %queue, "heartbeat timed out; will retry"),
                    }
                }
            }
        };
        if lease_lost {
            return; // Whoever took the job (reaper, cancel) owns its outcome now.
        }
        let recorded = match outcome {
            Ok(Ok(())) => self.queue.complete(id, owner).await,
            Ok(Err(e)) => match e.downcast_ref::<Defer>() {
                Some(Defer(delay)) => self.queue.defer(id, owner, *delay).await,
                None if e.is::<Stopped>() => {
                    self.fail(id, &e.to_string(), Some(Duration::ZERO)).await
                }
                None => self.fail(id, &e.to_string(), None).await,
            },
            Err(_) => self.fail(id, "handler panicked", None).await,
        };
        match recorded {
            Ok(true) => tracing::debug!(job_id = id, %queue, "job outcome recorded"),
            Ok(false) => {
                tracing::warn!(job_id = id, %queue, %owner, "lease lost before the outcome was recorded")
            }
            Err(e) => {
                tracing::warn!(job_id = id, %queue, error = %e, "recording the job outcome failed; the reaper will take it back")
            }
        }
    }

    /// Records a failed claim; `retry_in` overrides the backoff.
    async fn fail(
        &self,
        id: i64,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<bool, super::QueueError> {
        let job = self
            .queue
            .fail_after(id, &self.config.owner, error, retry_in)
            .await?;
        if let Some(job) = &job {
            tracing::warn!(
                job_id = id, queue = %job.queue, kind = %job.kind, attempts = job.attempts,
                state = %job.state, error, "job attempt failed"
            );
        }
        Ok(job.is_some())
    }
}
