//! A job: what to run (queue, kind, JSON payload), in which order (priority, run_after), how often
//! (attempts), and who runs it now (the lease). `NewJob` is what callers enqueue; a `JobKind`
//! is one typed kind of job that builds its `NewJob` and reads its payload back.

use super::QueueError;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where a job is in its life.
///
/// ```text
/// enqueue ──▶ queued ──claim──▶ running ──complete──▶ succeeded
///               ▲                  │
///               └──fail / reaper───┤  (attempts left; fail waits the backoff)
///                                  └──fail / reaper──▶ dead   (attempts exhausted)
/// running ──defer──▶ queued   (the attempt does not count)
/// queued | running ──cancel──▶ cancelled
/// ```
/// `succeeded`, `dead` and `cancelled` are final. A failed attempt that will be retried is
/// `queued` again with `last_error` set; there is no separate "failed" state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobState {
    /// Waiting for a worker (from `run_after` on).
    Queued,
    /// Claimed by a worker that holds a lease on it.
    Running,
    /// Finished: the handler succeeded.
    Succeeded,
    /// Finished: every attempt failed (or its worker was lost every time).
    Dead,
    /// Finished: cancelled before it could succeed.
    Cancelled,
}

impl JobState {
    /// Every state, in life-cycle order.
    pub const ALL: [JobState; 5] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Dead,
        JobState::Cancelled,
    ];

    /// The stored (and displayed) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job will never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Dead | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

/// A stored job.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Unique, increasing with enqueue order.
    pub id: i64,
    /// The named queue it waits in.
    pub queue: String,
    /// What the handler should do (e.g. `repair`).
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// 1 (first) ..= 9 (last).
    pub priority: u8,
    /// Where it is in its life.
    pub state: JobState,
    /// Claims so far (each claim is one attempt, whether it ended in success, failure or a lost
    /// worker).
    pub attempts: u32,
    /// Attempts allowed before the job is dead.
    pub max_attempts: u32,
    /// Not claimed before this time.
    pub run_after: DateTime<Utc>,
    /// The worker that holds the lease while running (afterwards: the last one that did).
    pub lease_owner: Option<String>,
    /// While running: when the lease ends unless renewed by a heartbeat.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// At most one unfinished job per queue has this key.
    pub dedup_key: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
}

/// The columns `Job::from_row` reads, for `SELECT` and `RETURNING` lists.
pub(crate) const JOB_COLUMNS: &str = "id, queue, kind, payload, priority, state, attempts, \
    max_attempts, run_after, lease_owner, lease_expires_at, dedup_key, last_error, created_at, \
    updated_at, finished_at";

impl Job {
    /// The jobs of `rows`, in their order.
    pub(crate) fn from_rows(rows: &[AnyRow]) -> Result<Vec<Job>, StoreError> {
        rows.iter().map(Job::from_row).collect()
    }

    /// The job of one row of the jobs table.
    pub(crate) fn from_row(row: &AnyRow) -> Result<Job, StoreError> {
        let payload: String = row.try_get("payload")?;
        let state: String = row.try_get("state")?;
        Ok(Job {
            id: row.try_get("id")?,
            queue: row.try_get("queue")?,
            kind: row.try_get("kind")?,
            payload: serde_json::from_str(&payload).map_err(StoreError::json("job payload"))?,
            priority: narrow(row.try_get("priority")?, "priority")?,
            state: state.parse().map_err(StoreError::Corrupt)?,
            attempts: narrow(row.try_get("attempts")?, "attempts")?,
            max_attempts: narrow(row.try_get("max_attempts")?, "max_attempts")?,
            run_after: time(row.try_get("run_after")?)?,
            lease_owner: row.try_get("lease_owner")?,
            lease_expires_at: row
                .try_get::<Option<i64>, _>("lease_expires_at")?
                .map(time)
                .transpose()?,
            dedup_key: row.try_get("dedup_key")?,
            last_error: row.try_get("last_error")?,
            created_at: time(row.try_get("created_at")?)?,
            updated_at: time(row.try_get("updated_at")?)?,
            finished_at: row
                .try_get::<Option<i64>, _>("finished_at")?
                .map(time)
                .transpose()?,
        })
    }
}

impl Job {
    /// The payload of this job read as kind `J`; an error when the job is of another queue or
    /// kind, or its payload does not have `J`'s shape.
    pub fn decode<J: JobKind>(&self) -> Result<J::Payload, QueueError> {
        if self.queue != J::QUEUE || self.kind != J::KIND {
            return Err(QueueError::OtherKind {
                job: self.id,
                found: format!("{}/{}", self.queue, self.kind),
                expected: format!("{}/{}", J::QUEUE, J::KIND),
            });
        }
        serde_json::from_value(self.payload.clone()).map_err(|source| QueueError::Payload {
            kind: J::KIND,
            source,
        })
    }
}

fn narrow<T: TryFrom<i64>>(value: i64, column: &str) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("job {column} {value} out of range")))
}

fn time(millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| StoreError::Corrupt(format!("job time {millis} out of range")))
}

/// A job to enqueue. Built with `NewJob::new` and the builder methods; defaults: priority 5,
/// 3 attempts, no dedup key, due now.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// The named queue.
    pub queue: String,
    /// What the handler should do.
    pub kind: String,
    /// The handler's input.
    pub payload: serde_json::Value,
    /// 1 (first) ..= 9 (last).
    pub priority: u8,
    /// Attempts before the job is dead (at least 1).
    pub max_attempts: u32,
    /// When set, enqueueing while an unfinished job of the same queue has this key returns
    /// that job instead of adding one.
    pub dedup_key: Option<String>,
    /// Not claimed before this time; `None` means now.
    pub run_after: Option<DateTime<Utc>>,
}

/// The default priority, in the middle of 1..=9.
const DEFAULT_PRIORITY: u8 = 5;
/// The default number of attempts.
const DEFAULT_MAX_ATTEMPTS: u32 = 3;

impl NewJob {
    /// A job of `kind` with `payload` on `queue`, with the defaults.
    pub fn new(
        queue: impl Into<String>,
        kind: impl Into<String>,
        payload: serde_json::Value,
    ) -> Self {
        NewJob {
            queue: queue.into(),
            kind: kind.into(),
            payload,
            priority: DEFAULT_PRIORITY,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            dedup_key: None,
            run_after: None,
        }
    }

    /// Sets the priority, 1 (first) ..= 9 (last).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Sets how many attempts the job gets.
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets the dedup key.
    pub fn dedup_key(mut self, key: impl Into<String>) -> Self {
        self.dedup_key = Some(key.into());
        self
    }

    /// Makes the job due only after `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        self.run_after = Some(
            Utc::now()
                .checked_add_signed(delay)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        );
        self
    }

    pub(crate) fn validate(&self) -> Result<(), QueueError> {
        if !(1..=9).contains(&self.priority) {
            return Err(QueueError::InvalidPriority(self.priority));
        }
        if self.max_attempts == 0 {
            return Err(QueueError::InvalidMaxAttempts);
        }
        Ok(())
    }
}

/// One typed kind of job: where it waits, what it is called, how urgent it is, what makes two
/// of them the same, and its payload (stored as JSON). Enqueued with `JobQueue::enqueue_kind`,
/// read back with `Job::decode`.
pub trait JobKind {
    /// What the handler reads from a job of this kind (its stored JSON payload).
    type Payload: Serialize + DeserializeOwned;
    /// The named queue jobs of this kind wait in.
    const QUEUE: &'static str;
    /// The stored `kind` of these jobs.
    const KIND: &'static str;
    /// Attempts before a job of this kind is dead (at least 1).
    const MAX_ATTEMPTS: u32 = DEFAULT_MAX_ATTEMPTS;

    /// This job's payload.
    fn payload(&self) -> &Self::Payload;

    /// This job's priority, 1 (first) ..= 9 (last).
    fn priority(&self) -> u8 {
        DEFAULT_PRIORITY
    }

    /// While an unfinished job of the queue has this key, enqueueing this one returns that job.
    fn dedup_key(&self) -> Option<String> {
        None
    }

    /// The job to enqueue (due now); an error when the payload cannot be written as JSON.
    fn new_job(&self) -> Result<NewJob, QueueError> {
        let payload =
            serde_json::to_value(self.payload()).map_err(|source| QueueError::Payload {
                kind: Self::KIND,
                source,
            })?;
        let job = NewJob::new(Self::QUEUE, Self::KIND, payload)
            .priority(self.priority())
            .max_attempts(Self::MAX_ATTEMPTS);
        Ok(match self.dedup_key() {
            Some(key) => job.dedup_key(key),
            None => job,
        })
    }
}

/// What `enqueue` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// A new job with this id.
    Created(i64),
    /// An unfinished job with the same dedup key already exists; this is its id.
    Duplicate(i64),
}

impl EnqueueOutcome {
    /// The id of the job, new or existing.
    pub fn id(self) -> i64 {
        match self {
            EnqueueOutcome::Created(id) | EnqueueOutcome::Duplicate(id) => id,
        }
    }
}
