//! Internal events: each writes its structured log line and updates its metrics in one call, so
//! what is logged and what is counted never drift apart.

use super::metrics::{
    CheckLabels, CheckStatusLabels, LogLabels, Metrics, RepairLabels, RunbookLabels,
};
use crate::model::Status;
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

/// A log source read a batch of lines.
pub struct LogLinesRead<'a> {
    /// Source name.
    pub source: &'a str,
    /// Lines read.
    pub lines: u64,
    /// Of those, cut to `max_line_bytes`.
    pub cut: u64,
    /// Of those, with invalid UTF-8 or NUL bytes.
    pub invalid: u64,
    /// Of those, not analyzed (binary, or not fitting the format).
    pub skipped: u64,
    /// Of those analyzed, without a line time that parses although the format gives one
    /// (their rates count them at the source clock's time).
    pub untimed: u64,
    /// Files found truncated and read again from the start.
    pub truncations: u64,
}

impl LogLinesRead<'_> {
    /// Logs at trace level and updates the per-source line counters.
    pub fn emit(&self, metrics: &Metrics) {
        if self.lines == 0 && self.truncations == 0 {
            return;
        }
        tracing::trace!(
            source = self.source,
            lines = self.lines,
            cut = self.cut,
            invalid = self.invalid,
            skipped = self.skipped,
            untimed = self.untimed,
            truncations = self.truncations,
            "log lines read"
        );
        let labels = LogLabels {
            source: self.source.to_string(),
        };
        for (family, n) in [
            (&metrics.log_lines, self.lines),
            (&metrics.log_truncations, self.truncations),
            (&metrics.log_lines_cut, self.cut),
            (&metrics.log_lines_invalid, self.invalid),
            (&metrics.log_lines_skipped, self.skipped),
            (&metrics.log_lines_untimed, self.untimed),
        ] {
            if n > 0 {
                family.get_or_create(&labels).inc_by(n);
            }
        }
    }
}

/// A log source's category rate started or stopped firing.
pub struct LogAlertChanged<'a> {
    /// Source name.
    pub source: &'a str,
    /// Category name.
    pub category: &'a str,
    /// Whether it fires now.
    pub firing: bool,
    /// Evidence.
    pub message: &'a str,
}

impl LogAlertChanged<'_> {
    /// Logs at warn (firing) or info (quiet again) and counts the signal.
    pub fn emit(&self, metrics: &Metrics) {
        let (source, category, evidence) = (self.source, self.category, self.message);
        if self.firing {
            tracing::warn!(source, category, evidence, "log category rate alert");
        } else {
            tracing::info!(source, category, evidence, "log category quiet again");
        }
        metrics.signals.inc();
    }
}
