//! Secrets: values encrypted with XChaCha20-Poly1305 under a 256-bit master key that comes from
//! `HOMEOSTAT_MASTER_KEY` or a key file (mode 0600). A stored check value tells a wrong key
//! apart from corrupt data before anything is decrypted or re-encrypted.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use std::path::Path;

/// The environment variable holding the master key (64 hex characters).
pub const MASTER_KEY_ENV: &str = "HOMEOSTAT_MASTER_KEY";

/// The associated data of the key check value (not a valid secret name, so never a secret's).
const CHECK_NAME: &str = "-key-check-";

/// The plaintext of the key check value.
const CHECK_PLAINTEXT: &[u8] = b"homeostat master key check v1";

/// Why secrets cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Neither the environment variable nor a key file is configured.
    #[error("no master key: set {MASTER_KEY_ENV} or [security] master_key_file")]
    NoKey,
    /// The key text is not 64 hex characters.
    #[error("the master key must be 64 hex characters (32 bytes)")]
    BadKey,
    /// The key file could not be read or written.
    #[error("master key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key does not open the stored secrets.
    #[error(
        "the master key does not match the one the secrets were stored with; nothing was changed"
    )]
    WrongKey,
    /// A stored value could not be decrypted even though the key is right.
    #[error("secret `{0}` is corrupt")]
    Corrupt(String),
    /// A secret name that cannot be used in templates.
    #[error("secret name `{0}`: use letters, digits and `_` only, starting with a letter")]
    BadName(String),
}

/// An encrypted value: hex nonce and hex ciphertext (with tag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// 24-byte nonce, hex.
    pub nonce: String,
    /// Ciphertext and tag, hex.
    pub ciphertext: String,
}

/// The master key.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<MasterKey, SecretError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SecretError::BadKey)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?;
        crate::security::redact::register_secret(text.trim());
        Ok(MasterKey { cipher })
    }

    /// A new random key and its hex form.
    pub fn generate() -> (MasterKey, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let text = hex::encode(bytes);
        let key = MasterKey {
            cipher: XChaCha20Poly1305::new_from_slice(&bytes)
                .unwrap_or_else(|_| unreachable!("32 bytes is the key size")),
        };
        (key, text)
    }

    /// The key from `HOMEOSTAT_MASTER_KEY`, else from `key_file`.
    pub fn load(
        env_value: Option<String>,
        key_file: Option<&Path>,
    ) -> Result<MasterKey, SecretError> {
        if let Some(text) = env_value.filter(|v| !v.trim().is_empty()) {
            return MasterKey::from_hex(&text);
        }
        let path = key_file.ok_or(SecretError::NoKey)?;
        let file_error = |reason: String| SecretError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| file_error(e.to_string()))?;
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(file_error(format!(
                "mode {:o} lets others read it; chmod 600 it",
                meta.permissions().mode() & 0o777
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        MasterKey::from_hex(&text)
    }

    /// Writes a new key file with mode 0600; refuses to overwrite.
    pub fn write_new_file(path: &Path) -> Result<MasterKey, SecretError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let (key, text) = MasterKey::generate();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| SecretError::KeyFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        writeln!(file, "{text}").map_err(|e| SecretError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(key)
    }

    /// Encrypts `plaintext` with a fresh random nonce, bound to `name` (associated data: a
    /// ciphertext moved to another name does not open).
    pub fn seal(&self, name: &str, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: name.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("encryption into a Vec cannot fail"));
        Sealed {
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
        }
    }

    /// Decrypts the value sealed for `name`; `None` when the key is wrong, the data was
    /// altered or it was sealed for another name.
    pub fn open(&self, name: &str, sealed: &Sealed) -> Option<Vec<u8>> {
        let nonce: [u8; 24] = hex::decode(&sealed.nonce).ok()?.try_into().ok()?;
        let ciphertext = hex::decode(&sealed.ciphertext).ok()?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: name.as_bytes(),
                },
            )
            .ok()
    }

    /// The check value stored beside the secrets.
    pub fn check_value(&self) -> Sealed {
        self.seal(CHECK_NAME, CHECK_PLAINTEXT)
    }

    /// Whether this key produced `check`.
    pub fn matches(&self, check: &Sealed) -> bool {
        self.open(CHECK_NAME, check).as_deref() == Some(CHECK_PLAINTEXT)
    }
}

/// Whether `name` can be a secret name (usable as `{{ secrets.NAME }}`).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key() {
        let (key, text) = MasterKey::generate();
        let sealed = key.seal("DB", b"hunter2");
        assert!(!sealed.ciphertext.contains(&hex::encode(b"hunter2")));
        assert_eq!(key.open("DB", &sealed).as_deref(), Some(&b"hunter2"[..]));
        assert_eq!(key.open("OTHER", &sealed), None, "bound to its name");
        let same = MasterKey::from_hex(&text).expect("hex");
        assert_eq!(same.open("DB", &sealed).as_deref(), Some(&b"hunter2"[..]));
        let (other, _) = MasterKey::generate();
        assert_eq!(other.open("DB", &sealed), None);
        assert!(key.matches(&key.check_value()));
        assert!(!other.matches(&key.check_value()));
        let mut tampered = sealed.clone();
        tampered.ciphertext.replace_range(0..2, "00");
        assert!(tampered == sealed || key.open("DB", &tampered).is_none());
        assert_ne!(key.seal("DB", b"x").nonce, key.seal("DB", b"x").nonce);
    }

    #[test]
    fn keys_and_names_are_validated() {
        assert!(MasterKey::from_hex("abc").is_err());
        assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(valid_name("DB_PASSWORD") && valid_name("a1"));
        assert!(!valid_name("1a") && !valid_name("a-b") && !valid_name(""));
    }

    #[test]
    fn key_files_must_be_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        let key = MasterKey::write_new_file(&path).expect("write");
        let loaded = MasterKey::load(None, Some(&path)).expect("load");
        assert!(loaded.matches(&key.check_value()));
        assert!(
            MasterKey::write_new_file(&path).is_err(),
            "never overwrites"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            MasterKey::load(None, Some(&path)),
            Err(SecretError::KeyFile { .. })
        ));
        assert!(matches!(
            MasterKey::load(None, None),
            Err(SecretError::NoKey)
        ));
    }
}
