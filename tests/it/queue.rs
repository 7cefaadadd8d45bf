//! One job-queue suite, run against SQLite (a temp file) and the real local PostgreSQL (a fresh
//! database per test): ordering, concurrency limits, dedup, retries, leases, cancel, workers and a
//! daemon killed mid-run.

use crate::common;

use chrono::{Duration as ChronoDuration, Utc};
use homeostat::queue::{
    Defer, EnqueueOutcome, HandlerError, Job, JobQueue, JobState, NewJob, QueueError, RetryPolicy,
    Stopped, Worker, WorkerConfig, reaper,
};
use homeostat::store::Store;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(60);
const DEADLINE: Duration = Duration::from_secs(30);

/// A fresh database and the URL to reconnect to it (a "restarted daemon").
struct Db {
    store: Store,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("queue.db").display());
    Db {
        store: Store::connect(&url).await.expect("connect sqlite"),
        url,
        _dir: Some(dir),
    }
}

async fn postgres() -> Db {
    let url = common::fresh_postgres().await;
    Db {
        store: Store::connect(&url).await.expect("connect postgres"),
        url,
        _dir: None,
    }
}

/// Runs each scenario once on SQLite and once on PostgreSQL.
macro_rules! on_both_engines {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::postgres().await).await;
                }
            )*
        }
    };
}

on_both_engines!(
    higher_priority_first_then_oldest_first,
    claim_returns_nothing_while_max_concurrent_jobs_hold_live_leases,
    dedup_key_returns_the_unfinished_job,
    failed_job_waits_its_backoff_and_dies_after_max_attempts,
    expired_lease_is_reaped_back_to_queued_then_dead,
    heartbeat_keeps_the_lease_and_a_lost_lease_refuses_the_outcome,
    cancel_stops_queued_and_running_jobs,
    jobs_are_listed_and_counted_by_state,
    concurrent_workers_run_every_job_once_within_max_concurrent,
    jobs_of_a_killed_daemon_finish_after_restart_exactly_once,
    worker_records_a_panicking_handler_and_stops_running_handlers_at_shutdown,
    a_deferred_job_gives_its_slot_back_without_using_an_attempt,
    a_job_stopped_by_shutdown_is_due_again_at_once_and_its_claim_counts,
    a_worker_whose_heartbeats_fail_stops_its_handler_before_the_lease_runs_out,
);

fn job(queue: &str, n: u32) -> NewJob {
    NewJob::new(queue, "test", json!({ "n": n, "text": "ünïcode 'quoted'" }))
}

fn n_of(job: &Job) -> u64 {
    job.payload["n"].as_u64().expect("payload n")
}

async fn claim(queue: &JobQueue, owner: &str, max_concurrent: u32) -> Option<Job> {
    queue
        .claim("q", owner, LONG, max_concurrent)
        .await
        .expect("claim")
}

async fn higher_priority_first_then_oldest_first(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    for (n, priority) in [(0, 5), (1, 1), (2, 9), (3, 1), (4, 5), (5, 3)] {
        let outcome = queue
            .enqueue(job("q", n).priority(priority))
            .await
            .expect("enqueue");
        assert!(matches!(outcome, EnqueueOutcome::Created(_)));
    }
    queue
        .enqueue(job("other", 99).priority(1))
        .await
        .expect("enqueue other queue");
    queue
        .enqueue(job("q", 100).priority(1).delay(Duration::from_secs(3600)))
        .await
        .expect("enqueue later");

    let mut order = Vec::new();
    while let Some(job) = claim(&queue, "w", 100).await {
        assert_eq!(job.state, JobState::Running);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.lease_owner.as_deref(), Some("w"));
        assert_eq!(job.payload["text"], "ünïcode 'quoted'");
        order.push(n_of(&job));
    }
    assert_eq!(
        order,
        [1, 3, 5, 0, 4, 2],
        "priority, then FIFO; not the other queue, not the delayed job"
    );

    let batch = queue
        .claim_batch("other", "w", LONG, 100, 10)
        .await
        .expect("claim batch");
    assert_eq!(batch.iter().map(n_of).collect::<Vec<_>>(), [99]);

    assert!(matches!(
        queue.enqueue(job("q", 0).priority(0)).await,
        Err(QueueError::InvalidPriority(0))
    ));
    assert!(matches!(
        queue.enqueue(job("q", 0).priority(10)).await,
        Err(QueueError::InvalidPriority(10))
    ));
    assert!(matches!(
        queue.enqueue(job("q", 0).max_attempts(0)).await,
        Err(QueueError::InvalidMaxAttempts)
    ));
}

async fn claim_returns_nothing_while_max_concurrent_jobs_hold_live_leases(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    for n in 0..5 {
        queue.enqueue(job("q", n)).await.expect("enqueue");
    }
    queue.enqueue(job("other", 9)).await.expect("enqueue");
    let first = claim(&queue, "a", 2).await.expect("first");
    let second = claim(&queue, "b", 2).await.expect("second");
    assert!(claim(&queue, "c", 2).await.is_none(), "queue is full");
    assert!(
        queue
            .claim_batch("q", "c", LONG, 2, 5)
            .await
            .expect("batch")
            .is_empty()
    );
    assert!(
        queue
            .claim("other", "c", LONG, 2)
            .await
            .expect("claim")
            .is_some(),
        "the limit is per queue"
    );
    assert!(
        claim(&queue, "c", 3).await.is_some(),
        "a higher limit has room"
    );

    assert!(queue.complete(first.id, "a").await.expect("complete"));
    assert!(
        claim(&queue, "c", 3).await.is_some(),
        "a finished job frees its slot"
    );
    assert!(claim(&queue, "c", 3).await.is_none());
    assert!(queue.complete(second.id, "b").await.expect("complete"));
    let batch = queue
        .claim_batch("q", "d", LONG, 5, 10)
        .await
        .expect("batch");
    assert_eq!(batch.len(), 1, "only one job left");

    // Running jobs whose lease expired (a dead worker) do not hold a slot. (The lease outlasts
    // the next claim however slow the store is.)
    let short = JobQueue::new(db.store.clone());
    short.enqueue(job("short", 0)).await.expect("enqueue");
    short.enqueue(job("short", 1)).await.expect("enqueue");
    let _held = short
        .claim("short", "x", Duration::from_secs(3), 1)
        .await
        .expect("claim")
        .expect("a job");
    assert!(
        short
            .claim("short", "y", LONG, 1)
            .await
            .expect("claim")
            .is_none()
    );
    common::eventually(DEADLINE, "the expired lease frees the slot", || {
        let q = short.clone();
        async move { q.claim("short", "y", LONG, 1).await.expect("claim") }
    })
    .await;
}

async fn dedup_key_returns_the_unfinished_job(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let first = queue
        .enqueue(job("q", 0).dedup_key("incident-7/restart-api"))
        .await
        .expect("enqueue");
    let EnqueueOutcome::Created(id) = first else {
        panic!("first enqueue creates: {first:?}");
    };
    assert_eq!(
        queue
            .enqueue(job("q", 1).dedup_key("incident-7/restart-api"))
            .await
            .expect("enqueue"),
        EnqueueOutcome::Duplicate(id)
    );
    assert!(
        matches!(
            queue
                .enqueue(job("other", 2).dedup_key("incident-7/restart-api"))
                .await
                .expect("enqueue"),
            EnqueueOutcome::Created(_)
        ),
        "keys are per queue"
    );
    assert!(
        matches!(
            queue.enqueue(job("q", 3)).await.expect("enqueue"),
            EnqueueOutcome::Created(_)
        ),
        "jobs without a key never collide"
    );

    let running = claim(&queue, "w", 10).await.expect("claim");
    assert_eq!(running.id, id);
    assert_eq!(n_of(&running), 0, "the duplicate did not change the job");
    assert_eq!(
        queue
            .enqueue(job("q", 4).dedup_key("incident-7/restart-api"))
            .await
            .expect("enqueue"),
        EnqueueOutcome::Duplicate(id),
        "a running job still deduplicates"
    );
    assert!(queue.complete(id, "w").await.expect("complete"));
    let again = queue
        .enqueue(job("q", 5).dedup_key("incident-7/restart-api"))
        .await
        .expect("enqueue");
    assert!(
        matches!(again, EnqueueOutcome::Created(new) if new != id),
        "a finished job no longer deduplicates: {again:?}"
    );

    let many = queue
        .enqueue_many(&[
            job("q", 6).dedup_key("k"),
            job("q", 7).dedup_key("k"),
            job("q", 8),
            job("q", 9).dedup_key("incident-7/restart-api"),
        ])
        .await
        .expect("enqueue many");
    assert!(matches!(many[0], EnqueueOutcome::Created(_)));
    assert_eq!(many[1], EnqueueOutcome::Duplicate(many[0].id()));
    assert!(matches!(many[2], EnqueueOutcome::Created(_)));
    assert_eq!(many[3], EnqueueOutcome::Duplicate(again.id()));

    // A batch with an invalid job adds nothing.
    let before = queue.counts(None).await.expect("counts");
    assert!(
        queue
            .enqueue_many(&[job("q", 10), job("q", 11).priority(0)])
            .await
            .is_err()
    );
    assert_eq!(queue.counts(None).await.expect("counts"), before);
}

async fn failed_job_waits_its_backoff_and_dies_after_max_attempts(db: Db) {
    // A backoff long enough that the claim right after a failure comes before it ends, however
    // slow the store is.
    let queue = JobQueue::new(db.store.clone()).with_retry(RetryPolicy {
        base: Duration::from_secs(2),
        cap: Duration::from_secs(10),
        jitter: 0.0,
    });
    let id = queue
        .enqueue(job("q", 0).max_attempts(3))
        .await
        .expect("enqueue")
        .id();

    let mut delays = Vec::new();
    for attempt in 1..=3u32 {
        let claimed = common::eventually(DEADLINE, "the job is due again", || async {
            claim(&queue, "w", 10).await
        })
        .await;
        assert_eq!(claimed.id, id);
        assert_eq!(claimed.attempts, attempt);
        if let Some(previous) = queue
            .list(Some(JobState::Succeeded), 1)
            .await
            .expect("list")
            .first()
        {
            panic!("nothing succeeded yet: {previous:?}");
        }
        assert!(
            queue
                .fail(id, "intruder", "not mine")
                .await
                .expect("fail")
                .is_none(),
            "only the owner records an outcome"
        );
        let failed = queue
            .fail(id, "w", &format!("boom {attempt}"))
            .await
            .expect("fail")
            .expect("owner fails the job");
        assert_eq!(failed.attempts, attempt);
        assert_eq!(
            failed.last_error.as_deref(),
            Some(format!("boom {attempt}").as_str())
        );
        if attempt < 3 {
            assert_eq!(failed.state, JobState::Queued);
            assert!(failed.finished_at.is_none());
            delays.push((failed.run_after - failed.updated_at).num_milliseconds());
            assert!(
                claim(&queue, "w", 10).await.is_none(),
                "not claimable before run_after"
            );
        } else {
            assert_eq!(failed.state, JobState::Dead);
            assert!(failed.finished_at.is_some());
        }
    }
    assert_eq!(delays, [2000, 4000], "exponential backoff from base");
    assert!(
        claim(&queue, "w", 10).await.is_none(),
        "dead jobs are not claimed"
    );
    let dead = queue.get(id).await.expect("get").expect("exists");
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(dead.attempts, 3);
}

async fn expired_lease_is_reaped_back_to_queued_then_dead(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let id = queue
        .enqueue(job("q", 0).max_attempts(2))
        .await
        .expect("enqueue")
        .id();
    queue.enqueue(job("q", 1)).await.expect("enqueue");
    let claimed = queue
        .claim("q", "w1", Duration::from_secs(10), 10)
        .await
        .expect("claim")
        .expect("job");
    assert_eq!(claimed.id, id);
    assert!(
        queue.reap(Utc::now()).await.expect("reap").is_empty(),
        "lease still live"
    );

    let later = Utc::now() + ChronoDuration::seconds(11);
    let reaped = queue.reap(later).await.expect("reap");
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].id, id);
    assert_eq!(reaped[0].state, JobState::Queued);
    assert_eq!(reaped[0].attempts, 1, "the interrupted attempt counts");
    assert!(reaped[0].lease_expires_at.is_none());
    assert!(
        reaped[0].last_error.as_deref().unwrap_or("").contains("w1"),
        "{:?}",
        reaped[0].last_error
    );
    assert!(
        !queue.complete(id, "w1").await.expect("complete"),
        "the lease is gone"
    );
    assert!(!queue.heartbeat(id, "w1", LONG).await.expect("heartbeat"));
    assert!(queue.fail(id, "w1", "late").await.expect("fail").is_none());

    let again = claim(&queue, "w2", 10)
        .await
        .expect("requeued job is due at once");
    assert_eq!((again.id, again.attempts), (id, 2));
    let reaped = queue
        .reap(Utc::now() + ChronoDuration::seconds(120))
        .await
        .expect("reap");
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].state, JobState::Dead, "attempts exhausted");
    assert!(reaped[0].finished_at.is_some());
    assert!(
        queue
            .reap(Utc::now() + ChronoDuration::days(1))
            .await
            .expect("reap")
            .is_empty()
    );
    let other = claim(&queue, "w2", 10).await.expect("the other job");
    assert_eq!(n_of(&other), 1);
}

async fn heartbeat_keeps_the_lease_and_a_lost_lease_refuses_the_outcome(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let id = queue.enqueue(job("q", 0)).await.expect("enqueue").id();
    // Heartbeats come every quarter lease: a slow store or machine may delay one by most of a
    // lease before it is lost.
    let lease = Duration::from_secs(3);
    let claimed = queue
        .claim("q", "w", lease, 10)
        .await
        .expect("claim")
        .expect("job");
    let mut expires = claimed.lease_expires_at.expect("lease");

    // Heartbeats for two leases' time: never reaped, the lease moves forward.
    let until = tokio::time::Instant::now() + lease * 2;
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(lease / 4).await;
        assert!(queue.heartbeat(id, "w", lease).await.expect("heartbeat"));
        assert!(queue.reap(Utc::now()).await.expect("reap").is_empty());
        let now = queue.get(id).await.expect("get").expect("job");
        let renewed = now.lease_expires_at.expect("lease");
        assert!(renewed >= expires);
        expires = renewed;
    }
    assert!(
        !queue
            .heartbeat(id, "other", lease)
            .await
            .expect("heartbeat"),
        "not the owner"
    );
    assert_eq!(
        queue.get(id).await.expect("get").expect("job").state,
        JobState::Running
    );

    // Without heartbeats the lease expires and the reaper takes the job.
    let reaped = common::eventually(DEADLINE, "the lease expires", || async {
        let reaped = queue.reap(Utc::now()).await.expect("reap");
        (!reaped.is_empty()).then_some(reaped)
    })
    .await;
    assert_eq!(reaped[0].id, id);
    assert!(
        !queue.heartbeat(id, "w", lease).await.expect("heartbeat"),
        "lease lost"
    );
    assert!(
        !queue.complete(id, "w").await.expect("complete"),
        "a lost lease refuses complete"
    );
    assert_eq!(
        queue.get(id).await.expect("get").expect("job").state,
        JobState::Queued
    );
}

async fn cancel_stops_queued_and_running_jobs(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let queued = queue
        .enqueue(job("q", 0).priority(9))
        .await
        .expect("enqueue")
        .id();
    let running = queue
        .enqueue(job("q", 1).priority(1))
        .await
        .expect("enqueue")
        .id();
    assert_eq!(claim(&queue, "w", 10).await.expect("claim").id, running);

    assert!(queue.cancel(queued).await.expect("cancel"));
    assert!(
        claim(&queue, "w", 10).await.is_none(),
        "a cancelled job is not claimed"
    );
    assert!(queue.cancel(running).await.expect("cancel"));
    assert!(
        !queue
            .heartbeat(running, "w", LONG)
            .await
            .expect("heartbeat")
    );
    assert!(!queue.complete(running, "w").await.expect("complete"));
    assert!(
        !queue.cancel(running).await.expect("cancel"),
        "already final"
    );
    assert!(!queue.cancel(12345).await.expect("cancel"), "no such job");
    for id in [queued, running] {
        let job = queue.get(id).await.expect("get").expect("job");
        assert_eq!(job.state, JobState::Cancelled);
        assert!(job.state.is_final());
        assert!(job.finished_at.is_some());
    }
}

async fn jobs_are_listed_and_counted_by_state(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let ids: Vec<i64> = queue
        .enqueue_many(&(0..5).map(|n| job("q", n)).collect::<Vec<_>>())
        .await
        .expect("enqueue many")
        .into_iter()
        .map(EnqueueOutcome::id)
        .collect();
    queue.enqueue(job("other", 5)).await.expect("enqueue");
    let a = claim(&queue, "w", 10).await.expect("claim");
    assert!(queue.complete(a.id, "w").await.expect("complete"));
    let _b = claim(&queue, "w", 10).await.expect("claim");
    assert!(queue.cancel(ids[4]).await.expect("cancel"));

    let counts = queue.counts(Some("q")).await.expect("counts");
    let expected: BTreeMap<JobState, u64> = [
        (JobState::Queued, 2),
        (JobState::Running, 1),
        (JobState::Succeeded, 1),
        (JobState::Dead, 0),
        (JobState::Cancelled, 1),
    ]
    .into();
    assert_eq!(counts, expected);
    assert_eq!(
        queue.counts(None).await.expect("counts")[&JobState::Queued],
        3
    );

    let queued: Vec<u64> = queue
        .list(Some(JobState::Queued), 10)
        .await
        .expect("list")
        .iter()
        .map(n_of)
        .collect();
    assert_eq!(queued, [5, 3, 2], "newest first");
    let newest: Vec<u64> = queue
        .list(None, 2)
        .await
        .expect("list")
        .iter()
        .map(n_of)
        .collect();
    assert_eq!(newest, [5, 4]);
    assert!(queue.get(-1).await.expect("get").is_none());
    assert_eq!("dead".parse::<JobState>(), Ok(JobState::Dead));
    assert!("failed".parse::<JobState>().is_err());
}

/// Counts handler runs per job and how many run at once.
#[derive(Default)]
struct Tally {
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    started: Mutex<BTreeMap<i64, usize>>,
    finished: Mutex<BTreeMap<i64, usize>>,
}

impl Tally {
    fn start(&self, id: i64) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        *self.started.lock().expect("lock").entry(id).or_default() += 1;
    }

    fn finish(&self, id: i64) {
        *self.finished.lock().expect("lock").entry(id).or_default() += 1;
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn wait_until_succeeded(queue: &JobQueue, total: u64) {
    common::eventually(Duration::from_secs(90), "every job succeeded", || async {
        let counts = queue.counts(None).await.expect("counts");
        (counts[&JobState::Succeeded] == total).then_some(())
    })
    .await;
}

async fn concurrent_workers_run_every_job_once_within_max_concurrent(db: Db) {
    const JOBS: u32 = 120;
    const MAX_CONCURRENT: u32 = 5;
    let queue = JobQueue::new(db.store.clone()).with_retry(RetryPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(50),
        jitter: 0.5,
    });
    queue
        .enqueue_many(
            &(0..JOBS)
                .map(|n| job("q", n).priority((n % 9 + 1) as u8))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("enqueue");
    let tally = Arc::new(Tally::default());
    let shutdown = CancellationToken::new();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let tally = Arc::clone(&tally);
        let config = WorkerConfig {
            lease: Duration::from_secs(30),
            max_concurrent: MAX_CONCURRENT,
            slots: 3,
            poll_interval: Duration::from_millis(20),
            ..WorkerConfig::new("q", format!("worker-{w}"))
        };
        let handler = move |job: Job, _cancel: CancellationToken| {
            let tally = Arc::clone(&tally);
            async move {
                tally.start(job.id);
                tokio::time::sleep(Duration::from_millis(3)).await;
                // Every tenth job fails its first attempt and succeeds on the retry.
                let fails = n_of(&job).is_multiple_of(10) && job.attempts == 1;
                if !fails {
                    tally.finish(job.id);
                    return Ok(());
                }
                tally.running.fetch_sub(1, Ordering::SeqCst);
                Err::<(), HandlerError>("first attempt fails".into())
            }
        };
        workers.spawn(Worker::new(queue.clone(), config, handler).run(shutdown.clone()));
    }
    wait_until_succeeded(&queue, u64::from(JOBS)).await;
    shutdown.cancel();
    while let Some(result) = workers.join_next().await {
        result.expect("worker ends cleanly");
    }

    let finished = tally.finished.lock().expect("lock").clone();
    assert_eq!(finished.len(), JOBS as usize);
    assert!(
        finished.values().all(|&n| n == 1),
        "a job succeeded twice: {finished:?}"
    );
    let most = tally.most_at_once.load(Ordering::SeqCst);
    assert!(most <= MAX_CONCURRENT as usize, "{most} ran at once");
    assert!(most >= 2, "workers ran jobs in parallel ({most})");
    for job in queue.list(None, JOBS).await.expect("list") {
        let expected_attempts = if n_of(&job).is_multiple_of(10) { 2 } else { 1 };
        assert_eq!(job.attempts, expected_attempts, "{job:?}");
        assert_eq!(
            tally.started.lock().expect("lock")[&job.id],
            expected_attempts as usize
        );
    }
}

async fn jobs_of_a_killed_daemon_finish_after_restart_exactly_once(db: Db) {
    const JOBS: u32 = 12;
    let queue = JobQueue::new(db.store.clone());
    queue
        .enqueue_many(&(0..JOBS).map(|n| job("q", n)).collect::<Vec<_>>())
        .await
        .expect("enqueue");

    // The first daemon claims four jobs and is killed while they run.
    let first = Arc::new(Tally::default());
    let handler = {
        let first = Arc::clone(&first);
        move |job: Job, _cancel: CancellationToken| {
            let first = Arc::clone(&first);
            async move {
                first.start(job.id);
                std::future::pending::<()>().await;
                Ok::<(), HandlerError>(())
            }
        }
    };
    let config = WorkerConfig {
        lease: Duration::from_millis(500),
        max_concurrent: 10,
        slots: 4,
        poll_interval: Duration::from_millis(20),
        ..WorkerConfig::new("q", "daemon-1")
    };
    let killed =
        tokio::spawn(Worker::new(queue.clone(), config, handler).run(CancellationToken::new()));
    common::eventually(DEADLINE, "the first daemon runs four jobs", || async {
        (first.started.lock().expect("lock").len() == 4).then_some(())
    })
    .await;
    killed.abort();
    assert!(killed.await.expect_err("aborted").is_cancelled());
    let interrupted: BTreeSet<i64> = first
        .started
        .lock()
        .expect("lock")
        .keys()
        .copied()
        .collect();
    assert_eq!(
        queue.counts(None).await.expect("counts")[&JobState::Running],
        4
    );
    db.store.close().await;

    // The restarted daemon: a new connection, a worker and the reaper.
    let store = Store::connect(&db.url).await.expect("reconnect");
    let queue = JobQueue::new(store);
    let second = Arc::new(Tally::default());
    let shutdown = CancellationToken::new();
    let handler = {
        let second = Arc::clone(&second);
        move |job: Job, _cancel: CancellationToken| {
            let second = Arc::clone(&second);
            async move {
                second.start(job.id);
                tokio::time::sleep(Duration::from_millis(5)).await;
                second.finish(job.id);
                Ok::<(), HandlerError>(())
            }
        }
    };
    let config = WorkerConfig {
        lease: Duration::from_secs(30),
        max_concurrent: 10,
        slots: 4,
        poll_interval: Duration::from_millis(20),
        ..WorkerConfig::new("q", "daemon-2")
    };
    let worker = tokio::spawn(Worker::new(queue.clone(), config, handler).run(shutdown.clone()));
    let reaped = Arc::new(Mutex::new(BTreeSet::new()));
    let reaper = tokio::spawn(reaper::run(
        queue.clone(),
        Duration::from_millis(100),
        shutdown.clone(),
        {
            let reaped = Arc::clone(&reaped);
            move |jobs: Vec<Job>| {
                reaped
                    .lock()
                    .expect("lock")
                    .extend(jobs.iter().map(|j| j.id));
            }
        },
    ));
    wait_until_succeeded(&queue, u64::from(JOBS)).await;
    shutdown.cancel();
    worker.await.expect("worker");
    reaper.await.expect("reaper");

    assert_eq!(
        *reaped.lock().expect("lock"),
        interrupted,
        "the reaper took back exactly the interrupted jobs"
    );
    let finished = second.finished.lock().expect("lock").clone();
    assert_eq!(finished.len(), JOBS as usize, "none lost");
    assert!(
        finished.values().all(|&n| n == 1),
        "none completed twice: {finished:?}"
    );
    for job in queue.list(None, JOBS).await.expect("list") {
        assert_eq!(job.state, JobState::Succeeded);
        assert_eq!(job.lease_owner.as_deref(), Some("daemon-2"));
        let expected = if interrupted.contains(&job.id) { 2 } else { 1 };
        assert_eq!(job.attempts, expected, "{job:?}");
    }
}

async fn worker_records_a_panicking_handler_and_stops_running_handlers_at_shutdown(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let panics = queue
        .enqueue(job("q", 0).priority(1).max_attempts(1))
        .await
        .expect("enqueue")
        .id();
    let waits = queue
        .enqueue(job("q", 1).priority(2))
        .await
        .expect("enqueue")
        .id();
    let handler = |job: Job, cancel: CancellationToken| async move {
        if n_of(&job) == 0 {
            panic!("handler bug");
        }
        cancel.cancelled().await;
        Err::<(), HandlerError>("interrupted by shutdown".into())
    };
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        ..WorkerConfig::new("q", "w")
    };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(queue.clone(), config, handler).run(shutdown.clone()));

    let dead = common::eventually(DEADLINE, "the panicking job is recorded", || async {
        let job = queue.get(panics).await.expect("get").expect("job");
        (job.state == JobState::Dead).then_some(job)
    })
    .await;
    assert_eq!(dead.last_error.as_deref(), Some("handler panicked"));
    common::eventually(DEADLINE, "the second job runs", || async {
        let job = queue.get(waits).await.expect("get").expect("job");
        (job.state == JobState::Running).then_some(())
    })
    .await;

    shutdown.cancel();
    tokio::time::timeout(DEADLINE, worker)
        .await
        .expect("the worker stops")
        .expect("worker task");
    let interrupted = queue.get(waits).await.expect("get").expect("job");
    assert_eq!(
        interrupted.state,
        JobState::Queued,
        "attempts left: retried later"
    );
    assert_eq!(
        interrupted.last_error.as_deref(),
        Some("interrupted by shutdown")
    );
}

async fn a_deferred_job_gives_its_slot_back_without_using_an_attempt(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let waiting = queue
        .enqueue(job("q", 0).priority(1).max_attempts(1).dedup_key("wait"))
        .await
        .expect("enqueue")
        .id();
    let other = queue
        .enqueue(job("q", 1).priority(2))
        .await
        .expect("enqueue")
        .id();
    // Job 0 waits for something (say, an approval) for its first 3 claims.
    let claims = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&claims);
    let handler = move |job: Job, _cancel: CancellationToken| {
        let seen = Arc::clone(&seen);
        async move {
            if n_of(&job) == 0 && seen.fetch_add(1, Ordering::SeqCst) < 3 {
                return Err::<(), HandlerError>(Box::new(Defer(Duration::from_millis(200))));
            }
            Ok(())
        }
    };
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        max_concurrent: 1,
        ..WorkerConfig::new("q", "w")
    };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(queue.clone(), config, handler).run(shutdown.clone()));
    // With one slot, the other job runs while job 0 is deferred.
    common::eventually(DEADLINE, "the other job ran", || async {
        let job = queue.get(other).await.expect("get").expect("job");
        (job.state == JobState::Succeeded).then_some(())
    })
    .await;
    // Deferred, the job stays unfinished: its dedup key still holds.
    assert_eq!(
        queue
            .enqueue(job("q", 2).dedup_key("wait"))
            .await
            .expect("enqueue"),
        EnqueueOutcome::Duplicate(waiting)
    );
    let done = common::eventually(DEADLINE, "the deferred job finished", || async {
        let job = queue.get(waiting).await.expect("get").expect("job");
        job.state.is_final().then_some(job)
    })
    .await;
    assert_eq!(
        done.state,
        JobState::Succeeded,
        "deferrals used up its one attempt"
    );
    assert_eq!(done.attempts, 1);
    assert_eq!(claims.load(Ordering::SeqCst), 4);
    shutdown.cancel();
    worker.await.expect("worker task");
}

async fn a_job_stopped_by_shutdown_is_due_again_at_once_and_its_claim_counts(db: Db) {
    // A backoff of an hour: a stopped job that waited it out would not be due for an hour.
    let queue = JobQueue::new(db.store.clone()).with_retry(RetryPolicy {
        base: Duration::from_secs(3600),
        cap: Duration::from_secs(3600),
        jitter: 0.0,
    });
    let id = queue
        .enqueue(job("q", 0).max_attempts(2))
        .await
        .expect("enqueue")
        .id();
    let handler = |_job: Job, cancel: CancellationToken| async move {
        cancel.cancelled().await;
        Err::<(), HandlerError>(Box::new(Stopped("the daemon stopped".into())))
    };
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        ..WorkerConfig::new("q", "w")
    };
    for claim in 1..=2u32 {
        let shutdown = CancellationToken::new();
        let worker =
            tokio::spawn(Worker::new(queue.clone(), config.clone(), handler).run(shutdown.clone()));
        common::eventually(DEADLINE, "the job runs", || async {
            let job = queue.get(id).await.expect("get").expect("job");
            (job.state == JobState::Running).then_some(())
        })
        .await;
        shutdown.cancel();
        tokio::time::timeout(DEADLINE, worker)
            .await
            .expect("the worker stops")
            .expect("worker task");
        let stopped = queue.get(id).await.expect("get").expect("job");
        assert_eq!(stopped.attempts, claim, "a stopped claim counts");
        assert_eq!(stopped.last_error.as_deref(), Some("the daemon stopped"));
        if claim == 1 {
            assert_eq!(stopped.state, JobState::Queued);
            assert!(
                stopped.run_after <= chrono::Utc::now(),
                "due again at once, not after the backoff: {}",
                stopped.run_after
            );
        } else {
            assert_eq!(stopped.state, JobState::Dead, "its claims are used up");
        }
    }
}

/// The store stops answering the worker (here: its jobs table is renamed away) while a handler
/// runs: no heartbeat gets through, the lease will run out and another worker may take the job
/// over, so the handler is stopped before that (it used to run on, unaware).
async fn a_worker_whose_heartbeats_fail_stops_its_handler_before_the_lease_runs_out(db: Db) {
    let queue = JobQueue::new(db.store.clone());
    let id = queue.enqueue(job("q", 0)).await.expect("enqueue").id();
    let stopped = Arc::new(Mutex::new(None::<std::time::Instant>));
    let handler = {
        let stopped = Arc::clone(&stopped);
        move |_job: Job, cancel: CancellationToken| {
            let stopped = Arc::clone(&stopped);
            async move {
                cancel.cancelled().await;
                *stopped.lock().expect("lock") = Some(std::time::Instant::now());
                Err::<(), HandlerError>("stopped".into())
            }
        }
    };
    let lease = Duration::from_millis(1500);
    let config = WorkerConfig {
        poll_interval: Duration::from_millis(20),
        lease,
        ..WorkerConfig::new("q", "w")
    };
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(Worker::new(queue.clone(), config, handler).run(shutdown.clone()));
    common::eventually(DEADLINE, "the job runs", || async {
        let job = queue.get(id).await.expect("get").expect("job");
        (job.state == JobState::Running).then_some(())
    })
    .await;
    let raw = sqlx::AnyPool::connect(&db.url).await.expect("connect");
    sqlx::query("ALTER TABLE jobs RENAME TO jobs_away")
        .execute(&raw)
        .await
        .expect("rename");
    // Stopped at about two thirds of the lease; the wait allows for a slow machine.
    common::eventually(Duration::from_secs(10), "the handler is stopped", || {
        let at = *stopped.lock().expect("lock");
        async move { at }
    })
    .await;
    sqlx::query("ALTER TABLE jobs_away RENAME TO jobs")
        .execute(&raw)
        .await
        .expect("rename back");
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, worker)
        .await
        .expect("the worker stops")
        .expect("worker task");
}
