//! The durable job queue on SQL (SQLite or PostgreSQL): named queues with priorities and
//! concurrency limits, retries with backoff, dedup keys, and leases + heartbeat + reaper; typed
//! jobs (`JobKind`) are enqueued and read back without hand-built JSON.

mod backoff;
mod job;
mod job_queue;
mod owner;
pub mod reaper;
mod worker;

pub use backoff::RetryPolicy;
pub use job::{EnqueueOutcome, Job, JobKind, JobState, NewJob};
pub use job_queue::JobQueue;
pub use owner::{LeaseOwner, Liveness};
pub use worker::{Defer, HandlerError, JobHandler, Stopped, Worker, WorkerConfig};

use crate::store::StoreError;

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The store failed (database unreachable, constraint, corrupt row).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A priority outside 1 (first) ..= 9 (last).
    #[error("priority {0} is out of range 1..=9")]
    InvalidPriority(u8),
    /// `max_attempts` of 0: a job must be allowed to run at least once.
    #[error("max_attempts must be at least 1")]
    InvalidMaxAttempts,
    /// Jobs with this dedup key kept finishing and reappearing while enqueueing; try again.
    #[error("dedup key {key:?} of queue {queue:?} is contended; try again")]
    DedupContention {
        /// The queue.
        queue: String,
        /// The dedup key.
        key: String,
    },
    /// A typed job's payload could not be written as JSON, or read back in its kind's shape.
    #[error("payload of a {kind} job: {source}")]
    Payload {
        /// The job's kind.
        kind: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A job read as one kind is of another queue or kind.
    #[error("job {job} is {found}, not {expected}")]
    OtherKind {
        /// The job's id.
        job: i64,
        /// Its queue and kind, `queue/kind`.
        found: String,
        /// The queue and kind it was read as.
        expected: String,
    },
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        QueueError::Store(StoreError::Database(e))
    }
}
