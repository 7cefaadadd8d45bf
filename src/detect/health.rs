//! The health score: 0–100 from check statuses, and its band
//! HEALTHY (90–100) / DEGRADED (70–89) / UNHEALTHY (40–69) / CRITICAL (0–39).
//!
//! Formula: each check that has run scores ok 100, warning 70, unknown 50, critical 0; the score is
//! the rounded mean. Then it is capped so one bad check is never hidden by many good ones: any
//! `critical` caps it at 69 (UNHEALTHY at best), any `warning` or `unknown` at 89 (DEGRADED at best).
//! Checks that have not run yet are listed but not scored; with nothing scored the score is 100.

use crate::model::Status;
use serde::Serialize;
use utoipa::ToSchema;

/// The band a score falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    /// 90–100.
    Healthy,
    /// 70–89.
    Degraded,
    /// 40–69.
    Unhealthy,
    /// 0–39.
    Critical,
}

impl HealthStatus {
    /// The band of `score`.
    pub fn of(score: u8) -> HealthStatus {
        match score {
            90.. => HealthStatus::Healthy,
            70..=89 => HealthStatus::Degraded,
            40..=69 => HealthStatus::Unhealthy,
            _ => HealthStatus::Critical,
        }
    }
}

/// One scored part of the health.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Component {
    /// Check name.
    pub name: String,
    /// Its status; `null` when it has not run yet.
    pub status: Option<Status>,
    /// Its score, 0–100; `null` when it has not run yet.
    pub score: Option<u8>,
}

/// The overall health.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Health {
    /// The band.
    pub status: HealthStatus,
    /// 0–100.
    pub score: u8,
    /// Every check and its part.
    pub components: Vec<Component>,
}

/// What one status contributes.
pub fn status_score(status: Status) -> u8 {
    match status {
        Status::Ok => 100,
        Status::Warning => 70,
        Status::Unknown => 50,
        Status::Critical => 0,
    }
}

/// Computes the health of checks given as `(name, status if it has run)`.
pub fn health<'a>(checks: impl IntoIterator<Item = (&'a str, Option<Status>)>) -> Health {
    let components: Vec<Component> = checks
        .into_iter()
        .map(|(name, status)| Component {
            name: name.to_string(),
            status,
            score: status.map(status_score),
        })
        .collect();
    let scored: Vec<u8> = components.iter().filter_map(|c| c.score).collect();
    let mut score = if scored.is_empty() {
        100
    } else {
        let sum: u32 = scored.iter().map(|&s| u32::from(s)).sum();
        u8::try_from((f64::from(sum) / scored.len() as f64).round() as u32).unwrap_or(100)
    };
    let any = |wanted: &[Status]| {
        components
            .iter()
            .any(|c| c.status.is_some_and(|s| wanted.contains(&s)))
    };
    if any(&[Status::Critical]) {
        score = score.min(69);
    }
    if any(&[Status::Warning, Status::Unknown]) {
        score = score.min(89);
    }
    Health {
        status: HealthStatus::of(score),
        score,
        components,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_match_the_contract() {
        assert_eq!(HealthStatus::of(100), HealthStatus::Healthy);
        assert_eq!(HealthStatus::of(90), HealthStatus::Healthy);
        assert_eq!(HealthStatus::of(89), HealthStatus::Degraded);
        assert_eq!(HealthStatus::of(70), HealthStatus::Degraded);
        assert_eq!(HealthStatus::of(69), HealthStatus::Unhealthy);
        assert_eq!(HealthStatus::of(40), HealthStatus::Unhealthy);
        assert_eq!(HealthStatus::of(39), HealthStatus::Critical);
        assert_eq!(HealthStatus::of(0), HealthStatus::Critical);
    }

    #[test]
    fn one_critical_among_many_healthy_is_not_hidden() {
        let mut checks: Vec<(&str, Option<Status>)> = vec![("a", Some(Status::Ok)); 50];
        checks.push(("db", Some(Status::Critical)));
        let h = health(checks);
        assert_eq!(h.score, 69);
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn all_down_is_critical_and_nothing_run_is_healthy() {
        assert_eq!(
            health([("a", Some(Status::Critical)), ("b", Some(Status::Critical))]).score,
            0
        );
        let pending = health([("a", None)]);
        assert_eq!(
            (pending.score, pending.status),
            (100, HealthStatus::Healthy)
        );
        let mixed = health([("a", Some(Status::Ok)), ("b", Some(Status::Warning))]);
        assert_eq!((mixed.score, mixed.status), (85, HealthStatus::Degraded));
    }
}
