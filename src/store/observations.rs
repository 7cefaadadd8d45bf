//! Observations in the store: batched inserts, recent history per check, and retention.

use super::{Store, StoreError};
use crate::model::{Observation, Status};
use crate::security::redact::redact;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Rows per INSERT statement (7 parameters each, well under every engine's limit).
const ROWS_PER_STATEMENT: usize = 200;

impl Store {
    /// Writes `observations` in one transaction; returns how many were written.
    pub async fn insert_observations(
        &self,
        observations: &[Observation],
    ) -> Result<u64, StoreError> {
        if observations.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut written = 0;
        for chunk in observations.chunks(ROWS_PER_STATEMENT) {
            let mut sql = String::from(
                "INSERT INTO observations (check_name, status, raw_status, latency_ms, message, metrics, observed_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = i * 7;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${},${},${},${},${},${},${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7
                ));
            }
            let mut query = sqlx::query(&sql);
            for o in chunk {
                let metrics =
                    serde_json::to_string(&o.metrics).map_err(StoreError::json("metrics"))?;
                query = query
                    .bind(o.check.clone())
                    .bind(o.status.code())
                    .bind(o.raw_status.code())
                    .bind(o.latency_ms)
                    .bind(redact(&o.message).into_owned())
                    .bind(metrics)
                    .bind(o.observed_at.timestamp_millis());
            }
            written += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// The newest `limit` observations of `check`, newest first.
    pub async fn recent_observations(
        &self,
        check: &str,
        limit: u32,
    ) -> Result<Vec<Observation>, StoreError> {
        let rows = sqlx::query(
            "SELECT check_name, status, raw_status, latency_ms, message, metrics, observed_at \
             FROM observations WHERE check_name = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(check.to_string())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(decode_observation).collect()
    }

    /// Stored observations of `check`, or of every check.
    pub async fn count_observations(&self, check: Option<&str>) -> Result<i64, StoreError> {
        let row = match check {
            Some(check) => {
                sqlx::query("SELECT COUNT(*) AS n FROM observations WHERE check_name = $1")
                    .bind(check.to_string())
                    .fetch_one(self.pool())
                    .await?
            }
            None => {
                sqlx::query("SELECT COUNT(*) AS n FROM observations")
                    .fetch_one(self.pool())
                    .await?
            }
        };
        Ok(row.try_get::<i64, _>("n")?)
    }

    /// Retention: removes observations older than `older_than`, then all but the newest
    /// `keep_per_check` of each check. Returns how many rows were removed.
    pub async fn prune_observations(
        &self,
        keep_per_check: u32,
        older_than: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut removed = self
            .write_one(
                sqlx::query("DELETE FROM observations WHERE observed_at < $1")
                    .bind(older_than.timestamp_millis()),
            )
            .await?;
        let names: Vec<String> = sqlx::query("SELECT DISTINCT check_name FROM observations")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("check_name"))
            .collect::<Result<_, _>>()?;
        for name in names {
            let older = sqlx::query(
                "DELETE FROM observations WHERE check_name = $1 AND id <= \
                 (SELECT id FROM observations WHERE check_name = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(name)
            .bind(i64::from(keep_per_check));
            removed += self.write_one(older).await?;
        }
        Ok(removed)
    }
}

fn decode_observation(row: &AnyRow) -> Result<Observation, StoreError> {
    let metrics: String = row.try_get("metrics")?;
    let millis: i64 = row.try_get("observed_at")?;
    Ok(Observation {
        check: row.try_get("check_name")?,
        status: Status::from_code(row.try_get("status")?),
        raw_status: Status::from_code(row.try_get("raw_status")?),
        latency_ms: row.try_get("latency_ms")?,
        message: row.try_get("message")?,
        metrics: serde_json::from_str(&metrics).map_err(StoreError::json("metrics"))?,
        observed_at: DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| StoreError::Corrupt(format!("observed_at {millis} out of range")))?,
    })
}

impl Store {
    /// Observations since `since`, counted by raw status name.
    pub async fn observation_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<std::collections::BTreeMap<String, i64>, StoreError> {
        let rows = sqlx::query(
            "SELECT raw_status, COUNT(*) AS n FROM observations WHERE observed_at >= $1 GROUP BY raw_status",
        )
        .bind(since.timestamp_millis())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    Status::from_code(r.try_get("raw_status")?)
                        .as_str()
                        .to_string(),
                    r.try_get("n")?,
                ))
            })
            .collect()
    }
}
