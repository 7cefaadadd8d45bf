//! Internal events: each writes its structured log line and updates its metrics in one call, so
//! what is logged and what is counted never drift apart.

use super::metrics::{CheckLabels, CheckStatusLabels, Metrics, RepairLabels, RunbookLabels};
use crate::checks::Status;
use std::time::Duration;

/// A check run finished.
pub struct CheckRan<'a> {
    /// Check name.
    pub check: &'a str,
    /// Raw status from the probe.
    pub raw_status: Status,
    /// Status after flap control.
    pub status: Status,
    /// Time the run took.
    pub duration: Duration,
    /// How late it started against its schedule.
    pub lateness: Duration,
}

impl CheckRan<'_> {
    /// Logs at debug level and updates the check metrics.
    pub fn emit(&self, metrics: &Metrics) {
        tracing::debug!(
            check = self.check,
            raw_status = self.raw_status.as_str(),
            status = self.status.as_str(),
            duration_ms = self.duration.as_secs_f64() * 1000.0,
            lateness_ms = self.lateness.as_secs_f64() * 1000.0,
            "check ran"
        );
        let labels = CheckLabels {
            check: self.check.to_string(),
        };
        metrics
            .check_status
            .get_or_create(&labels)
            .set(self.status.code());
        metrics
            .check_duration
            .get_or_create(&labels)
            .observe(self.duration.as_secs_f64());
        metrics
            .check_runs
            .get_or_create(&CheckStatusLabels {
                check: self.check.to_string(),
                status: self.raw_status.as_str().to_string(),
            })
            .inc();
        metrics
            .scheduler_lateness
            .observe(self.lateness.as_secs_f64());
    }
}

/// A check's reported status changed.
pub struct CheckStatusChanged<'a> {
    /// Check name.
    pub check: &'a str,
    /// Before.
    pub previous: Status,
    /// After.
    pub status: Status,
    /// Evidence.
    pub message: &'a str,
}

impl CheckStatusChanged<'_> {
    /// Logs at info (now ok) or warn (now failing) and counts the signal.
    pub fn emit(&self, metrics: &Metrics) {
        let (check, previous, status, evidence) = (
            self.check,
            self.previous.as_str(),
            self.status.as_str(),
            self.message,
        );
        if self.status == Status::Ok {
            tracing::info!(check, previous, status, evidence, "check is ok");
        } else {
            tracing::warn!(check, previous, status, evidence, "check is failing");
        }
        metrics.signals.inc();
    }
}

/// A repair reached its final state.
pub struct RepairFinished<'a> {
    /// Repair id.
    pub repair: &'a str,
    /// Runbook name.
    pub runbook: &'a str,
    /// Final state (`succeeded`, `failed`, `rolled_back`, `cancelled`, ...).
    pub outcome: &'a str,
    /// Time from the first step to now (zero when no step ran).
    pub duration: Duration,
    /// Why it did not succeed.
    pub error: Option<&'a str>,
}

impl RepairFinished<'_> {
    /// Logs (info on success, warn otherwise) and updates the repair metrics.
    pub fn emit(&self, metrics: &Metrics) {
        let (repair, runbook, outcome) = (self.repair, self.runbook, self.outcome);
        let duration_ms = self.duration.as_secs_f64() * 1000.0;
        if outcome == "succeeded" {
            tracing::info!(repair, runbook, outcome, duration_ms, "repair finished");
        } else {
            tracing::warn!(
                repair,
                runbook,
                outcome,
                duration_ms,
                error = self.error.unwrap_or_default(),
                "repair finished"
            );
        }
        metrics
            .repairs
            .get_or_create(&RepairLabels {
                runbook: runbook.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        if !self.duration.is_zero() {
            metrics
                .repair_duration
                .get_or_create(&RunbookLabels {
                    runbook: runbook.to_string(),
                })
                .observe(self.duration.as_secs_f64());
        }
    }
}
