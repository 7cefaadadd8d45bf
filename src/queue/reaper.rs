//! The reaper: a periodic task that takes back running jobs whose lease expired (their worker or
//! the whole daemon died) and hands them to the caller, who decides what an interruption means.

use super::job::Job;
use super::job_queue::JobQueue;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Reaps now and then every `interval` until `shutdown`, passing each non-empty batch of reaped
/// jobs (requeued or dead, see `JobQueue::reap`) to `on_reaped`. Store errors are logged and
/// retried at the next tick.
pub async fn run<F>(
    queue: JobQueue,
    interval: Duration,
    shutdown: CancellationToken,
    mut on_reaped: F,
) where
    F: FnMut(Vec<Job>) + Send,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match queue.reap(chrono::Utc::now()).await {
            Ok(jobs) if jobs.is_empty() => {}
            Ok(jobs) => {
                for job in &jobs {
                    tracing::warn!(
                        job_id = job.id, queue = %job.queue, kind = %job.kind,
                        attempts = job.attempts, state = %job.state,
                        "lease expired; job taken back from its worker"
                    );
                }
                on_reaped(jobs);
            }
            Err(e) => tracing::warn!(error = %e, "reaping expired leases failed; will retry"),
        }
    }
}
