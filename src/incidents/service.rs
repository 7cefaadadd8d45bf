//! The incident service: turns signals into incidents (open, update, reopen, auto-resolve),
//! performs human transitions (ack, resolve), closes stale resolved incidents, and announces
//! every change on the event bus and in metrics.

use super::TransitionError;
use crate::bus::EventBus;
use crate::config::Config;
use crate::model::{Event, Incident, IncidentState, Priority, Signal};
use crate::store::{FailureOutcome, FailureRecord, Store, StoreError, Transition};
use crate::telemetry::Metrics;
use chrono::Utc;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

/// How often resolved incidents are checked for closing.
const CLOSE_EVERY: Duration = Duration::from_secs(30);

/// Incident lifecycle operations.
#[derive(Clone)]
pub struct IncidentService {
    store: Store,
    config: Arc<Config>,
    bus: EventBus,
    metrics: Arc<Metrics>,
    /// Where incidents that need repair go (the remediation engine's inbox).
    repairs: Option<UnboundedSender<Incident>>,
}

impl IncidentService {
    /// A service over `store`.
    pub fn new(
        store: Store,
        config: Arc<Config>,
        bus: EventBus,
        metrics: Arc<Metrics>,
    ) -> IncidentService {
        IncidentService {
            store,
            config,
            bus,
            metrics,
            repairs: None,
        }
    }

    /// Sends newly opened and reopened incidents to `repairs`.
    pub fn with_repairs(mut self, repairs: UnboundedSender<Incident>) -> IncidentService {
        self.repairs = Some(repairs);
        self
    }

    /// Automatic transition by the remediation engine (`actor` is `homeostat`). A conflict (a
    /// human or the check got there first) is not an error: the result is `None`.
    pub async fn automatic(
        &self,
        id: &str,
        to: IncidentState,
        message: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let from: &[IncidentState] = match to {
            IncidentState::Remediating => &[
                IncidentState::Open,
                IncidentState::Acknowledged,
                IncidentState::Escalated,
            ],
            IncidentState::Escalated => &[
                IncidentState::Open,
                IncidentState::Acknowledged,
                IncidentState::Remediating,
            ],
            _ => &ACTIVE,
        };
        let moved = self.moved(id, from, to, Utc::now(), message).await?;
        if let Some(incident) = &moved {
            if to == IncidentState::Escalated {
                tracing::error!(incident = %incident.id, reason = message, "incident escalated: a human must act");
            }
            self.announce(to.as_str(), incident).await;
        }
        Ok(moved)
    }

    /// Applies one signal: a failure opens/updates/reopens its incident; a healthy signal
    /// resolves the active one. Returns the incident touched, if any.
    pub async fn on_signal(&self, signal: &Signal) -> Result<Option<Incident>, StoreError> {
        let now = Utc::now();
        if !signal.status.is_failure() {
            let Some(active) = self.store.active_incident(&signal.fingerprint).await? else {
                return Ok(None);
            };
            let message = match &signal.check {
                Some(check) => format!(
                    "auto-resolved: {check} healthy for {} run(s)",
                    self.config.incidents.resolve_after_ok
                ),
                None => format!("auto-resolved: {}: {}", signal.subject, signal.message),
            };
            // `None` when someone resolved it meanwhile: nothing to do.
            let moved = self
                .moved(
                    &active.id,
                    &ACTIVE,
                    IncidentState::Resolved,
                    signal.at,
                    &message,
                )
                .await?;
            if let Some(incident) = &moved {
                self.announce("resolved", incident).await;
            }
            return Ok(moved);
        }
        let close_after = chrono::Duration::from_std(self.config.incidents.close_after.get())
            .unwrap_or(chrono::Duration::MAX);
        let title = format!(
            "{} is {}: {}",
            signal.subject,
            signal.status.as_str(),
            signal.message
        );
        let message = format!(
            "{} {} → {}: {}",
            signal.subject,
            signal.previous.as_str(),
            signal.status.as_str(),
            signal.message
        );
        let record = FailureRecord {
            fingerprint: &signal.fingerprint,
            title: &title,
            severity: signal.status,
            priority: Priority::from(signal.impact, signal.status),
            check: signal.check.as_deref(),
            labels: &signal.labels,
            started_at: signal.failing_since.unwrap_or(signal.at),
            at: signal.at.min(now),
            message: &message,
            reopen_after_resolved: now.checked_sub_signed(close_after).unwrap_or(now),
        };
        let (incident, outcome) = self.store.record_failure(&record).await?;
        let action = match outcome {
            FailureOutcome::Opened => {
                self.metrics
                    .incidents_opened
                    .get_or_create(&crate::telemetry::PriorityLabels {
                        priority: incident.priority.as_str().to_string(),
                    })
                    .inc();
                tracing::warn!(incident = %incident.id, fingerprint = %incident.fingerprint, priority = incident.priority.as_str(), title = %incident.title, "incident opened");
                "opened"
            }
            FailureOutcome::Reopened => "reopened",
            FailureOutcome::Updated => "updated",
        };
        if outcome != FailureOutcome::Updated
            && let Some(repairs) = &self.repairs
        {
            let _ = repairs.send(incident.clone());
        }
        self.announce(action, &incident).await;
        Ok(Some(incident))
    }

    /// An automatic move of incident `id` to `to` (actor `homeostat`); `None` when the incident
    /// is gone or another change got there first (a human, the check).
    async fn moved(
        &self,
        id: &str,
        from: &[IncidentState],
        to: IncidentState,
        at: chrono::DateTime<Utc>,
        message: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let done = self
            .store
            .transition_incident(id, from, to, at, "homeostat", message)
            .await?;
        Ok(match done {
            Transition::Moved(incident) => Some(*incident),
            Transition::NotFound | Transition::Refused(_) => None,
        })
    }

    /// A human moves incident `id` to `to`: `acknowledged` (from open or escalated) or
    /// `resolved` (from any active state). `note` goes into the timeline.
    pub async fn human(
        &self,
        id: &str,
        to: IncidentState,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Incident, TransitionError> {
        let from: &[IncidentState] = match to {
            IncidentState::Acknowledged => &[IncidentState::Open, IncidentState::Escalated],
            _ => &ACTIVE,
        };
        let message = match note {
            Some(note) => format!("{} by {actor}: {note}", to.as_str()),
            None => format!("{} by {actor}", to.as_str()),
        };
        let done = self
            .store
            .transition_incident(id, from, to, Utc::now(), actor, &message)
            .await?;
        let incident = TransitionError::check(done, id, to)?;
        self.announce(to.as_str(), &incident).await;
        Ok(incident)
    }

    /// Resolves the active incidents nothing configured can resolve any more: their check, log
    /// source or log rule was removed from the config (or renamed), so no healthy signal of their
    /// fingerprint will come. `configured` holds the check and log fingerprints in force.
    /// Incidents being remediated are left to their repair. Returns how many were resolved.
    pub async fn resolve_orphans(&self, configured: &HashSet<String>) -> Result<usize, StoreError> {
        // Not from `remediating`: a repair (of another node, in a cluster) owns it.
        const FROM: [IncidentState; 3] = [
            IncidentState::Open,
            IncidentState::Acknowledged,
            IncidentState::Escalated,
        ];
        let mut resolved = 0;
        for incident in self.store.active_incidents().await? {
            let ours = incident.fingerprint.starts_with("check:")
                || incident.fingerprint.starts_with("log:");
            if !ours || configured.contains(&incident.fingerprint) {
                continue;
            }
            let message = format!(
                "auto-resolved: nothing in the config produces `{}` any more (its check, log source \
                 or log rule was removed or renamed)",
                incident.fingerprint
            );
            let moved = self
                .moved(
                    &incident.id,
                    &FROM,
                    IncidentState::Resolved,
                    Utc::now(),
                    &message,
                )
                .await?;
            if let Some(incident) = moved {
                tracing::info!(incident = %incident.id, fingerprint = %incident.fingerprint, "resolved an incident whose source is no longer configured");
                self.announce("resolved", &incident).await;
                resolved += 1;
            }
        }
        Ok(resolved)
    }

    async fn announce(&self, action: &'static str, incident: &Incident) {
        if let Ok(open) = self.store.count_active_incidents().await {
            self.metrics.incidents_open.set(open);
        }
        self.bus.publish(Event::Incident {
            action,
            incident: Box::new(incident.clone()),
        });
    }

    /// Consumes signals until `shutdown`, then drains what is already queued; closes stale
    /// resolved incidents on the way. A store failure is retried, so no signal is lost to a
    /// short outage.
    pub async fn run(self, mut signals: UnboundedReceiver<Signal>, shutdown: CancellationToken) {
        if let Ok(open) = self.store.count_active_incidents().await {
            self.metrics.incidents_open.set(open);
        }
        let mut closer = tokio::time::interval(CLOSE_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                signal = signals.recv() => match signal {
                    Some(signal) => self.apply(&signal).await,
                    None => return,
                },
                _ = closer.tick() => self.close_stale().await,
            }
        }
        while let Ok(signal) = signals.try_recv() {
            self.apply(&signal).await;
        }
    }

    async fn apply(&self, signal: &Signal) {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=5 {
            match self.on_signal(signal).await {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, attempt, fingerprint = %signal.fingerprint, "recording a signal failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        tracing::error!(fingerprint = %signal.fingerprint, status = signal.status.as_str(), "signal dropped: the store kept failing");
    }

    async fn close_stale(&self) {
        let now = Utc::now();
        let close_after = chrono::Duration::from_std(self.config.incidents.close_after.get())
            .unwrap_or(chrono::Duration::MAX);
        let before = now.checked_sub_signed(close_after).unwrap_or(now);
        match self.store.close_resolved_incidents(before, now).await {
            Ok(n) if n > 0 => tracing::info!(closed = n, "closed resolved incidents"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "closing resolved incidents failed"),
        }
    }
}

/// States a resolve may start from.
const ACTIVE: [IncidentState; 4] = [
    IncidentState::Open,
    IncidentState::Acknowledged,
    IncidentState::Remediating,
    IncidentState::Escalated,
];
