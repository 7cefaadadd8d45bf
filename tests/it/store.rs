//! One store suite, run against SQLite (a temp file) and the real local PostgreSQL (a fresh
//! database per test): migrations, batched observations, history, counts and retention.

use crate::common;

use chrono::{Duration as ChronoDuration, Utc};
use homeostat::model::{Observation, Status};
use homeostat::store::Store;
use std::collections::BTreeMap;

fn observation(check: &str, status: Status, age_minutes: i64, n: usize) -> Observation {
    let mut metrics = BTreeMap::new();
    metrics.insert("n".to_string(), n as f64);
    Observation {
        check: check.to_string(),
        status,
        raw_status: status,
        latency_ms: 1.5,
        message: format!("run {n} with 'quotes', \"double\" and ünïcode"),
        metrics,
        observed_at: Utc::now() - ChronoDuration::minutes(age_minutes),
    }
}

async fn suite(store: Store) {
    // Migrations are idempotent: connecting again is fine (checked by the callers reconnecting).
    store.ping().await.expect("ping");
    assert_eq!(store.count_observations(None).await.expect("count"), 0);

    // A batch larger than one INSERT statement, for two checks.
    let batch: Vec<Observation> = (0..450)
        .map(|n| {
            observation(
                if n % 3 == 0 { "db" } else { "api" },
                if n % 5 == 0 {
                    Status::Critical
                } else {
                    Status::Ok
                },
                0,
                n,
            )
        })
        .collect();
    assert_eq!(
        store.insert_observations(&batch).await.expect("insert"),
        450
    );
    assert_eq!(
        store.count_observations(Some("db")).await.expect("count"),
        150
    );
    assert_eq!(
        store.count_observations(Some("api")).await.expect("count"),
        300
    );

    // Newest first, round-tripped exactly (times to the millisecond).
    let recent = store.recent_observations("db", 3).await.expect("recent");
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0].metrics["n"], 447.0);
    assert_eq!(recent[0].message, batch[447].message);
    assert_eq!(
        recent[0].observed_at.timestamp_millis(),
        batch[447].observed_at.timestamp_millis()
    );
    assert_eq!(recent[0].status, batch[447].status);
    assert!(
        store
            .recent_observations("nope", 10)
            .await
            .expect("recent")
            .is_empty()
    );

    let counts = store
        .observation_counts_since(Utc::now() - ChronoDuration::hours(1))
        .await
        .expect("counts");
    assert_eq!(counts["critical"], 90);
    assert_eq!(counts["ok"], 360);

    // Retention by age: old rows go, fresh ones stay.
    let old: Vec<Observation> = (0..10)
        .map(|n| observation("db", Status::Ok, 60 * 24 * 8, 1000 + n))
        .collect();
    store.insert_observations(&old).await.expect("insert old");
    let removed = store
        .prune_observations(10_000, Utc::now() - ChronoDuration::days(7))
        .await
        .expect("prune");
    assert_eq!(removed, 10);
    assert_eq!(store.count_observations(None).await.expect("count"), 450);

    // Retention by count: the newest N per check stay.
    let removed = store
        .prune_observations(100, Utc::now() - ChronoDuration::days(7))
        .await
        .expect("prune");
    assert_eq!(removed, 50 + 200);
    assert_eq!(
        store.count_observations(Some("db")).await.expect("count"),
        100
    );
    assert_eq!(
        store.count_observations(Some("api")).await.expect("count"),
        100
    );
    assert_eq!(
        store.recent_observations("api", 1).await.expect("recent")[0].metrics["n"],
        449.0
    );

    // Empty batches are no-ops.
    assert_eq!(store.insert_observations(&[]).await.expect("empty"), 0);
    store.close().await;
}

#[tokio::test]
async fn store_suite_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("sub.db").display());
    Store::connect(&url)
        .await
        .expect("first connect creates the file")
        .close()
        .await;
    assert!(dir.path().join("sub.db").exists());
    suite(Store::connect(&url).await.expect("reconnect")).await;
}

#[tokio::test]
async fn store_suite_on_postgres() {
    let url = common::fresh_postgres().await;
    Store::connect(&url)
        .await
        .expect("first connect migrates")
        .close()
        .await;
    suite(Store::connect(&url).await.expect("reconnect")).await;
}

#[tokio::test]
async fn concurrent_writers_on_sqlite_do_not_fail_with_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
        .await
        .expect("connect");
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..20 {
                let batch: Vec<Observation> = (0..10)
                    .map(|n| observation(&format!("c{w}"), Status::Ok, 0, i * 10 + n))
                    .collect();
                store
                    .insert_observations(&batch)
                    .await
                    .expect("insert under contention");
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("writer task");
    }
    assert_eq!(
        store.count_observations(None).await.expect("count"),
        8 * 20 * 10
    );
}
