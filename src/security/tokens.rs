//! Bearer secrets for API tokens and dashboard sessions: random, shown once, stored only as a
//! SHA-256 digest (a fast hash is right here: the secret has 256 bits of entropy).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every API token, so leaked tokens are easy to recognise (and to redact).
pub const TOKEN_PREFIX: &str = "hst_";

/// What a stored bearer secret is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An API token created by `homeostat token create` or `POST /api/v1/tokens`.
    Api,
    /// A dashboard session created by `POST /api/v1/auth/login`.
    Session,
}

impl TokenKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Session => "session",
        }
    }
}

/// A new random secret: `hst_` followed by 64 hex characters.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The stored form of a secret: lowercase hex SHA-256.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_and_digests_stable() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 68);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
    }
}
