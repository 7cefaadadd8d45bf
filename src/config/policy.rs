//! `[policy]`: the global safety settings that every repair obeys.
//! The remediation engine reads these; the foundation reports the mode.

use serde::{Deserialize, Serialize};

/// What Homeostat may do about what it finds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Detect and open incidents only.
    Observe,
    /// Also plan repairs and record exactly what would run; run nothing.
    DryRun,
    /// Run repairs.
    #[default]
    Enforce,
}

impl Mode {
    /// How much this mode allows: observe 0 < dry-run 1 < enforce 2.
    pub fn permissiveness(self) -> u8 {
        match self {
            Mode::Observe => 0,
            Mode::DryRun => 1,
            Mode::Enforce => 2,
        }
    }

    /// The stricter of two modes.
    pub fn strictest(self, other: Mode) -> Mode {
        if other.permissiveness() < self.permissiveness() {
            other
        } else {
            self
        }
    }

    /// The name used in config and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Observe => "observe",
            Mode::DryRun => "dry-run",
            Mode::Enforce => "enforce",
        }
    }
}

/// Global safety settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `observe`, `dry-run` or `enforce`. Default `enforce`.
    #[serde(default)]
    pub mode: Mode,
    /// Repairs running at the same time, at most. Default `4`.
    #[serde(default = "default_max_concurrent_repairs")]
    pub max_concurrent_repairs: u32,
    /// Repairs started in any hour, at most. Default `60`.
    #[serde(default = "default_max_repairs_per_hour")]
    pub max_repairs_per_hour: u32,
}

fn default_max_concurrent_repairs() -> u32 {
    4
}

fn default_max_repairs_per_hour() -> u32 {
    60
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            mode: Mode::default(),
            max_concurrent_repairs: default_max_concurrent_repairs(),
            max_repairs_per_hour: default_max_repairs_per_hour(),
        }
    }
}
