//! `JobQueue`: the queue's operations over the `Store`. Every state change is one guarded
//! statement (`WHERE state = .. AND lease_owner = ..`) inside a write transaction, so two workers
//! can never both claim, complete or fail one job.

use super::QueueError;
use super::backoff::RetryPolicy;
use super::job::{EnqueueOutcome, JOB_COLUMNS, Job, JobKind, JobState, NewJob};
use crate::store::{Backend, Store};
use chrono::{DateTime, Utc};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;

/// Key space of the PostgreSQL advisory locks that serialise claims per queue (`max_concurrent`
/// is a count over rows, which row locks alone cannot protect).
const CLAIM_LOCK_CLASS: i32 = 0x486f_6d51; // "HomQ"

/// How often `enqueue` retries when a duplicate finished between the insert and the look-up.
const DEDUP_RETRIES: usize = 5;

/// The durable job queue; cheap to clone.
#[derive(Clone, Debug)]
pub struct JobQueue {
    store: Store,
    retry: RetryPolicy,
}

impl JobQueue {
    /// A queue over `store` (whose migrations created the `jobs` table), with the default
    /// `RetryPolicy`.
    pub fn new(store: Store) -> JobQueue {
        JobQueue {
            store,
            retry: RetryPolicy::default(),
        }
    }

    /// Uses `retry` for the backoff of failed jobs.
    pub fn with_retry(mut self, retry: RetryPolicy) -> JobQueue {
        self.retry = retry;
        self
    }

    /// Adds `job`, or returns the unfinished job of the same queue with the same dedup key.
    pub async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, QueueError> {
        job.validate()?;
        let mut tx = self.store.begin_write().await?;
        let outcome = insert(&mut tx, &job, now_ms()).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Adds the typed `job` (see `JobKind::new_job`), or returns the unfinished job of its queue
    /// with its dedup key.
    pub async fn enqueue_kind<J: JobKind>(&self, job: &J) -> Result<EnqueueOutcome, QueueError> {
        self.enqueue(job.new_job()?).await
    }

    /// Adds `jobs` in one transaction (all or none); outcomes in the same order. Duplicates
    /// within `jobs` resolve to the first of them.
    pub async fn enqueue_many(&self, jobs: &[NewJob]) -> Result<Vec<EnqueueOutcome>, QueueError> {
        for job in jobs {
            job.validate()?;
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(insert(&mut tx, job, now).await?);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    /// Claims the next due job of `queue` for `owner` (highest priority first, then oldest), with
    /// a lease of `lease`; `None` when no job is due or `max_concurrent` jobs of the queue are
    /// already running under a live lease.
    pub async fn claim(
        &self,
        queue: &str,
        owner: &str,
        lease: Duration,
        max_concurrent: u32,
    ) -> Result<Option<Job>, QueueError> {
        Ok(self
            .claim_batch(queue, owner, lease, max_concurrent, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Like `claim`, for up to `limit` jobs at once (fewer when fewer are due or the queue's
    /// `max_concurrent` leaves less room); in claim order.
    pub async fn claim_batch(
        &self,
        queue: &str,
        owner: &str,
        lease: Duration,
        max_concurrent: u32,
        limit: usize,
    ) -> Result<Vec<Job>, QueueError> {
        if limit == 0 || max_concurrent == 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        if self.store.backend() == Backend::Postgres {
            // Held until commit: claims of one queue take turns, so the count below stays true.
            sqlx::query(&format!(
                "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock({CLAIM_LOCK_CLASS}, hashtext($1))) AS l"
            ))
            .bind(queue.to_string())
            .fetch_one(&mut *tx)
            .await?;
        }
        let running: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE queue = $1 AND state = 'running' AND lease_expires_at > $2",
        )
        .bind(queue.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        let room = i64::from(max_concurrent).saturating_sub(running);
        let limit = room.min(i64::try_from(limit).unwrap_or(i64::MAX));
        if limit <= 0 {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        // The candidates are picked once, in a CTE: PostgreSQL may re-run an `IN (subquery)`
        // with LIMIT and SKIP LOCKED per outer row, which would claim more than `limit` jobs.
        let sql = format!(
            "WITH next AS (SELECT id FROM jobs WHERE queue = $4 AND state = 'queued' \
             AND run_after <= $3 ORDER BY priority, id LIMIT $5{lock}) \
             UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = $1, \
             lease_expires_at = $2, updated_at = $3 \
             WHERE state = 'queued' AND id IN (SELECT id FROM next) RETURNING {JOB_COLUMNS}",
            // PostgreSQL: skip rows another transaction holds (e.g. a cancel) instead of waiting.
            // SQLite: `BEGIN IMMEDIATE` already made this transaction the only writer.
            lock = match self.store.backend() {
                Backend::Postgres => " FOR UPDATE SKIP LOCKED",
                Backend::Sqlite => "",
            }
        );
        let rows = sqlx::query(&sql)
            .bind(owner.to_string())
            .bind(now.saturating_add(millis(lease)))
            .bind(now)
            .bind(queue.to_string())
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut jobs = Job::from_rows(&rows)?;
        tx.commit().await?;
        jobs.sort_by_key(|job| (job.priority, job.id));
        Ok(jobs)
    }

    /// Extends `owner`'s lease on running job `id` to `lease` from now; `false` when the lease
    /// was lost (the job was reaped, cancelled, or belongs to another worker): stop working on it.
    pub async fn heartbeat(
        &self,
        id: i64,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, QueueError> {
        let now = now_ms();
        let update = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND lease_owner = $4",
        )
        .bind(now.saturating_add(millis(lease)))
        .bind(now)
        .bind(id)
        .bind(owner.to_string());
        let changed = self.store.write_one(update).await?;
        Ok(changed == 1)
    }

    /// Marks running job `id` succeeded; `false` (and nothing changes) when `owner` no longer
    /// holds it.
    pub async fn complete(&self, id: i64, owner: &str) -> Result<bool, QueueError> {
        let now = now_ms();
        let update = sqlx::query(
            "UPDATE jobs SET state = 'succeeded', lease_expires_at = NULL, finished_at = $1, updated_at = $1 \
             WHERE id = $2 AND state = 'running' AND lease_owner = $3",
        )
        .bind(now)
        .bind(id)
        .bind(owner.to_string());
        let changed = self.store.write_one(update).await?;
        Ok(changed == 1)
    }

    /// Records a failed attempt of running job `id`: queued again after the backoff while attempts
    /// are left, else dead. Returns the job as it is now, or `None` (nothing changed) when `owner`
    /// no longer holds it.
    pub async fn fail(&self, id: i64, owner: &str, error: &str) -> Result<Option<Job>, QueueError> {
        self.fail_after(id, owner, error, None).await
    }

    /// [`fail`](Self::fail), due again after `retry_in` instead of the backoff when given.
    pub async fn fail_after(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        retry_in: Option<Duration>,
    ) -> Result<Option<Job>, QueueError> {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        // Attempts cannot change while `owner` holds the job; the UPDATE re-checks that it does.
        let Some(row) = sqlx::query(
            "SELECT attempts, max_attempts FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner.to_string())
        .fetch_optional(&mut *tx)
        .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        let attempts: i64 = row.try_get("attempts")?;
        let max_attempts: i64 = row.try_get("max_attempts")?;
        let (state, run_after, finished_at) = if attempts >= max_attempts {
            (JobState::Dead, now, Some(now))
        } else {
            let delay = retry_in.unwrap_or_else(|| {
                self.retry
                    .delay(u32::try_from(attempts).unwrap_or(u32::MAX))
            });
            (JobState::Queued, now.saturating_add(millis(delay)), None)
        };
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = $1, run_after = $2, finished_at = $3, last_error = $4, \
             lease_expires_at = NULL, updated_at = $5 \
             WHERE id = $6 AND state = 'running' AND lease_owner = $7 RETURNING {JOB_COLUMNS}"
        ))
        .bind(state.as_str())
        .bind(run_after)
        .bind(finished_at)
        .bind(error.to_string())
        .bind(now)
        .bind(id)
        .bind(owner.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let job = row.as_ref().map(Job::from_row).transpose()?;
        tx.commit().await?;
        Ok(job)
    }

    /// Puts running job `id` back in the queue, due after `delay`, without using up an attempt
    /// (the handler is waiting for something, e.g. a human decision, and gives its slot back
    /// meanwhile); `false` (and nothing changes) when `owner` no longer holds it.
    pub async fn defer(&self, id: i64, owner: &str, delay: Duration) -> Result<bool, QueueError> {
        let now = now_ms();
        let update = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             run_after = $1, lease_expires_at = NULL, updated_at = $2 \
             WHERE id = $3 AND state = 'running' AND lease_owner = $4",
        )
        .bind(now.saturating_add(millis(delay)))
        .bind(now)
        .bind(id)
        .bind(owner.to_string());
        let changed = self.store.write_one(update).await?;
        Ok(changed == 1)
    }

    /// Cancels job `id` if it is queued or running (a running job's worker learns it at its next
    /// heartbeat); `false` when it had already finished or does not exist.
    pub async fn cancel(&self, id: i64) -> Result<bool, QueueError> {
        let now = now_ms();
        let update = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, finished_at = $1, updated_at = $1 \
             WHERE id = $2 AND state IN ('queued', 'running')",
        )
        .bind(now)
        .bind(id);
        let changed = self.store.write_one(update).await?;
        Ok(changed == 1)
    }

    /// Takes back every running job whose lease expired before `now` (its worker crashed, hung
    /// or lost the database): queued again and due at once (the expired lease was the wait; its
    /// `run_after` is unchanged), or dead
    /// when its attempts are used up. Returns those jobs as they are now; the caller decides what
    /// else an interrupted job needs (e.g. a repair re-checks its target first).
    pub async fn reap(&self, now: DateTime<Utc>) -> Result<Vec<Job>, QueueError> {
        let now = now.timestamp_millis();
        let mut tx = self.store.begin_write().await?;
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET \
             state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
             finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
             last_error = 'lease of ' || COALESCE(lease_owner, '?') || ' expired', \
             lease_expires_at = NULL, updated_at = $1 \
             WHERE state = 'running' AND lease_expires_at <= $1 RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut jobs = Job::from_rows(&rows)?;
        tx.commit().await?;
        jobs.sort_by_key(|job| job.id);
        Ok(jobs)
    }

    /// Takes running job `id` back from `owner`, a worker known to be gone (e.g. the previous
    /// life of a restarted daemon), without waiting for its lease to expire: queued again and
    /// due at once, or dead when its attempts are used up. `before` runs while the job is still
    /// held (no one can claim or reap it meanwhile), so whatever the gone worker left running
    /// can be stopped before anyone else may take the job; it must not write to the store.
    /// Returns the job as it is now, or `None` (nothing changed) when `owner` no longer holds it.
    pub async fn take_back<F, Fut>(
        &self,
        id: i64,
        owner: &str,
        before: F,
    ) -> Result<Option<Job>, QueueError>
    where
        F: FnOnce(Job) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        // PostgreSQL: the row lock keeps reapers and claims of other instances off the job.
        // SQLite: `BEGIN IMMEDIATE` already made this transaction the only writer.
        let lock = match self.store.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND state = 'running' AND lease_owner = $2{lock}"
        ))
        .bind(id)
        .bind(owner.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(job) = row.as_ref().map(Job::from_row).transpose()? else {
            tx.rollback().await?;
            return Ok(None);
        };
        before(job).await;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET \
             state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
             finished_at = CASE WHEN attempts >= max_attempts THEN $1 ELSE NULL END, \
             last_error = 'lease owner ' || COALESCE(lease_owner, '?') || ' is gone', \
             lease_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND state = 'running' AND lease_owner = $3 RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .bind(id)
        .bind(owner.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let job = row.as_ref().map(Job::from_row).transpose()?;
        tx.commit().await?;
        Ok(job)
    }

    /// The running jobs of `queue` (with their lease owners), oldest first.
    pub async fn running(&self, queue: &str) -> Result<Vec<Job>, QueueError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE queue = $1 AND state = 'running' ORDER BY id"
        ))
        .bind(queue.to_string())
        .fetch_all(self.store.pool())
        .await?;
        Ok(Job::from_rows(&rows)?)
    }

    /// Job `id`, if it exists.
    pub async fn get(&self, id: i64) -> Result<Option<Job>, QueueError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.as_ref().map(Job::from_row).transpose()?)
    }

    /// The newest `limit` jobs, of every state or only of `state`; newest first.
    pub async fn list(&self, state: Option<JobState>, limit: u32) -> Result<Vec<Job>, QueueError> {
        let rows = match state {
            Some(state) => {
                sqlx::query(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2"
                ))
                .bind(state.as_str())
                .bind(i64::from(limit))
                .fetch_all(self.store.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
                ))
                .bind(i64::from(limit))
                .fetch_all(self.store.pool())
                .await?
            }
        };
        Ok(Job::from_rows(&rows)?)
    }

    /// Jobs by state (every state present, 0 when none), of one queue or of all.
    pub async fn counts(&self, queue: Option<&str>) -> Result<BTreeMap<JobState, u64>, QueueError> {
        let rows = match queue {
            Some(queue) => {
                sqlx::query("SELECT state, COUNT(*) AS n FROM jobs WHERE queue = $1 GROUP BY state")
                    .bind(queue.to_string())
                    .fetch_all(self.store.pool())
                    .await?
            }
            None => {
                sqlx::query("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
                    .fetch_all(self.store.pool())
                    .await?
            }
        };
        let mut counts: BTreeMap<JobState, u64> =
            JobState::ALL.into_iter().map(|state| (state, 0)).collect();
        for row in rows {
            let state: String = row.try_get("state")?;
            let state: JobState = state.parse().map_err(crate::store::StoreError::Corrupt)?;
            let n: i64 = row.try_get("n")?;
            counts.insert(state, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }
}

/// Inserts `job` unless an unfinished job of its queue has its dedup key.
async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    job: &NewJob,
    now: i64,
) -> Result<EnqueueOutcome, QueueError> {
    let payload = job.payload.to_string();
    let run_after = job.run_after.map_or(now, |t| t.timestamp_millis());
    for _ in 0..DEDUP_RETRIES {
        let inserted = sqlx::query(
            "INSERT INTO jobs (queue, kind, payload, priority, state, attempts, max_attempts, \
             run_after, dedup_key, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8, $8) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(job.queue.clone())
        .bind(job.kind.clone())
        .bind(payload.clone())
        .bind(i64::from(job.priority))
        .bind(i64::from(job.max_attempts))
        .bind(run_after)
        .bind(job.dedup_key.clone())
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = inserted {
            return Ok(EnqueueOutcome::Created(row.try_get("id")?));
        }
        let existing = sqlx::query(
            "SELECT id FROM jobs WHERE queue = $1 AND dedup_key = $2 AND state IN ('queued', 'running')",
        )
        .bind(job.queue.clone())
        .bind(job.dedup_key.clone())
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(row) = existing {
            return Ok(EnqueueOutcome::Duplicate(row.try_get("id")?));
        }
        // The duplicate finished in between (PostgreSQL, another transaction): insert again.
    }
    Err(QueueError::DedupContention {
        queue: job.queue.clone(),
        key: job.dedup_key.clone().unwrap_or_default(),
    })
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
