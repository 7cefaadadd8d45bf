//! The query parts list endpoints share: paging (`limit`, `offset`) checked against each list's
//! default and maximum, and a state filter by name. A bad value is a 400 that says what to send.

use super::error::ApiError;
use serde::Deserialize;
use utoipa::IntoParams;

/// Page size and start of a list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct Paging {
    /// Page size, from 1 to the list's maximum (default and maximum: see the endpoint).
    pub limit: Option<u32>,
    /// Items to skip (default 0).
    pub offset: Option<u32>,
}

impl Paging {
    /// The page size (`default` when not given); 400 outside `1..=max`.
    pub fn limit(&self, default: u32, max: u32) -> Result<u32, ApiError> {
        limit(self.limit, default, max)
    }

    /// Items to skip.
    pub fn offset(&self) -> u32 {
        self.offset.unwrap_or(0)
    }
}

/// A page size or count: `default` when not given; 400 outside `1..=max`.
pub fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = value.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::bad_request(format!(
            "limit must be between 1 and {max}"
        )))
    }
}

/// The state named `name` among `all` (none when not given or empty); 400 naming every state
/// when there is no such state.
pub fn state_filter<S: Copy>(
    name: Option<&str>,
    all: &[S],
    as_str: fn(S) -> &'static str,
) -> Result<Option<S>, ApiError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    all.iter()
        .copied()
        .find(|s| as_str(*s) == name)
        .map(Some)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|s| as_str(*s)).collect();
            ApiError::bad_request(format!(
                "unknown state `{name}`; expected one of: {}",
                names.join(", ")
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::IncidentState;

    #[test]
    fn limits_and_states_are_checked() {
        assert_eq!(limit(None, 50, 500).ok(), Some(50));
        assert_eq!(limit(Some(500), 50, 500).ok(), Some(500));
        assert!(limit(Some(0), 50, 500).is_err() && limit(Some(501), 50, 500).is_err());
        let state = |name| state_filter(name, &IncidentState::ALL, IncidentState::as_str);
        assert_eq!(state(None).ok(), Some(None));
        assert_eq!(state(Some("")).ok(), Some(None));
        assert_eq!(state(Some("open")).ok(), Some(Some(IncidentState::Open)));
        assert!(state(Some("opne")).is_err());
    }
}
