//! Encrypted secrets in the store (nonce and ciphertext only) and the master key check value.

use super::{Store, StoreError, ms};
use crate::security::secrets::Sealed;
use chrono::Utc;
use sqlx::Row;

/// The settings key of the master key check value.
const CHECK_KEY: &str = "secrets.key_check";

fn encode(sealed: &Sealed) -> String {
    format!("{}:{}", sealed.nonce, sealed.ciphertext)
}

fn decode(text: &str) -> Option<Sealed> {
    let (nonce, ciphertext) = text.split_once(':')?;
    Some(Sealed {
        nonce: nonce.to_string(),
        ciphertext: ciphertext.to_string(),
    })
}

impl Store {
    /// The stored master key check value, if any secret was ever stored.
    pub async fn secrets_key_check(&self) -> Result<Option<Sealed>, StoreError> {
        Ok(self.setting(CHECK_KEY).await?.as_deref().and_then(decode))
    }

    /// Stores the check value unless one exists; returns the one in force.
    pub async fn init_secrets_key_check(&self, check: &Sealed) -> Result<Sealed, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
        )
        .bind(CHECK_KEY.to_string())
        .bind(encode(check))
        .bind(ms(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(CHECK_KEY.to_string())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let value: String = row.try_get("value")?;
        decode(&value).ok_or_else(|| StoreError::Corrupt("secrets key check".into()))
    }

    /// Creates or replaces a secret.
    pub async fn put_secret(&self, name: &str, sealed: &Sealed) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO secrets (name, nonce, ciphertext, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce, \
             ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        )
        .bind(name.to_string())
        .bind(sealed.nonce.clone())
        .bind(sealed.ciphertext.clone())
        .bind(ms(Utc::now()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every secret, sealed, by name.
    pub async fn sealed_secrets(&self) -> Result<Vec<(String, Sealed)>, StoreError> {
        let rows = sqlx::query("SELECT name, nonce, ciphertext FROM secrets ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    Sealed {
                        nonce: r.try_get("nonce")?,
                        ciphertext: r.try_get("ciphertext")?,
                    },
                ))
            })
            .collect()
    }

    /// Deletes a secret; false when there was none.
    pub async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let delete = sqlx::query("DELETE FROM secrets WHERE name = $1").bind(name.to_string());
        Ok(self.write_one(delete).await? == 1)
    }

    /// Key rotation in one write transaction: every secret is read, passed through `reseal`
    /// (old key → new key) and written back with the new check value, so a `secret set` running
    /// at the same time waits instead of being lost. `None` from `reseal` (a value the old key
    /// cannot open) aborts with nothing changed. Returns how many were resealed.
    pub async fn reseal_secrets(
        &self,
        reseal: impl Fn(&str, &Sealed) -> Option<Sealed>,
        check: &Sealed,
    ) -> Result<Option<usize>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query("SELECT name, nonce, ciphertext FROM secrets ORDER BY name")
            .fetch_all(&mut *tx)
            .await?;
        let now = ms(Utc::now());
        for row in &rows {
            let name: String = row.try_get("name")?;
            let old = Sealed {
                nonce: row.try_get("nonce")?,
                ciphertext: row.try_get("ciphertext")?,
            };
            let Some(new) = reseal(&name, &old) else {
                return Ok(None); // dropping the transaction rolls it back
            };
            sqlx::query(
                "UPDATE secrets SET nonce = $1, ciphertext = $2, updated_at = $3 WHERE name = $4",
            )
            .bind(new.nonce)
            .bind(new.ciphertext)
            .bind(now)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE settings SET value = $1, updated_at = $2 WHERE key = $3")
            .bind(encode(check))
            .bind(now)
            .bind(CHECK_KEY.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(rows.len()))
    }
}
