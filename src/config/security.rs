//! `[security]` (login protection, sessions, secrets key, audit retention) and `[[user]]`
//! (accounts defined in the config file, each with an argon2 password hash and a role).

use super::{Duration, Role};
use serde::Deserialize;
use toml::Spanned;

/// Login protection, sessions, the secrets master key and audit retention.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// Failed logins (per user and, separately, per client IP) within `login_window` before
    /// logins are refused for `lockout`. Default `5`.
    #[serde(default = "default_max_login_attempts")]
    pub max_login_attempts: u32,
    /// The window in which failed logins are counted. Default `"15m"`.
    #[serde(default = "default_login_window")]
    pub login_window: Duration,
    /// How long a locked user or IP is refused (429 with `Retry-After`). Default `"15m"`.
    #[serde(default = "default_lockout")]
    pub lockout: Duration,
    /// Lifetime of a dashboard session cookie. Default `"12h"`.
    #[serde(default = "default_session_ttl")]
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (only sent over HTTPS, e.g. behind a TLS proxy).
    /// Default `false`.
    #[serde(default)]
    pub secure_cookies: bool,
    /// File holding the secrets master key (64 hex characters, mode 0600); used when
    /// `HOMEOSTAT_MASTER_KEY` is not set.
    pub master_key_file: Option<Spanned<String>>,
    /// Audit entries older than this are pruned (the chain stays verifiable from the newest
    /// pruned entry on). Default: kept forever.
    pub audit_retention: Option<Duration>,
}

fn default_max_login_attempts() -> u32 {
    5
}

fn default_login_window() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_lockout() -> Duration {
    Duration::from_secs(15 * 60)
}

fn default_session_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            max_login_attempts: default_max_login_attempts(),
            login_window: default_login_window(),
            lockout: default_lockout(),
            session_ttl: default_session_ttl(),
            secure_cookies: false,
            master_key_file: None,
            audit_retention: None,
        }
    }
}

/// One `[[user]]`: an account defined in the config file (read-only for the CLI and API).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// Login name, unique across config and stored users.
    pub name: Spanned<String>,
    /// Argon2 PHC string (`$argon2id$v=19$...`); `homeostat user hash` prints one.
    pub password_hash: Spanned<String>,
    /// The user's role.
    pub role: Role,
}
