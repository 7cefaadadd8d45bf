//! Check status changes: turns probe outcomes into observations (flap control), keeps each
//! check's current state, and sends status changes as signals and on the event bus.

use super::flap::FlapFilter;
use super::health::{self, Health};
use crate::bus::EventBus;
use crate::checks::scheduler::OutcomeSink;
use crate::checks::{Check, Outcome};
use crate::model::{Event, Observation, Signal, Status, check_fingerprint};
use crate::telemetry::Metrics;
use crate::telemetry::events::{CheckRan, CheckStatusChanged};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use utoipa::ToSchema;

/// The current state of one check, as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CheckState {
    /// Check name.
    pub name: String,
    /// Check type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds between runs.
    pub interval_seconds: f64,
    /// Reported status (after flap control); `unknown` until the first run.
    pub status: Status,
    /// When the status last changed; `null` until the first run.
    pub since: Option<DateTime<Utc>>,
    /// Failing runs in a row.
    pub consecutive_failures: u32,
    /// Healthy runs in a row.
    pub consecutive_ok: u32,
    /// Start of the current failure (first failing run, before flap control); `null` when healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// Runs since start.
    pub runs: u64,
    /// Candidate runbooks.
    pub remedy: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The latest observation; `null` until the first run.
    pub last: Option<Observation>,
    #[serde(skip)]
    flap: FlapFilter,
}

/// Where the detector sends signals that may open or resolve incidents: every change to a
/// failing status, and a healthy signal once a check has been ok for `resolve_after_ok` runs.
/// Lossless (unbounded): signals only come from status changes, so their rate is bounded.
pub struct SignalSink {
    /// The incident manager's inbox.
    pub sender: tokio::sync::mpsc::UnboundedSender<Signal>,
    /// Healthy runs in a row before the healthy signal.
    pub resolve_after_ok: u32,
}

/// Keeps check states and emits signals.
pub struct Detector {
    states: RwLock<HashMap<String, CheckState>>,
    /// Config order, for stable listings.
    order: Vec<String>,
    bus: EventBus,
    metrics: Arc<Metrics>,
    signals: Option<SignalSink>,
}

impl Detector {
    /// A detector for `checks`, all `unknown` and not yet run; `signals` receives what may open
    /// or resolve incidents.
    pub fn new(
        checks: &[Arc<Check>],
        bus: EventBus,
        metrics: Arc<Metrics>,
        signals: Option<SignalSink>,
    ) -> Detector {
        let states = checks
            .iter()
            .map(|c| {
                let state = CheckState {
                    name: c.name.clone(),
                    kind: c.kind_name.as_str().to_string(),
                    interval_seconds: c.interval.as_secs_f64(),
                    status: Status::Unknown,
                    since: None,
                    consecutive_failures: 0,
                    consecutive_ok: 0,
                    failing_since: None,
                    runs: 0,
                    remedy: c.remedy.clone(),
                    labels: c.labels.clone(),
                    last: None,
                    flap: FlapFilter::default(),
                };
                (c.name.clone(), state)
            })
            .collect();
        metrics
            .checks
            .set(i64::try_from(checks.len()).unwrap_or(i64::MAX));
        Detector {
            states: RwLock::new(states),
            order: checks.iter().map(|c| c.name.clone()).collect(),
            bus,
            metrics,
            signals,
        }
    }

    /// Every check's state, in config order.
    pub fn states(&self) -> Vec<CheckState> {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        self.order
            .iter()
            .filter_map(|name| states.get(name).cloned())
            .collect()
    }

    /// One check's state.
    pub fn state(&self, name: &str) -> Option<CheckState> {
        self.states
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// The health score now (also exported as `homeostat_health_score`).
    pub fn health(&self) -> Health {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        let health = health::health(
            self.order
                .iter()
                .filter_map(|n| states.get(n))
                .map(|s| (s.name.as_str(), s.last.as_ref().map(|_| s.status))),
        );
        self.metrics.health_score.set(i64::from(health.score));
        health
    }

    /// Counts of checks by reported status.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let states = self.states.read().unwrap_or_else(|p| p.into_inner());
        let mut counts = BTreeMap::new();
        for s in states.values() {
            *counts.entry(s.status.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

impl OutcomeSink for Detector {
    /// Applies one run's outcome: flap control, state update, metrics, and a signal when the
    /// reported status changed. Returns the observation to store.
    fn observe(
        &self,
        check: &Check,
        outcome: Outcome,
        started_at: DateTime<Utc>,
        duration: Duration,
        lateness: Duration,
    ) -> Observation {
        // Redacted once here, before the message reaches the API, events, signals or the store.
        let mut outcome = outcome;
        if let std::borrow::Cow::Owned(clean) = crate::security::redact::redact(&outcome.message) {
            outcome.message = clean;
        }
        let mut states = self.states.write().unwrap_or_else(|p| p.into_inner());
        let Some(state) = states.get_mut(&check.name) else {
            // Not a configured check: nothing to track, but keep the evidence.
            return observation(check, &outcome, outcome.status, started_at, duration);
        };
        let previous = state.status;
        let first_run = state.runs == 0;
        let status = state
            .flap
            .filter(outcome.status, previous, check.failures_before_critical);
        let mut obs = observation(check, &outcome, status, started_at, duration);
        if outcome.status.is_failure() && status != outcome.status {
            obs.message = format!(
                "{} (failure {}/{} before {})",
                obs.message,
                state.flap.consecutive_failures(),
                check.failures_before_critical,
                outcome.status.as_str()
            );
        }
        state.status = status;
        state.consecutive_failures = state.flap.consecutive_failures();
        if outcome.status.is_failure() {
            state.consecutive_ok = 0;
            state.failing_since.get_or_insert(started_at);
        } else {
            state.consecutive_ok = state.consecutive_ok.saturating_add(1);
        }
        state.runs += 1;
        state.last = Some(obs.clone());
        if status != previous || first_run {
            state.since = Some(started_at);
        }
        let mut labels = state.labels.clone();
        labels.insert("check".into(), check.name.clone());
        labels.insert("type".into(), check.kind_name.as_str().into());
        let signal = |status: Status, failing_since: Option<DateTime<Utc>>| Signal {
            fingerprint: check_fingerprint(&check.name),
            check: Some(check.name.clone()),
            subject: check.name.clone(),
            labels: labels.clone(),
            impact: check.impact,
            status,
            previous,
            message: obs.message.clone(),
            at: started_at,
            failing_since,
        };
        let healthy_streak = self.signals.as_ref().is_some_and(|s| {
            status == Status::Ok && state.consecutive_ok == s.resolve_after_ok.max(1)
        });
        let changed = (status != previous).then(|| signal(status, state.failing_since));
        if healthy_streak {
            state.failing_since = None;
        }
        drop(states);
        CheckRan {
            check: &check.name,
            raw_status: outcome.status,
            status,
            duration,
            lateness,
        }
        .emit(&self.metrics);
        if let Some(sink) = &self.signals {
            if let Some(changed) = changed.as_ref().filter(|s| s.status.is_failure()) {
                let _ = sink.sender.send(changed.clone());
            }
            if healthy_streak {
                let _ = sink.sender.send(signal(Status::Ok, None));
            }
        }
        if let Some(changed) = changed {
            CheckStatusChanged {
                check: &check.name,
                previous,
                status,
                message: &obs.message,
            }
            .emit(&self.metrics);
            self.bus.publish(Event::CheckStatus(changed));
        }
        obs
    }
}

fn observation(
    check: &Check,
    outcome: &Outcome,
    status: Status,
    started_at: DateTime<Utc>,
    duration: Duration,
) -> Observation {
    Observation {
        check: check.name.clone(),
        status,
        raw_status: outcome.status,
        latency_ms: duration.as_secs_f64() * 1000.0,
        message: outcome.message.clone(),
        metrics: outcome.metrics.clone(),
        observed_at: started_at,
    }
}
