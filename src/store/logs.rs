//! Log tailing in the store: read offsets per source and file identity, template clusters with
//! 10-minute line counts (windows and trends), and their retention.

use super::{Store, StoreError, time};
use crate::model::{FileId, Position};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;
use utoipa::ToSchema;

/// Stored cluster rows of a source loaded at start at most (the newest); a running source
/// remembers no more of them (beyond, it forgets the older half of each template length).
pub const MAX_TEMPLATE_ROWS: usize = 20_000;

/// Width of a cluster count bucket, in milliseconds.
const BUCKET_MS: i64 = 10 * 60 * 1000;

/// New lines of one cluster since the last save.
#[derive(Clone, Debug)]
pub struct ClusterDelta {
    /// Its stored row, when known.
    pub row: Option<i64>,
    /// The current template.
    pub template: String,
    /// Leave a known row's stored template as it is (it may be more general than `template`).
    pub keep_template: bool,
    /// Lines since the last save.
    pub lines: i64,
    /// Of those, lines that report a failure (as the log source judged them).
    pub failures: i64,
    /// The time of the earliest of them (its own time when the source reads line times, else
    /// when it was read).
    pub first_seen: DateTime<Utc>,
    /// The time of the latest of them (likewise).
    pub last_seen: DateTime<Utc>,
    /// Sample lines (none: the stored row keeps those it has).
    pub samples: Vec<String>,
}

/// What one source has done since its last save.
#[derive(Debug)]
pub struct LogProgress<'a> {
    /// The source name.
    pub source: &'a str,
    /// Every followed file's offset.
    pub positions: &'a [Position],
    /// Files no longer followed.
    pub forgotten: &'a [FileId],
    /// New lines per cluster.
    pub clusters: &'a [ClusterDelta],
    /// Records that the source has started (once: see [`Store::log_source_started`]).
    pub mark_started: bool,
    /// Now.
    pub at: DateTime<Utc>,
}

/// A stored cluster with its counts in a window.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoredCluster {
    /// Stable id.
    pub id: String,
    /// The log source.
    pub source: String,
    /// The template; `<*>` marks a variable part.
    pub template: String,
    /// Lines since the cluster was first seen.
    pub count: i64,
    /// Of those, failure lines: lines a category of severity `warning` or worse explained, of
    /// level `error` or worse, or (without a level) with a failure word.
    pub failures: i64,
    /// Lines in the requested window (by 10-minute buckets).
    pub count_in_window: i64,
    /// Failure lines in the requested window.
    pub failures_in_window: i64,
    /// Lines in the last hour (by 10-minute buckets).
    pub last_hour: i64,
    /// Lines in the hour before that.
    pub previous_hour: i64,
    /// `rising`, `falling` or `steady`: the last hour against the one before.
    pub trend: &'static str,
    /// First line.
    pub first_seen: DateTime<Utc>,
    /// Latest line.
    pub last_seen: DateTime<Utc>,
    /// A few sample lines.
    pub samples: Vec<String>,
}

fn id_bits(n: u64) -> i64 {
    i64::from_ne_bytes(n.to_ne_bytes())
}

fn bucket_of(ms: i64) -> i64 {
    ms.div_euclid(BUCKET_MS) * BUCKET_MS
}

/// Buckets before a window that [`rose`] compares it with: two hours.
const BASELINE_BUCKETS: i64 = 12;

/// Whether a cluster's failure lines rose with an incident opened at `opened` and resolved
/// (or last seen failing) at `until` (Unix ms): the window runs from the 10-minute bucket that
/// holds the moment 10 minutes before it opened (the lines that led to it) to `until`; the
/// cluster had failure lines there, at least twice as many per bucket as in the two hours
/// before. `buckets` are (bucket start, failure lines), any order.
pub(super) fn rose(buckets: &[(i64, i64)], opened: i64, until: i64) -> bool {
    let from = bucket_of(opened.saturating_sub(BUCKET_MS));
    let (mut during, mut before) = (0i64, 0i64);
    let baseline_from = from.saturating_sub(BASELINE_BUCKETS * BUCKET_MS);
    for &(bucket, failures) in buckets {
        if bucket >= from && bucket <= until {
            during += failures;
        } else if bucket >= baseline_from && bucket < from {
            before += failures;
        }
    }
    let window_buckets = (until.saturating_sub(from) / BUCKET_MS + 1).max(1);
    during > 0 && during * BASELINE_BUCKETS >= 2 * before * window_buckets
}

fn trend(last: i64, previous: i64) -> &'static str {
    // Changes of less than a quarter (or of a handful of lines) are noise.
    let delta = last - previous;
    if delta.abs() * 4 <= previous.max(4) {
        "steady"
    } else if delta > 0 {
        "rising"
    } else {
        "falling"
    }
}

impl Store {
    /// The stored read offsets of `source`, by file identity.
    pub async fn log_offsets(&self, source: &str) -> Result<HashMap<FileId, u64>, StoreError> {
        Ok(self
            .log_positions(source)
            .await?
            .into_iter()
            .map(|p| (p.id, p.offset))
            .collect())
    }

    /// The stored read positions of `source`: file identity, the path it was last seen at,
    /// offset.
    pub async fn log_positions(&self, source: &str) -> Result<Vec<Position>, StoreError> {
        let rows =
            sqlx::query("SELECT dev, ino, path, file_offset FROM log_offsets WHERE source = $1")
                .bind(source.to_string())
                .fetch_all(self.pool())
                .await?;
        rows.iter()
            .map(|row| {
                let bits = |name: &str| {
                    row.try_get::<i64, _>(name)
                        .map(|v| u64::from_ne_bytes(v.to_ne_bytes()))
                };
                Ok(Position {
                    id: FileId {
                        dev: bits("dev")?,
                        ino: bits("ino")?,
                    },
                    path: row.try_get::<String, _>("path")?.into(),
                    offset: bits("file_offset")?,
                })
            })
            .collect()
    }

    /// Whether `source` has started before: saved its progress at least once. Until it has, its
    /// `from = "end"` applies to the files it finds at start (even when a glob matched nothing
    /// on an earlier run, whose later files are new and read whole once the source has started).
    pub async fn log_source_started(&self, source: &str) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT source FROM log_sources WHERE source = $1")
                .bind(source.to_string())
                .fetch_optional(self.pool())
                .await?
                .is_some(),
        )
    }

    /// Saves a source's offsets and cluster counts in one transaction, so what was counted and
    /// how far was read never disagree. Returns the cluster rows, in the order given: a
    /// cluster's own row, or a new one when retention removed its row meanwhile.
    pub async fn save_log_progress(
        &self,
        progress: &LogProgress<'_>,
    ) -> Result<Vec<i64>, StoreError> {
        let source = progress.source.to_string();
        let at = progress.at.timestamp_millis();
        let mut tx = self.begin_write().await?;
        if progress.mark_started {
            sqlx::query(
                "INSERT INTO log_sources (source, started_at) VALUES ($1, $2) ON CONFLICT (source) DO NOTHING",
            )
            .bind(source.clone())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        // Forgotten files first: a file forgotten and followed again (its id reused) keeps the
        // offset it is followed at.
        for id in progress.forgotten {
            sqlx::query("DELETE FROM log_offsets WHERE source = $1 AND dev = $2 AND ino = $3")
                .bind(source.clone())
                .bind(id_bits(id.dev))
                .bind(id_bits(id.ino))
                .execute(&mut *tx)
                .await?;
        }
        for p in progress.positions {
            sqlx::query(
                "INSERT INTO log_offsets (source, dev, ino, path, file_offset, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source, dev, ino) DO UPDATE SET \
                 path = excluded.path, file_offset = excluded.file_offset, updated_at = excluded.updated_at",
            )
            .bind(source.clone())
            .bind(id_bits(p.id.dev))
            .bind(id_bits(p.id.ino))
            .bind(p.path.to_string_lossy().into_owned())
            .bind(id_bits(p.offset))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        let mut rows = Vec::with_capacity(progress.clusters.len());
        for c in progress.clusters {
            let samples: Vec<String> = c
                .samples
                .iter()
                .map(|line| crate::security::redact::redact(line).into_owned())
                .collect();
            let samples =
                serde_json::to_string(&samples).map_err(StoreError::json("cluster samples"))?;
            let known = match c.row {
                Some(row) => Some(row),
                None => sqlx::query(
                    "SELECT id FROM log_clusters WHERE source = $1 AND template = $2 ORDER BY id LIMIT 1",
                )
                .bind(source.clone())
                .bind(c.template.clone())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<i64, _>("id"))
                .transpose()?,
            };
            // A known row that retention removed meanwhile is inserted anew (with a new id).
            let updated = match known {
                Some(row) => {
                    let done = sqlx::query(
                        "UPDATE log_clusters SET template = CASE WHEN $8 = 1 THEN template ELSE $1 END, \
                         line_count = line_count + $2, \
                         first_seen = CASE WHEN first_seen <= $3 THEN first_seen ELSE $3 END, \
                         last_seen = CASE WHEN last_seen >= $4 THEN last_seen ELSE $4 END, \
                         samples = CASE WHEN $5 = '[]' THEN samples ELSE $5 END, failure_count = failure_count + $7 WHERE id = $6",
                    )
                    .bind(c.template.clone())
                    .bind(c.lines)
                    .bind(c.first_seen.timestamp_millis())
                    .bind(c.last_seen.timestamp_millis())
                    .bind(samples.clone())
                    .bind(row)
                    .bind(c.failures)
                    .bind(i64::from(c.keep_template))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    (done > 0).then_some(row)
                }
                None => None,
            };
            let row = match updated {
                Some(row) => row,
                None => sqlx::query(
                    "INSERT INTO log_clusters (source, template, line_count, first_seen, last_seen, samples, failure_count) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(source.clone())
                .bind(c.template.clone())
                .bind(c.lines)
                .bind(c.first_seen.timestamp_millis())
                .bind(c.last_seen.timestamp_millis())
                .bind(samples)
                .bind(c.failures)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>("id")?,
            };
            sqlx::query(
                "INSERT INTO log_cluster_counts (cluster_id, bucket, line_count, failure_count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (cluster_id, bucket) DO UPDATE SET line_count = log_cluster_counts.line_count + excluded.line_count, \
                 failure_count = log_cluster_counts.failure_count + excluded.failure_count",
            )
            .bind(row)
            .bind(bucket_of(c.last_seen.timestamp_millis()))
            .bind(c.lines)
            .bind(c.failures)
            .execute(&mut *tx)
            .await?;
            rows.push(row);
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// The stored clusters of `source` (the [`MAX_TEMPLATE_ROWS`] seen last), as (row, template), oldest
    /// first.
    pub async fn log_cluster_templates(
        &self,
        source: &str,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, template FROM log_clusters WHERE source = $1 \
             ORDER BY last_seen DESC, id DESC LIMIT {MAX_TEMPLATE_ROWS}"
        ))
        .bind(source.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .rev()
            .map(|r| Ok((r.try_get("id")?, r.try_get("template")?)))
            .collect()
    }

    /// Ids and sources of the stored clusters (of any source) with exactly this template.
    pub async fn clusters_with_template(
        &self,
        template: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, source FROM log_clusters WHERE template = $1 ORDER BY id LIMIT 20",
        )
        .bind(template.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("id")?.to_string(),
                    r.try_get::<String, _>("source")?,
                ))
            })
            .collect()
    }

    /// The clusters with the most lines since `since` (optionally of one source), most first,
    /// with their last-hour trend; with `failures`, only clusters with failure lines in the
    /// window, most failure lines first (the top failure clusters).
    pub async fn top_clusters(
        &self,
        since: DateTime<Utc>,
        source: Option<&str>,
        limit: u32,
        failures: bool,
    ) -> Result<Vec<StoredCluster>, StoreError> {
        let now = Utc::now().timestamp_millis();
        let since = bucket_of(since.timestamp_millis());
        let last_hour = bucket_of(now - 3_600_000);
        let previous_hour = last_hour - 3_600_000;
        let rows = sqlx::query(
            "SELECT c.id, c.source, c.template, c.line_count, c.failure_count, c.first_seen, c.last_seen, c.samples, \
             CAST(SUM(CASE WHEN k.bucket >= $1 THEN k.line_count ELSE 0 END) AS BIGINT) AS in_window, \
             CAST(SUM(CASE WHEN k.bucket >= $1 THEN k.failure_count ELSE 0 END) AS BIGINT) AS failures_in_window, \
             CAST(SUM(CASE WHEN k.bucket >= $2 THEN k.line_count ELSE 0 END) AS BIGINT) AS last_hour, \
             CAST(SUM(CASE WHEN k.bucket >= $3 AND k.bucket < $2 THEN k.line_count ELSE 0 END) AS BIGINT) AS previous_hour \
             FROM log_clusters c JOIN log_cluster_counts k ON k.cluster_id = c.id \
             WHERE k.bucket >= $4 AND ($5 = '' OR c.source = $5) \
             GROUP BY c.id, c.source, c.template, c.line_count, c.failure_count, c.first_seen, c.last_seen, c.samples \
             HAVING SUM(CASE WHEN k.bucket >= $1 THEN k.line_count ELSE 0 END) > 0 \
             AND ($7 = 0 OR SUM(CASE WHEN k.bucket >= $1 THEN k.failure_count ELSE 0 END) > 0) \
             ORDER BY (CASE WHEN $7 = 0 THEN 0 ELSE SUM(CASE WHEN k.bucket >= $1 THEN k.failure_count ELSE 0 END) END) DESC, \
             in_window DESC, c.id LIMIT $6",
        )
        .bind(since)
        .bind(last_hour)
        .bind(previous_hour)
        .bind(since.min(previous_hour))
        .bind(source.unwrap_or_default().to_string())
        .bind(i64::from(limit))
        .bind(i64::from(failures))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let last_hour: i64 = row.try_get("last_hour")?;
                let previous_hour: i64 = row.try_get("previous_hour")?;
                let samples: String = row.try_get("samples")?;
                Ok(StoredCluster {
                    id: row.try_get::<i64, _>("id")?.to_string(),
                    source: row.try_get("source")?,
                    template: row.try_get("template")?,
                    count: row.try_get("line_count")?,
                    failures: row.try_get("failure_count")?,
                    count_in_window: row.try_get("in_window")?,
                    failures_in_window: row.try_get("failures_in_window")?,
                    last_hour,
                    previous_hour,
                    trend: trend(last_hour, previous_hour),
                    first_seen: time(row.try_get("first_seen")?)?,
                    last_seen: time(row.try_get("last_seen")?)?,
                    samples: serde_json::from_str(&samples)
                        .map_err(StoreError::json("cluster samples"))?,
                })
            })
            .collect()
    }

    /// Removes cluster counts older than `before`, and clusters not seen since; returns how
    /// many clusters went.
    pub async fn prune_log_clusters(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = before.timestamp_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM log_cluster_counts WHERE bucket < $1")
            .bind(bucket_of(before))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM log_cluster_counts WHERE cluster_id IN (SELECT id FROM log_clusters WHERE last_seen < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query("DELETE FROM log_clusters WHERE last_seen < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::{BUCKET_MS, rose, trend};

    #[test]
    fn a_rise_is_twice_the_failures_of_the_two_hours_before() {
        let hour = 6 * BUCKET_MS;
        // Opened 10 minutes after a bucket starts: the window starts with that bucket.
        let (from, opened) = (10 * hour, 10 * hour + BUCKET_MS);
        let until = opened + BUCKET_MS;
        // New failures in the window: a rise.
        assert!(rose(&[(opened, 3)], opened, until));
        // None in the window: nothing to learn, whatever came before or after.
        assert!(!rose(
            &[(from - BUCKET_MS, 30), (until + BUCKET_MS, 30)],
            opened,
            until
        ));
        // The same 5 a bucket as always: no rise.
        let steady: Vec<(i64, i64)> = (0..20)
            .map(|i| (from - 12 * BUCKET_MS + i * BUCKET_MS, 5))
            .collect();
        assert!(!rose(&steady, opened, until));
        // 10 a bucket in the window against 5 before: a rise (2×).
        let mut doubled = steady.clone();
        for b in &mut doubled {
            if b.0 >= from && b.0 <= until {
                b.1 = 10;
            }
        }
        assert!(rose(&doubled, opened, until));
        // Failures older than the two-hour baseline do not count against the window.
        assert!(rose(&[(from - 3 * hour, 500), (opened, 1)], opened, until));
    }

    #[test]
    fn the_lines_that_led_to_an_incident_count_for_its_window() {
        // Four failures at 11:52-11:59, one at 12:00:10 when the incident opens; resolved
        // 12:30; nothing before. The 11:50 bucket starts before "10 minutes before it opened"
        // (11:50:10) but holds the burst that opened it.
        let minute = 60_000;
        let noon = 12 * 60 * minute;
        let opened = noon + 10_000;
        let buckets = [(noon - 10 * minute, 4), (noon, 1)];
        assert!(rose(&buckets, opened, noon + 30 * minute));
    }

    #[test]
    fn trend_ignores_small_changes() {
        assert_eq!(trend(0, 0), "steady");
        assert_eq!(trend(3, 2), "steady");
        assert_eq!(trend(110, 100), "steady");
        assert_eq!(trend(200, 100), "rising");
        assert_eq!(trend(10, 100), "falling");
    }
}
