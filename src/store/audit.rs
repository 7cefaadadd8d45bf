//! The audit log in the store: appends extend the hash chain under a lock (`BEGIN IMMEDIATE` on
//! SQLite, `FOR UPDATE` on the head row on PostgreSQL) so concurrent instances never fork it.

use super::{Backend, Store, StoreError, ms, time};
use crate::security::audit::{AuditEntry, AuditRecord, entry_hash};
use crate::security::redact;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

const COLUMNS: &str = "id, at, actor, role, action, target, outcome, detail, prev_hash, hash";

/// Which audit entries to list.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this (e.g. `repair.`).
    pub action: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries with ids above this (paging forward).
    pub after_id: Option<i64>,
    /// At most this many (newest first unless `after_id` is given).
    pub limit: i64,
}

fn parse_link(value: &str) -> Result<(i64, String), StoreError> {
    value
        .split_once(':')
        .and_then(|(id, hash)| Some((id.parse().ok()?, hash.to_string())))
        .ok_or_else(|| StoreError::Corrupt(format!("audit chain pointer `{value}`")))
}

impl Store {
    /// Appends one entry (fields redacted) and returns it with its id and hashes.
    pub async fn append_audit(&self, record: &AuditRecord) -> Result<AuditEntry, StoreError> {
        let record = AuditRecord {
            // Who acted is never rewritten (a user or token name, not free text).
            actor: record.actor.clone(),
            role: record.role.clone(),
            action: record.action.clone(),
            target: redact::redact(&record.target).into_owned(),
            outcome: redact::redact(&record.outcome).into_owned(),
            detail: redact::redact(&record.detail).into_owned(),
        };
        let mut tx = self.begin_write().await?;
        let lock = match self.backend() {
            Backend::Sqlite => "SELECT value FROM settings WHERE key = 'audit.head'",
            Backend::Postgres => "SELECT value FROM settings WHERE key = 'audit.head' FOR UPDATE",
        };
        let head: String = sqlx::query(lock)
            .fetch_one(&mut *tx)
            .await?
            .try_get("value")?;
        let (last_id, prev_hash) = parse_link(&head)?;
        let id = last_id + 1;
        // Millisecond precision is what is stored, so hash exactly that.
        let at = ms(Utc::now());
        let hash = entry_hash(&prev_hash, id, at, &record);
        sqlx::query(
            "INSERT INTO audit (id, at, actor, role, action, target, outcome, detail, prev_hash, hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(at)
        .bind(record.actor.clone())
        .bind(record.role.clone())
        .bind(record.action.clone())
        .bind(record.target.clone())
        .bind(record.outcome.clone())
        .bind(record.detail.clone())
        .bind(prev_hash.clone())
        .bind(hash.clone())
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE settings SET value = $1, updated_at = $2 WHERE key = 'audit.head'")
            .bind(format!("{id}:{hash}"))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AuditEntry {
            id,
            at: time(at)?,
            record,
            prev_hash,
            hash,
        })
    }

    /// Entries matching `filter`: newest first, or oldest first after `after_id`.
    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let order = if filter.after_id.is_some() {
            "ASC"
        } else {
            "DESC"
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM audit WHERE ($1 IS NULL OR actor = $1) \
             AND ($2 IS NULL OR action LIKE $2) AND ($3 IS NULL OR at >= $3) \
             AND ($4 IS NULL OR id > $4) ORDER BY id {order} LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.actor.clone())
            .bind(
                filter
                    .action
                    .as_ref()
                    .map(|a| format!("{}%", a.replace('%', ""))),
            )
            .bind(filter.since.map(ms))
            .bind(filter.after_id)
            .bind(filter.limit.clamp(1, 10_000))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(decode_entry).collect()
    }

    /// Every entry in chain order, with the anchor (last pruned) and head (last appended)
    /// pointers, read in one snapshot-consistent pass for verification.
    pub async fn audit_chain(
        &self,
    ) -> Result<(Vec<AuditEntry>, (i64, String), (i64, String)), StoreError> {
        let mut tx = self.pool().begin().await?;
        let pointer = async |tx: &mut sqlx::Transaction<'static, sqlx::Any>, key: &str| {
            let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
                .bind(key.to_string())
                .fetch_one(&mut **tx)
                .await?;
            parse_link(&row.try_get::<String, _>("value")?)
        };
        let head = pointer(&mut tx, "audit.head").await?;
        let anchor = pointer(&mut tx, "audit.anchor").await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM audit WHERE id <= $1 ORDER BY id"
        ))
        .bind(head.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let entries = rows.iter().map(decode_entry).collect::<Result<_, _>>()?;
        Ok((entries, anchor, head))
    }

    /// Deletes entries recorded before `before`, moving the anchor to the newest deleted entry
    /// so the rest of the chain still verifies. Returns how many were deleted.
    pub async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let last = sqlx::query("SELECT id, hash FROM audit WHERE at < $1 ORDER BY id DESC LIMIT 1")
            .bind(ms(before))
            .fetch_optional(&mut *tx)
            .await?;
        let Some(last) = last else {
            return Ok(0);
        };
        let (id, hash): (i64, String) = (last.try_get("id")?, last.try_get("hash")?);
        let deleted = sqlx::query("DELETE FROM audit WHERE id <= $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE settings SET value = $1, updated_at = $2 WHERE key = 'audit.anchor'")
            .bind(format!("{id}:{hash}"))
            .bind(ms(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }
}

fn decode_entry(row: &AnyRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: row.try_get("id")?,
        at: time(row.try_get("at")?)?,
        record: AuditRecord {
            actor: row.try_get("actor")?,
            role: row.try_get("role")?,
            action: row.try_get("action")?,
            target: row.try_get("target")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
