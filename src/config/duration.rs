//! Human-friendly durations in config (`"500ms"`, `"10s"`, `"5m"`, `"24h"`).
//! Parsing errors carry the value's span through the TOML deserializer.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration written as a string with a unit, e.g. `"500ms"`, `"10s"`, `"5m"`, `"24h"`, `"7d"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub std::time::Duration);

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Self(std::time::Duration::from_millis(ms))
    }

    /// The standard-library duration.
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.is_empty() || !trimmed.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!(
                "invalid duration `{s}`: expected a number and a unit, like \"500ms\", \"10s\", \"5m\" or \"24h\""
            ));
        }
        humantime::parse_duration(trimmed).map(Duration).map_err(|e| {
            format!(
                "invalid duration `{s}` ({e}): expected a number and a unit, like \"500ms\", \"10s\", \"5m\" or \"24h\""
            )
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_examples() {
        assert_eq!("500ms".parse::<Duration>(), Ok(Duration::from_millis(500)));
        assert_eq!("10s".parse::<Duration>(), Ok(Duration::from_secs(10)));
        assert_eq!("5m".parse::<Duration>(), Ok(Duration::from_secs(300)));
        assert_eq!("24h".parse::<Duration>(), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn rejects_missing_units_and_garbage() {
        for bad in ["", "10", "ten seconds", "-5s", "5 parsecs", "s"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad} accepted");
        }
    }
}
