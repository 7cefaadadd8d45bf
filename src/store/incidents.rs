//! Incidents in the store: open-or-update by fingerprint (one non-closed incident each),
//! lifecycle transitions guarded by the current state, timelines, and MTTD/MTTR samples.

use super::{Store, StoreError, ms, time};
use crate::model::{Incident, IncidentState, Priority, Status, TimelineEntry};
use crate::security::redact::redact;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

const COLUMNS: &str = "id, fingerprint, title, severity, priority, state, check_name, labels, started_at, opened_at, \
                       acknowledged_at, resolved_at, closed_at, last_signal_at, signal_count";

/// A failure to record against an incident.
#[derive(Clone, Debug)]
pub struct FailureRecord<'a> {
    /// Dedup key.
    pub fingerprint: &'a str,
    /// Title for a new incident.
    pub title: &'a str,
    /// Status of the signal.
    pub severity: Status,
    /// Priority computed for that severity.
    pub priority: Priority,
    /// Check name.
    pub check: Option<&'a str>,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
    /// First failing observation.
    pub started_at: DateTime<Utc>,
    /// Signal time.
    pub at: DateTime<Utc>,
    /// Timeline text.
    pub message: &'a str,
    /// Resolved incidents younger than this reopen instead of a new one opening.
    pub reopen_after_resolved: DateTime<Utc>,
}

/// What recording a failure did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureOutcome {
    /// A new incident opened.
    Opened,
    /// A resolved incident reopened.
    Reopened,
    /// An active incident got another signal.
    Updated,
}

/// What a conditional state change did.
#[derive(Debug)]
pub enum Transition {
    /// The incident moved; here it is after the change.
    Moved(Box<Incident>),
    /// No incident has this id.
    NotFound,
    /// The incident is in this state, which the change does not start from (or another change
    /// won the race).
    Refused(IncidentState),
}

fn worse(a: Status, b: Status) -> Status {
    a.worst(b)
}

fn parse_status(text: &str) -> Status {
    match text {
        "ok" => Status::Ok,
        "warning" => Status::Warning,
        "critical" => Status::Critical,
        _ => Status::Unknown,
    }
}

impl Store {
    /// Opens, reopens or updates the incident of `record.fingerprint`, in one transaction.
    pub async fn record_failure(
        &self,
        record: &FailureRecord<'_>,
    ) -> Result<(Incident, FailureOutcome), StoreError> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM incidents WHERE fingerprint = $1 AND state <> 'closed'"
        ))
        .bind(record.fingerprint.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let existing = existing.as_ref().map(decode_incident).transpose()?;
        let (id, outcome) = match existing {
            Some(incident) if incident.state.is_active() => {
                let severity = worse(incident.severity, record.severity);
                let priority = incident.priority.min(record.priority);
                sqlx::query(
                    "UPDATE incidents SET severity = $1, priority = $2, last_signal_at = $3, signal_count = signal_count + 1 WHERE id = $4",
                )
                .bind(severity.as_str().to_string())
                .bind(priority.as_str().to_string())
                .bind(ms(record.at))
                .bind(id_number(&incident.id)?)
                .execute(&mut *tx)
                .await?;
                (incident.id, FailureOutcome::Updated)
            }
            Some(incident)
                if incident
                    .resolved_at
                    .is_some_and(|r| r >= record.reopen_after_resolved) =>
            {
                sqlx::query(
                    "UPDATE incidents SET state = 'open', severity = $1, priority = $2, resolved_at = NULL, \
                     last_signal_at = $3, signal_count = signal_count + 1 WHERE id = $4",
                )
                .bind(record.severity.as_str().to_string())
                .bind(record.priority.as_str().to_string())
                .bind(ms(record.at))
                .bind(id_number(&incident.id)?)
                .execute(&mut *tx)
                .await?;
                (incident.id, FailureOutcome::Reopened)
            }
            stale => {
                if let Some(stale) = stale {
                    close_in(&mut tx, &stale.id, record.at).await?;
                }
                let row = sqlx::query(
                    "INSERT INTO incidents (fingerprint, title, severity, priority, state, check_name, labels, started_at, \
                     opened_at, last_signal_at, signal_count) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, 1) RETURNING id",
                )
                .bind(record.fingerprint.to_string())
                .bind(redact(record.title).into_owned())
                .bind(record.severity.as_str().to_string())
                .bind(record.priority.as_str().to_string())
                .bind(record.check.map(str::to_string))
                .bind(serde_json::to_string(record.labels).map_err(StoreError::json("labels"))?)
                .bind(ms(record.started_at.min(record.at)))
                .bind(ms(record.at))
                .bind(ms(record.at))
                .fetch_one(&mut *tx)
                .await?;
                (
                    row.try_get::<i64, _>("id")?.to_string(),
                    FailureOutcome::Opened,
                )
            }
        };
        let kind = match outcome {
            FailureOutcome::Opened => "opened",
            FailureOutcome::Reopened => "reopened",
            FailureOutcome::Updated => "signal",
        };
        append_in(&mut tx, &id, record.at, kind, "homeostat", record.message).await?;
        let incident = fetch_in(&mut tx, &id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("incident {id} vanished")))?;
        tx.commit().await?;
        Ok((incident, outcome))
    }

    /// Moves incident `id` to `to` if it is in one of `from`; stamps the matching time and writes
    /// the timeline entry. Exactly one of two concurrent transitions wins; which moves are allowed
    /// is the caller's rule (the incident lifecycle in `incidents/`).
    pub async fn transition_incident(
        &self,
        id: &str,
        from: &[IncidentState],
        to: IncidentState,
        at: DateTime<Utc>,
        actor: &str,
        message: &str,
    ) -> Result<Transition, StoreError> {
        let Ok(number) = id.parse::<i64>() else {
            return Ok(Transition::NotFound);
        };
        let mut tx = self.begin_write().await?;
        let Some(current) = fetch_in(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        if !from.contains(&current.state) {
            return Ok(Transition::Refused(current.state));
        }
        let updated = sqlx::query(
            "UPDATE incidents SET state = $1, \
             acknowledged_at = CASE WHEN $1 = 'acknowledged' THEN $3 ELSE acknowledged_at END, \
             resolved_at = CASE WHEN $1 = 'resolved' THEN $3 ELSE resolved_at END, \
             closed_at = CASE WHEN $1 = 'closed' THEN $3 ELSE closed_at END \
             WHERE id = $2 AND state = $4",
        )
        .bind(to.as_str().to_string())
        .bind(number)
        .bind(ms(at))
        .bind(current.state.as_str().to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated != 1 {
            return Ok(Transition::Refused(current.state));
        }
        append_in(&mut tx, id, at, to.as_str(), actor, message).await?;
        let Some(incident) = fetch_in(&mut tx, id).await? else {
            return Ok(Transition::NotFound);
        };
        tx.commit().await?;
        Ok(Transition::Moved(Box::new(incident)))
    }

    /// The active incident of `fingerprint`, if any.
    pub async fn active_incident(&self, fingerprint: &str) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM incidents WHERE fingerprint = $1 AND state NOT IN ('resolved', 'closed')"
        ))
        .bind(fingerprint.to_string())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(decode_incident).transpose()
    }

    /// Every active incident (not resolved or closed), oldest first.
    pub async fn active_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM incidents WHERE state NOT IN ('resolved', 'closed') ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(decode_incident)
        .collect()
    }

    /// One incident.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let Ok(number) = id.parse::<i64>() else {
            return Ok(None);
        };
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
            .bind(number)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(decode_incident).transpose()
    }

    /// An incident's timeline, oldest first.
    pub async fn incident_timeline(&self, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        let Ok(number) = id.parse::<i64>() else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query("SELECT at, kind, actor, message FROM incident_events WHERE incident_id = $1 ORDER BY id")
            .bind(number)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TimelineEntry {
                    at: time(r.try_get("at")?)?,
                    kind: r.try_get("kind")?,
                    actor: r.try_get("actor")?,
                    message: r.try_get("message")?,
                })
            })
            .collect()
    }

    /// Incidents, newest first, optionally in one state; with the total matching.
    pub async fn list_incidents(
        &self,
        state: Option<IncidentState>,
        limit: u32,
        offset: u32,
    ) -> Result<(Vec<Incident>, i64), StoreError> {
        let (filter, state_name) = match state {
            Some(s) => ("WHERE state = $1", s.as_str().to_string()),
            None => ("WHERE state <> $1", String::new()),
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM incidents {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(state_name.clone())
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(self.pool())
        .await?;
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) AS n FROM incidents {filter}"))
            .bind(state_name)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?;
        Ok((
            rows.iter().map(decode_incident).collect::<Result<_, _>>()?,
            total,
        ))
    }

    /// Active incidents (not resolved or closed).
    pub async fn count_active_incidents(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM incidents WHERE state NOT IN ('resolved', 'closed')",
        )
        .fetch_one(self.pool())
        .await?
        .try_get("n")?)
    }

    /// Closes incidents resolved before `before`; returns how many.
    pub async fn close_resolved_incidents(
        &self,
        before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let ids: Vec<i64> =
            sqlx::query("SELECT id FROM incidents WHERE state = 'resolved' AND resolved_at < $1")
                .bind(ms(before))
                .fetch_all(self.pool())
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<Result<_, _>>()?;
        let mut closed = 0;
        for id in ids {
            let mut tx = self.begin_write().await?;
            if close_in(&mut tx, &id.to_string(), at).await? {
                closed += 1;
            }
            tx.commit().await?;
        }
        Ok(closed)
    }

    /// Time-to-detect and time-to-resolve samples (seconds) of incidents opened since `since`.
    pub async fn incident_durations_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(f64, Option<f64>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT started_at, opened_at, resolved_at FROM incidents WHERE opened_at >= $1",
        )
        .bind(ms(since))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let started: i64 = r.try_get("started_at")?;
                let opened: i64 = r.try_get("opened_at")?;
                let resolved: Option<i64> = r.try_get("resolved_at")?;
                Ok((
                    (opened - started) as f64 / 1000.0,
                    resolved.map(|t| (t - started) as f64 / 1000.0),
                ))
            })
            .collect()
    }
}

fn id_number(id: &str) -> Result<i64, StoreError> {
    id.parse()
        .map_err(|_| StoreError::Corrupt(format!("incident id {id}")))
}

async fn close_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let closed = sqlx::query("UPDATE incidents SET state = 'closed', closed_at = $1 WHERE id = $2 AND state = 'resolved'")
        .bind(ms(at))
        .bind(id_number(id)?)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        == 1;
    if closed {
        append_in(
            tx,
            id,
            at,
            "closed",
            "homeostat",
            "closed after staying resolved",
        )
        .await?;
    }
    Ok(closed)
}

pub(super) async fn append_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    at: DateTime<Utc>,
    kind: &str,
    actor: &str,
    message: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO incident_events (incident_id, at, kind, actor, message) VALUES ($1, $2, $3, $4, $5)")
        .bind(id_number(id)?)
        .bind(ms(at))
        .bind(kind.to_string())
        .bind(actor.to_string())
        .bind(redact(message).into_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn fetch_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
) -> Result<Option<Incident>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
        .bind(id_number(id)?)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(decode_incident).transpose()
}

fn decode_incident(row: &AnyRow) -> Result<Incident, StoreError> {
    let optional_time = |name: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        row.try_get::<Option<i64>, _>(name)?.map(time).transpose()
    };
    let state: String = row.try_get("state")?;
    let priority: String = row.try_get("priority")?;
    let labels: String = row.try_get("labels")?;
    let started_at = time(row.try_get("started_at")?)?;
    let opened_at = time(row.try_get("opened_at")?)?;
    let resolved_at = optional_time("resolved_at")?;
    Ok(Incident {
        id: row.try_get::<i64, _>("id")?.to_string(),
        fingerprint: row.try_get("fingerprint")?,
        title: row.try_get("title")?,
        severity: parse_status(&row.try_get::<String, _>("severity")?),
        priority: Priority::parse(&priority)
            .ok_or_else(|| StoreError::Corrupt(format!("priority {priority}")))?,
        state: IncidentState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("state {state}")))?,
        check: row.try_get("check_name")?,
        labels: serde_json::from_str(&labels).map_err(StoreError::json("labels"))?,
        started_at,
        opened_at,
        acknowledged_at: optional_time("acknowledged_at")?,
        resolved_at,
        closed_at: optional_time("closed_at")?,
        last_signal_at: time(row.try_get("last_signal_at")?)?,
        signal_count: row.try_get("signal_count")?,
        time_to_detect_seconds: (opened_at - started_at).num_milliseconds() as f64 / 1000.0,
        time_to_resolve_seconds: resolved_at
            .map(|r| (r - started_at).num_milliseconds() as f64 / 1000.0),
    })
}
