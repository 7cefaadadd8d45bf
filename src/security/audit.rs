//! The audit log: every state-changing action with actor, role, action, target, outcome and
//! time. Each entry carries the SHA-256 of the previous one, so an edited, inserted or deleted
//! row breaks the chain at a row that [`verify`] names.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is recorded about one action (before it gets its id and hashes).
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Who acted: a user, a token name, `bootstrap-admin`, `cli:<os user>` or `homeostat`.
    pub actor: String,
    /// The actor's role (`system` for the daemon itself).
    pub role: String,
    /// What was done, e.g. `incident.ack`, `repair.approve`, `secret.set`, `login`.
    pub action: String,
    /// What it was done to (an id, a name or a path).
    pub target: String,
    /// How it ended, e.g. `ok`, `denied`, `failed: …`, or an HTTP status.
    pub outcome: String,
    /// Extra context (already redacted).
    pub detail: String,
}

impl AuditRecord {
    /// A record with an empty detail.
    pub fn new(
        actor: impl Into<String>,
        role: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> AuditRecord {
        AuditRecord {
            actor: actor.into(),
            role: role.into(),
            action: action.into(),
            target: target.into(),
            outcome: outcome.into(),
            detail: String::new(),
        }
    }

    /// The daemon acting on its own (automatic repair decisions).
    pub fn system(
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: impl Into<String>,
    ) -> AuditRecord {
        AuditRecord::new("homeostat", "system", action, target, outcome)
    }

    /// Adds context.
    pub fn with_detail(mut self, detail: impl Into<String>) -> AuditRecord {
        self.detail = detail.into();
        self
    }
}

/// One stored entry.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub id: i64,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// Who did what to what, and how it ended (its fields stand in the entry's JSON itself).
    #[serde(flatten)]
    pub record: AuditRecord,
    /// Hash of the previous entry.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and every field of this entry.
    pub hash: String,
}

/// The hash of an entry with these contents.
pub fn entry_hash(prev_hash: &str, id: i64, at_ms: i64, r: &AuditRecord) -> String {
    // A JSON array keeps field boundaries unambiguous.
    let canonical = serde_json::json!([
        prev_hash, id, at_ms, r.actor, r.role, r.action, r.target, r.outcome, r.detail
    ])
    .to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

impl AuditEntry {
    /// The hash this entry should have.
    pub fn expected_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.id,
            self.at.timestamp_millis(),
            &self.record,
        )
    }
}

/// Where the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum ChainBreak {
    /// A row's contents do not match its hash: it was edited.
    #[error("audit entry {id} was modified (its hash does not match its contents)")]
    Modified {
        /// The edited row.
        id: i64,
    },
    /// Rows are missing between two entries.
    #[error("audit entries {from}..={to} are missing (deleted)")]
    Missing {
        /// First missing id.
        from: i64,
        /// Last missing id.
        to: i64,
    },
    /// A row does not link to its predecessor: it or its predecessor was replaced.
    #[error("audit entry {id} does not follow entry {previous} (chain link broken)")]
    Unlinked {
        /// The row whose `prev_hash` is wrong.
        id: i64,
        /// The row before it.
        previous: i64,
    },
    /// The newest rows were removed (the recorded head is further on).
    #[error("audit entries after {last} are missing; the chain head is entry {head}")]
    Truncated {
        /// The last row present.
        last: i64,
        /// The head recorded with the last append.
        head: i64,
    },
}

/// Checks `entries` (ascending ids) against the anchor (last pruned id and hash) and the head
/// (last appended id and hash). Returns the number of entries checked.
pub fn verify(
    entries: &[AuditEntry],
    anchor: (i64, &str),
    head: (i64, &str),
) -> Result<usize, ChainBreak> {
    let (mut prev_id, mut prev_hash) = (anchor.0, anchor.1.to_string());
    for entry in entries {
        if entry.id > prev_id + 1 {
            return Err(ChainBreak::Missing {
                from: prev_id + 1,
                to: entry.id - 1,
            });
        }
        if entry.expected_hash() != entry.hash {
            return Err(ChainBreak::Modified { id: entry.id });
        }
        if entry.prev_hash != prev_hash {
            return Err(ChainBreak::Unlinked {
                id: entry.id,
                previous: prev_id,
            });
        }
        prev_id = entry.id;
        prev_hash = entry.hash.clone();
    }
    if head.0 > prev_id {
        return Err(ChainBreak::Truncated {
            last: prev_id,
            head: head.0,
        });
    }
    if head.0 == prev_id && head.1 != prev_hash {
        return Err(ChainBreak::Modified { id: prev_id });
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|id| {
                let r = AuditRecord::new("alice", "admin", "incident.ack", id.to_string(), "ok");
                let at = DateTime::from_timestamp_millis(1_700_000_000_000 + id).expect("time");
                let hash = entry_hash(&prev, id, at.timestamp_millis(), &r);
                let e = AuditEntry {
                    id,
                    at,
                    record: r,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn head(c: &[AuditEntry]) -> (i64, String) {
        c.last()
            .map(|e| (e.id, e.hash.clone()))
            .unwrap_or((0, GENESIS.into()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        let (h, hh) = head(&c);
        assert_eq!(verify(&c, (0, GENESIS), (h, &hh)), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS), (0, GENESIS)), Ok(0));
    }

    #[test]
    fn every_kind_of_tampering_is_named() {
        let c = chain(5);
        let (h, hh) = head(&c);
        let mut edited = c.clone();
        edited[2].record.outcome = "denied".into();
        assert_eq!(
            verify(&edited, (0, GENESIS), (h, &hh)),
            Err(ChainBreak::Modified { id: 3 })
        );

        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&deleted, (0, GENESIS), (h, &hh)),
            Err(ChainBreak::Missing { from: 2, to: 2 })
        );

        // A row rewritten with a recomputed hash still breaks the next link.
        let mut rehashed = c.clone();
        rehashed[1].record.actor = "mallory".into();
        rehashed[1].hash = rehashed[1].expected_hash();
        assert_eq!(
            verify(&rehashed, (0, GENESIS), (h, &hh)),
            Err(ChainBreak::Unlinked { id: 3, previous: 2 })
        );

        let truncated = &c[..4];
        assert_eq!(
            verify(truncated, (0, GENESIS), (h, &hh)),
            Err(ChainBreak::Truncated { last: 4, head: 5 })
        );
    }

    #[test]
    fn a_pruned_chain_verifies_from_its_anchor() {
        let c = chain(5);
        let (h, hh) = head(&c);
        let anchor = (c[1].id, c[1].hash.as_str());
        assert_eq!(verify(&c[2..], anchor, (h, &hh)), Ok(3));
    }
}
