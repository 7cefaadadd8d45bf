//! `[store]`: where everything durable lives and how long observations are kept.
//! SQLite by default; a `postgres://` URL switches to PostgreSQL.

use super::Duration;
use serde::Deserialize;
use toml::Spanned;

/// The durable store.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created on first start) or `postgres://user@host/db`.
    /// Default `"sqlite://homeostat.db"`.
    #[serde(default = "default_url")]
    pub url: Spanned<String>,
    /// Keep at most this many observations per check (older ones are pruned). Default `1440`.
    #[serde(default = "default_retention_per_check")]
    pub retention_per_check: u32,
    /// Prune observations older than this. Default `"7d"`.
    #[serde(default = "default_retention_max_age")]
    pub retention_max_age: Duration,
    /// How often the batched observation writer flushes. Default `"1s"`.
    #[serde(default = "default_flush_interval")]
    pub flush_interval: Duration,
    /// How often retention runs. Default `"5m"`.
    #[serde(default = "default_prune_interval")]
    pub prune_interval: Duration,
}

fn default_url() -> Spanned<String> {
    Spanned::new(0..0, "sqlite://homeostat.db".to_string())
}

fn default_retention_per_check() -> u32 {
    1440
}

fn default_retention_max_age() -> Duration {
    Duration::from_secs(7 * 86_400)
}

fn default_flush_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_prune_interval() -> Duration {
    Duration::from_secs(300)
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            retention_per_check: default_retention_per_check(),
            retention_max_age: default_retention_max_age(),
            flush_interval: default_flush_interval(),
            prune_interval: default_prune_interval(),
        }
    }
}
