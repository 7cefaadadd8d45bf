//! What the engine's parts share: the handles a repair works with (`Context`), what a repair is
//! about (`Subject`) and how one candidate ended (`Attempt`), plus the audit and event records.

use super::stop::EmergencyStop;
use crate::bus::EventBus;
use crate::checks::Check;
use crate::config::{Config, RunbookConfig};
use crate::detect::Detector;
use crate::incidents::IncidentService;
use crate::model::{Event, Incident, LOG_LABEL, Repair};
use crate::queue::JobQueue;
use crate::security::audit::AuditRecord;
use crate::store::{Store, Vault, VaultError};
use crate::telemetry::Metrics;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

/// The handles and shared state of one engine, used by its gates, executor and job glue.
pub(super) struct Context {
    /// Repairs, breakers, settings, audit.
    pub(super) store: Store,
    /// Policy and runbooks.
    pub(super) config: Arc<Config>,
    /// The checks by name (re-check, verify, candidates).
    pub(super) checks: HashMap<String, Arc<Check>>,
    /// Re-check and verify results are observations too.
    pub(super) detector: Arc<Detector>,
    /// Incident transitions (remediating, resolved, escalated).
    pub(super) incidents: IncidentService,
    /// Secrets for `{{ secrets.NAME }}` in steps (none without a master key).
    pub(super) vault: Option<Vault>,
    /// Repair events.
    pub(super) bus: EventBus,
    /// Repair metrics.
    pub(super) metrics: Arc<Metrics>,
    /// The durable queue repair jobs wait in.
    pub(super) queue: JobQueue,
    /// The name this instance holds repair job leases under (see `LeaseOwner`).
    pub(super) owner: String,
    /// The emergency stop.
    pub(super) stop: EmergencyStop,
    /// Repairs of this instance in `execute` now (running or verifying).
    pub(super) executing: AtomicUsize,
    /// Targets with a repair admitted and not finished (one repair per target at a time).
    pub(super) busy: Mutex<HashSet<String>>,
}

/// What a repair is about: the incident (if any), the target check (if any), the runbook.
pub(super) struct Subject<'a> {
    /// The incident repaired, if any.
    pub(super) incident: Option<&'a Incident>,
    /// The target check, if any.
    pub(super) check: Option<&'a Arc<Check>>,
    /// The runbook.
    pub(super) book: &'a RunbookConfig,
    /// Which candidate of the incident this is (1 = first).
    pub(super) attempt: i64,
    /// Who asked.
    pub(super) actor: &'a str,
}

impl Subject<'_> {
    /// The target budgets, breakers and the one-repair-at-a-time rule apply to: the check, or
    /// for a log incident `log:<source>` (check names cannot hold `:`).
    pub(super) fn target(&self) -> Option<String> {
        match self.check {
            Some(check) => Some(check.name.clone()),
            None => self
                .incident
                .and_then(|i| i.labels.get(LOG_LABEL))
                .map(|source| format!("log:{source}")),
        }
    }
}

/// How one candidate ended.
pub(super) enum Attempt {
    /// Verified healthy.
    Repaired,
    /// Nothing to do: the target was already healthy, or this was a dry run.
    Done,
    /// Stop here without escalating (emergency stop, shutdown).
    Halt,
    /// Try the next candidate.
    Next(String),
    /// Stop and escalate.
    Escalate(String),
    /// Waiting for approval: give the worker slot back and look again later.
    Deferred,
}

impl Context {
    /// The configured runbook called `name`.
    pub(super) fn runbook(&self, name: &str) -> Option<&RunbookConfig> {
        self.config
            .runbook
            .iter()
            .find(|r| r.name.get_ref() == name)
    }

    /// The secrets steps may use (none without a master key).
    pub(super) async fn secrets(&self) -> Result<BTreeMap<String, String>, VaultError> {
        match &self.vault {
            Some(vault) => vault.all().await,
            None => Ok(Default::default()),
        }
    }

    /// Writes a repair decision of the engine to the audit log (a failure is logged, never
    /// fatal: the repair record itself is already stored).
    pub(super) async fn audit(&self, repair: &Repair, action: &str, error: Option<&str>) {
        let record = AuditRecord::system(
            action,
            format!("repair {}", repair.id),
            repair.state.as_str(),
        )
        .with_detail(format!(
            "runbook={} target={} incident={} requested_by={}{}",
            repair.runbook,
            repair.target.as_deref().unwrap_or("-"),
            repair.incident_id.as_deref().unwrap_or("-"),
            repair.requested_by,
            error.map(|e| format!(" error={e}")).unwrap_or_default()
        ));
        if let Err(e) = self.store.append_audit(&record).await {
            tracing::error!(error = %e, repair = %repair.id, "cannot write the audit log");
        }
    }

    /// Publishes the repair as it is now.
    pub(super) fn announce(&self, repair: &Repair) {
        self.bus.publish(Event::Repair(Box::new(repair.clone())));
    }
}
