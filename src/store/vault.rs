//! The vault: secrets in the store, sealed under the master key. Every operation first checks
//! the key against the stored check value, so a wrong key is refused before anything changes.

use super::{Store, StoreError};
use crate::security::redact;
use crate::security::secrets::{MasterKey, SecretError, valid_name};
use std::collections::BTreeMap;

/// Why the vault failed: the secrets (key, name, a corrupt value) or the store under them.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key, a name or a stored value.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Secrets of one store under one master key.
#[derive(Clone, Debug)]
pub struct Vault {
    store: Store,
    key: MasterKey,
}

impl Vault {
    /// Opens the vault; fails with `WrongKey` when secrets were stored under another key.
    pub async fn open(store: Store, key: MasterKey) -> Result<Vault, VaultError> {
        let check = store.init_secrets_key_check(&key.check_value()).await?;
        if !key.matches(&check) {
            return Err(SecretError::WrongKey.into());
        }
        Ok(Vault { store, key })
    }

    /// Creates or replaces a secret.
    pub async fn set(&self, name: &str, value: &str) -> Result<(), VaultError> {
        if !valid_name(name) {
            return Err(SecretError::BadName(name.to_string()).into());
        }
        self.store
            .put_secret(name, &self.key.seal(name, value.as_bytes()))
            .await?;
        redact::register_secret(value);
        Ok(())
    }

    /// Every secret, decrypted, by name; each value is also registered for redaction.
    pub async fn all(&self) -> Result<BTreeMap<String, String>, VaultError> {
        let mut out = BTreeMap::new();
        for (name, sealed) in self.store.sealed_secrets().await? {
            let plain = self
                .key
                .open(&name, &sealed)
                .ok_or_else(|| SecretError::Corrupt(name.clone()))?;
            let value = String::from_utf8(plain).map_err(|_| SecretError::Corrupt(name.clone()))?;
            redact::register_secret(&value);
            out.insert(name, value);
        }
        Ok(out)
    }

    /// The names of every secret (no values).
    pub async fn names(&self) -> Result<Vec<String>, VaultError> {
        Ok(self
            .store
            .sealed_secrets()
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// Deletes a secret; false when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool, VaultError> {
        Ok(self.store.delete_secret(name).await?)
    }

    /// Re-encrypts every secret under `new_key` in one transaction; returns how many.
    pub async fn rotate(self, new_key: MasterKey) -> Result<(Vault, usize), VaultError> {
        let old_key = &self.key;
        let count = self
            .store
            .reseal_secrets(
                |name, sealed| {
                    let plain = old_key.open(name, sealed)?;
                    Some(new_key.seal(name, &plain))
                },
                &new_key.check_value(),
            )
            .await?
            .ok_or_else(|| SecretError::Corrupt("a stored secret".to_string()))?;
        Ok((
            Vault {
                store: self.store,
                key: new_key,
            },
            count,
        ))
    }
}
