//! Repairs, breakers and settings in the store: create and update repair records, count
//! attempts for budgets, open/reset breakers, and persist the emergency stop.

use super::{Backend, Store, StoreError, ms, time};
use crate::model::{Breaker, Repair, RepairState, StepRecord};
use crate::security::redact::redact;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

const COLUMNS: &str = "id, incident_id, runbook, target, state, attempt, dry_run, steps, error, requested_by, created_at, started_at, finished_at";

fn number(id: &str) -> Result<i64, StoreError> {
    id.parse()
        .map_err(|_| StoreError::Corrupt(format!("id {id}")))
}

/// The repairs one repair job carries: every repair of an incident, or one repair.
#[derive(Clone, Copy, Debug)]
pub enum RepairScope<'a> {
    /// The repairs of the incident with this id.
    Incident(&'a str),
    /// The repair with this id.
    Repair(&'a str),
}

impl<'a> RepairScope<'a> {
    /// The `repairs` column that selects the scope, and its value.
    fn column_and_id(self) -> (&'static str, &'a str) {
        match self {
            RepairScope::Incident(id) => ("incident_id", id),
            RepairScope::Repair(id) => ("id", id),
        }
    }
}

/// A repair about to be recorded.
#[derive(Clone, Debug)]
pub struct NewRepair<'a> {
    /// Incident, if any.
    pub incident_id: Option<&'a str>,
    /// Runbook.
    pub runbook: &'a str,
    /// Target check.
    pub target: Option<&'a str>,
    /// Initial state.
    pub state: RepairState,
    /// Candidate number for the incident.
    pub attempt: i64,
    /// Plan only.
    pub dry_run: bool,
    /// Who asked.
    pub requested_by: &'a str,
    /// Why it is created in a final state (e.g. cancelled by a gate).
    pub error: Option<&'a str>,
}

impl Store {
    /// Records a new repair.
    pub async fn create_repair(&self, new: &NewRepair<'_>) -> Result<Repair, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin_write().await?;
        let incident = new.incident_id.map(number).transpose()?;
        let row = sqlx::query(
            "INSERT INTO repairs (incident_id, runbook, target, state, attempt, dry_run, steps, error, requested_by, created_at, finished_at) \
             VALUES ($1, $2, $3, $4, $5, $6, '[]', $7, $8, $9, $10) RETURNING id",
        )
        .bind(incident)
        .bind(new.runbook.to_string())
        .bind(new.target.map(str::to_string))
        .bind(new.state.as_str().to_string())
        .bind(new.attempt)
        .bind(i64::from(new.dry_run))
        .bind(new.error.map(|e| redact(e).into_owned()))
        .bind(new.requested_by.to_string())
        .bind(ms(now))
        .bind(new.state.is_final().then(|| ms(now)))
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get("id")?;
        tx.commit().await?;
        self.repair(&id.to_string())
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("repair {id} vanished")))
    }

    /// Moves a repair to `state`, saving its steps and error; stamps `started_at` when it starts
    /// running and `finished_at` when the state is final.
    pub async fn update_repair(
        &self,
        id: &str,
        state: RepairState,
        steps: &[StepRecord],
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = ms(Utc::now());
        let steps: Vec<StepRecord> = steps.iter().map(StepRecord::redacted).collect();
        let steps = serde_json::to_string(&steps).map_err(StoreError::json("steps"))?;
        let error = error.map(|e| redact(e).into_owned());
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE repairs SET state = $1, steps = $2, error = $3, \
             started_at = CASE WHEN started_at IS NULL AND $4 = 1 THEN $5 ELSE started_at END, \
             finished_at = CASE WHEN $6 = 1 THEN $5 ELSE finished_at END WHERE id = $7",
        )
        .bind(state.as_str().to_string())
        .bind(steps)
        .bind(error)
        .bind(i64::from(state == RepairState::Running))
        .bind(now)
        .bind(i64::from(state.is_final()))
        .bind(number(id)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One repair.
    pub async fn repair(&self, id: &str) -> Result<Option<Repair>, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM repairs WHERE id = $1"))
            .bind(n)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(decode_repair).transpose()
    }

    /// Repairs newest first, optionally in one state and/or of one incident; with the total.
    pub async fn list_repairs(
        &self,
        state: Option<RepairState>,
        incident_id: Option<&str>,
        runbook: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Repair>, i64), StoreError> {
        let filter = "WHERE ($1 = '' OR state = $1) AND ($2 < 0 OR incident_id = $2) AND ($5 = '' OR runbook = $5)";
        let runbook = runbook.unwrap_or_default().to_string();
        let state = state.map_or(String::new(), |s| s.as_str().to_string());
        let incident = match incident_id {
            Some(id) => id.parse::<i64>().unwrap_or(i64::MAX),
            None => -1,
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM repairs {filter} ORDER BY id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(state.clone())
        .bind(incident)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .bind(runbook.clone())
        .fetch_all(self.pool())
        .await?;
        let count_filter = filter.replace("$5", "$3");
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM repairs {count_filter}"))
            .bind(state)
            .bind(incident)
            .bind(runbook)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok((
            rows.iter().map(decode_repair).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Repairs of `target` with `runbook` created since `since` that count against the budget:
    /// not dry-run, and not refused, denied or interrupted (a continuation counts instead) —
    /// queued and awaiting ones count, so a burst cannot slip past the limit.
    pub async fn count_attempts(
        &self,
        target: &str,
        runbook: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM repairs WHERE target = $1 AND runbook = $2 AND dry_run = 0 \
             AND state NOT IN ('cancelled', 'denied', 'interrupted') AND created_at >= $3",
        )
        .bind(target.to_string())
        .bind(runbook.to_string())
        .bind(ms(since))
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }

    /// Repairs of any target created since `since` that count against `max_repairs_per_hour`
    /// (same rules as `count_attempts`).
    pub async fn count_repairs_since(&self, since: DateTime<Utc>) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM repairs WHERE dry_run = 0 \
             AND state NOT IN ('cancelled', 'denied', 'interrupted') AND created_at >= $1",
        )
        .bind(ms(since))
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }

    /// Marks the repairs of `scope` left running by a daemon or worker that stopped (and, with
    /// `waiting`, also those still queued or awaiting approval) `interrupted` with `why`.
    /// Returns them as they were (their earlier state, `started_at` set when their steps had
    /// begun), each with the process group of the step it was running when that was recorded.
    pub async fn interrupt_repairs(
        &self,
        scope: RepairScope<'_>,
        why: &str,
        waiting: bool,
    ) -> Result<Vec<(Repair, Option<(u32, u64)>)>, StoreError> {
        let (column, id) = scope.column_and_id();
        let states = if waiting {
            "'queued', 'awaiting_approval', 'running', 'verifying'"
        } else {
            "'running', 'verifying'"
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, step_pgid, step_started_ticks FROM repairs \
             WHERE {column} = $1 AND state IN ({states}) ORDER BY id"
        ))
        .bind(number(id)?)
        .fetch_all(self.pool())
        .await?;
        let mut interrupted = Vec::with_capacity(rows.len());
        for row in &rows {
            let repair = decode_repair(row)?;
            let pgid: Option<i64> = row.try_get("step_pgid")?;
            let ticks: Option<i64> = row.try_get("step_started_ticks")?;
            let group = match (pgid, ticks) {
                (Some(pgid), Some(ticks)) => {
                    u32::try_from(pgid).ok().zip(u64::try_from(ticks).ok())
                }
                _ => None,
            };
            self.update_repair(
                &repair.id,
                RepairState::Interrupted,
                &repair.steps,
                Some(why),
            )
            .await?;
            interrupted.push((repair, group));
        }
        Ok(interrupted)
    }

    /// Opens (or extends) the breaker of `target` × `runbook` (one upsert: safe under concurrency).
    pub async fn open_breaker(&self, breaker: &Breaker) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO breakers (target, runbook, opened_at, closes_at, reason) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (target, runbook) DO UPDATE SET opened_at = excluded.opened_at, \
             closes_at = excluded.closes_at, reason = excluded.reason",
        )
        .bind(breaker.target.clone())
        .bind(breaker.runbook.clone())
        .bind(ms(breaker.opened_at))
        .bind(ms(breaker.closes_at))
        .bind(breaker.reason.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Breakers still open at `now`.
    pub async fn open_breakers(&self, now: DateTime<Utc>) -> Result<Vec<Breaker>, StoreError> {
        let rows = sqlx::query("SELECT target, runbook, opened_at, closes_at, reason FROM breakers WHERE closes_at > $1 ORDER BY opened_at")
            .bind(ms(now))
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Breaker {
                    target: r.try_get("target")?,
                    runbook: r.try_get("runbook")?,
                    opened_at: time(r.try_get("opened_at")?)?,
                    closes_at: time(r.try_get("closes_at")?)?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// Closes the breaker of `target` × `runbook` now (a human reset); whether one was open.
    /// The row stays: attempts before the close no longer count against the budget.
    pub async fn reset_breaker(&self, target: &str, runbook: &str) -> Result<bool, StoreError> {
        let now = ms(Utc::now());
        let close = sqlx::query("UPDATE breakers SET closes_at = $1 WHERE target = $2 AND runbook = $3 AND closes_at > $1")
            .bind(now)
            .bind(target.to_string())
            .bind(runbook.to_string());
        Ok(self.write_one(close).await? > 0)
    }

    /// When the breaker of `target` × `runbook` last closed (by cooldown or reset), if it has.
    pub async fn breaker_closed_at(
        &self,
        target: &str,
        runbook: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT closes_at FROM breakers WHERE target = $1 AND runbook = $2 AND closes_at <= $3",
        )
        .bind(target.to_string())
        .bind(runbook.to_string())
        .bind(ms(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| time(r.try_get("closes_at")?)).transpose()
    }

    /// A persistent setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get("value"))
            .transpose()
            .map_err(StoreError::from)
    }

    /// Sets a persistent setting (one upsert: safe under concurrency).
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key.to_string())
        .bind(value.to_string())
        .bind(ms(Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn decode_repair(row: &AnyRow) -> Result<Repair, StoreError> {
    let optional_time = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(name)?.map(time).transpose()
    };
    let state: String = row.try_get("state")?;
    let steps: String = row.try_get("steps")?;
    Ok(Repair {
        id: row.try_get::<i64, _>("id")?.to_string(),
        incident_id: row
            .try_get::<Option<i64>, _>("incident_id")?
            .map(|i| i.to_string()),
        runbook: row.try_get("runbook")?,
        target: row.try_get("target")?,
        state: RepairState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("repair state {state}")))?,
        attempt: row.try_get("attempt")?,
        dry_run: row.try_get::<i64, _>("dry_run")? != 0,
        steps: serde_json::from_str(&steps).map_err(StoreError::json("steps"))?,
        error: row.try_get("error")?,
        requested_by: row.try_get("requested_by")?,
        created_at: time(row.try_get("created_at")?)?,
        started_at: optional_time("started_at")?,
        finished_at: optional_time("finished_at")?,
    })
}

impl Store {
    /// Decides a repair awaiting approval: moves it to `to` (`queued` = approved, `denied`) only
    /// if it is still `awaiting_approval`, and writes the decision (by `actor`, with `note`) to its
    /// incident's timeline in the same transaction. Exactly one of concurrent decisions returns
    /// `true`.
    pub async fn decide_repair(
        &self,
        id: &str,
        to: RepairState,
        actor: &str,
        note: &str,
    ) -> Result<bool, StoreError> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(false);
        };
        let at = Utc::now();
        let now = ms(at);
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE repairs SET state = $1, error = $2, finished_at = CASE WHEN $1 = 'denied' THEN $3 ELSE finished_at END \
             WHERE id = $4 AND state = 'awaiting_approval'",
        )
        .bind(to.as_str().to_string())
        .bind(note.to_string())
        .bind(now)
        .bind(n)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            let row = sqlx::query("SELECT incident_id, runbook FROM repairs WHERE id = $1")
                .bind(n)
                .fetch_one(&mut *tx)
                .await?;
            let incident: Option<i64> = row.try_get("incident_id")?;
            let runbook: String = row.try_get("runbook")?;
            if let Some(incident) = incident {
                let kind = if to == RepairState::Denied {
                    "denied"
                } else {
                    "approved"
                };
                let message = format!("repair {id} ({runbook}): {note}");
                super::incidents::append_in(
                    &mut tx,
                    &incident.to_string(),
                    at,
                    kind,
                    actor,
                    &message,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(changed == 1)
    }
}

impl Store {
    /// For incidents of `fingerprint`: per runbook, repairs that ran, successes, and the
    /// recovery seconds (first step → verified) of each success.
    pub async fn runbook_history(&self, fingerprint: &str) -> Result<RunbookHistory, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT r.runbook, r.state, r.started_at, r.finished_at FROM repairs r JOIN incidents i ON i.id = r.incident_id \
             WHERE i.fingerprint = $1 AND {RAN}"
        ))
        .bind(fingerprint.to_string())
        .fetch_all(self.pool())
        .await?;
        tally(&rows)
    }

    /// The same for incidents that came with a rise of log cluster `cluster_id`'s failure
    /// lines: from 10 minutes before the incident opened until it was resolved, the cluster had
    /// at least twice as many failure lines per 10-minute bucket as in the two hours before
    /// (see [`super::logs::rose`]). What fixed those incidents is what to suggest for the
    /// cluster. A cluster of benign lines, or one whose failures go on as always, learns nothing
    /// from incidents that merely happened meanwhile. `ties` are the labels of the cluster's
    /// log source: only incidents that carry every one of them count (the source's own
    /// incidents always do; a check labelled like the source does too), so a source labelled
    /// `service = "db"` learns nothing from an incident of `service = "api"`.
    pub async fn cluster_runbook_history(
        &self,
        cluster_id: &str,
        ties: &BTreeMap<String, String>,
    ) -> Result<RunbookHistory, StoreError> {
        let Ok(cluster) = cluster_id.parse::<i64>() else {
            return Ok(Vec::new());
        };
        let buckets = sqlx::query(
            "SELECT bucket, failure_count FROM log_cluster_counts \
             WHERE cluster_id = $1 AND failure_count > 0 ORDER BY bucket",
        )
        .bind(cluster)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>("bucket")?,
                r.try_get::<i64, _>("failure_count")?,
            ))
        })
        .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
        if buckets.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT r.runbook, r.state, r.started_at, r.finished_at, i.opened_at, i.labels, \
             COALESCE(i.resolved_at, i.last_signal_at) AS until FROM repairs r JOIN incidents i ON i.id = r.incident_id \
             WHERE {RAN} AND EXISTS (SELECT 1 FROM log_cluster_counts k WHERE k.cluster_id = $1 AND k.failure_count > 0 \
             AND k.bucket >= i.opened_at - 1200000 AND k.bucket <= COALESCE(i.resolved_at, i.last_signal_at))"
        ))
        .bind(cluster)
        .fetch_all(self.pool())
        .await?;
        let mut came_with = Vec::with_capacity(rows.len());
        for row in rows {
            let opened: i64 = row.try_get("opened_at")?;
            let until: i64 = row.try_get("until")?;
            let labels: String = row.try_get("labels")?;
            let labels: BTreeMap<String, String> =
                serde_json::from_str(&labels).map_err(StoreError::json("incident labels"))?;
            let tied = ties.iter().all(|(k, v)| labels.get(k) == Some(v));
            if tied && super::logs::rose(&buckets, opened, until) {
                came_with.push(row);
            }
        }
        tally(&came_with)
    }
}

/// Per runbook: repairs that ran, successes, recovery seconds of each success.
pub type RunbookHistory = Vec<(String, u64, u64, Vec<f64>)>;

/// Repairs that really ran: not dry-run, started, not refused or cut short.
const RAN: &str =
    "r.dry_run = 0 AND r.started_at IS NOT NULL AND r.state NOT IN ('cancelled', 'interrupted')";

fn tally(rows: &[AnyRow]) -> Result<RunbookHistory, StoreError> {
    let mut history: RunbookHistory = Vec::new();
    for row in rows {
        let runbook: String = row.try_get("runbook")?;
        let state: String = row.try_get("state")?;
        let index = match history.iter().position(|h| h.0 == runbook) {
            Some(i) => i,
            None => {
                history.push((runbook, 0, 0, Vec::new()));
                history.len() - 1
            }
        };
        let entry = &mut history[index];
        entry.1 += 1;
        if state == "succeeded" {
            entry.2 += 1;
            let started: Option<i64> = row.try_get("started_at")?;
            let finished: Option<i64> = row.try_get("finished_at")?;
            if let (Some(s), Some(f)) = (started, finished) {
                entry.3.push((f - s).max(0) as f64 / 1000.0);
            }
        }
    }
    Ok(history)
}

impl Store {
    /// Records (or with `None` clears) the process group of the step repair `id` is running.
    pub async fn set_step_group(
        &self,
        id: &str,
        group: Option<(u32, u64)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE repairs SET step_pgid = $1, step_started_ticks = $2 WHERE id = $3")
            .bind(group.map(|(pgid, _)| i64::from(pgid)))
            .bind(group.and_then(|(_, ticks)| i64::try_from(ticks).ok()))
            .bind(number(id)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Process groups (with their leaders' start times) of the steps the unfinished repairs of
    /// `scope` were running when their daemon or worker stopped.
    pub async fn unfinished_step_groups(
        &self,
        scope: RepairScope<'_>,
    ) -> Result<Vec<(u32, u64)>, StoreError> {
        let (column, id) = scope.column_and_id();
        let rows = sqlx::query(&format!(
            "SELECT step_pgid, step_started_ticks FROM repairs WHERE {column} = $1 \
             AND state IN ('running', 'verifying') AND step_pgid IS NOT NULL AND step_started_ticks IS NOT NULL"
        ))
        .bind(number(id)?)
        .fetch_all(self.pool())
        .await?;
        let mut groups = Vec::new();
        for row in &rows {
            let pgid: i64 = row.try_get("step_pgid")?;
            let ticks: i64 = row.try_get("step_started_ticks")?;
            if let (Ok(pgid), Ok(ticks)) = (u32::try_from(pgid), u64::try_from(ticks)) {
                groups.push((pgid, ticks));
            }
        }
        Ok(groups)
    }
}

/// Key space of the PostgreSQL advisory locks that hold repair targets (see `TargetHold`).
const TARGET_LOCK_CLASS: i32 = 0x486f_6d54; // "HomT"

/// A repair target held across every instance sharing a PostgreSQL store: a session-level
/// advisory lock on a connection of its own, released when this is dropped (the connection
/// closes) or when its daemon dies (the server ends the session). On SQLite, which one daemon
/// uses at a time, it holds nothing: the engine's own hold suffices.
pub struct TargetHold {
    connection: Option<sqlx::AnyConnection>,
}

impl Drop for TargetHold {
    fn drop(&mut self) {
        let Some(connection) = self.connection.take() else {
            return;
        };
        // Closing ends the session and with it the lock; dropping alone closes the socket too.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = sqlx::Connection::close(connection).await;
            });
        }
    }
}

impl Store {
    /// Holds `target` for one repair across instances; `None` when another repair still holds
    /// it after `wait` (looked at every `poll`; a hold being given up is released in the
    /// background, so a short wait avoids refusing a target that was just freed).
    pub async fn try_hold_target(
        &self,
        target: &str,
        wait: std::time::Duration,
        poll: std::time::Duration,
    ) -> Result<Option<TargetHold>, StoreError> {
        if self.backend() == Backend::Sqlite {
            return Ok(Some(TargetHold { connection: None }));
        }
        // A connection of its own (no longer counted by the pool): the lock lives as long as it.
        let mut connection = self.pool().acquire().await?.detach();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let held: bool = sqlx::query(&format!(
                "SELECT pg_try_advisory_lock({TARGET_LOCK_CLASS}, hashtext($1)) AS held"
            ))
            .bind(target.to_string())
            .fetch_one(&mut connection)
            .await?
            .try_get("held")?;
            if held {
                return Ok(Some(TargetHold {
                    connection: Some(connection),
                }));
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = sqlx::Connection::close(connection).await;
                return Ok(None);
            }
            tokio::time::sleep(poll).await;
        }
    }
}
