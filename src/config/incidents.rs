//! `[incidents]`: how incidents open, resolve and close.
//! Each check's `impact` (with its severity) sets an incident's priority.

use super::Duration;
use serde::Deserialize;

/// Incident lifecycle settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentsConfig {
    /// Healthy runs in a row before an incident auto-resolves. Default `1`.
    #[serde(default = "default_resolve_after_ok")]
    pub resolve_after_ok: u32,
    /// A resolved incident closes after this long (a new failure then opens a new incident;
    /// before it, the failure reopens the resolved one). Default `"1h"`.
    #[serde(default = "default_close_after")]
    pub close_after: Duration,
}

fn default_resolve_after_ok() -> u32 {
    1
}

fn default_close_after() -> Duration {
    Duration::from_secs(3600)
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        Self {
            resolve_after_ok: default_resolve_after_ok(),
            close_after: default_close_after(),
        }
    }
}
