//! The Prometheus registry and every `homeostat_*` metric family, in one place so that names stay
//! in step with the log lines that emit them (see `telemetry::events`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry, Unit};

/// Labels of per-check series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    /// Check name.
    pub check: String,
}

/// Labels of per-check, per-status series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckStatusLabels {
    /// Check name.
    pub check: String,
    /// `ok`, `warning`, `critical` or `unknown`.
    pub status: String,
}

/// Labels of per-priority series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PriorityLabels {
    /// `P1`..`P4`.
    pub priority: String,
}

/// Labels of per-runbook, per-outcome series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepairLabels {
    /// Runbook name.
    pub runbook: String,
    /// Final repair state.
    pub outcome: String,
}

/// Labels of per-log-source series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LogLabels {
    /// Log source name.
    pub source: String,
}

/// Labels of per-runbook series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunbookLabels {
    /// Runbook name.
    pub runbook: String,
}

/// Labels of per-reason series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why, e.g. `bad_credentials` or `locked`.
    pub reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn check_duration_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ])
}

/// Every metric Homeostat exports.
pub struct Metrics {
    registry: Registry,
    /// `homeostat_check_status{check}`: 0 ok, 1 warning, 2 critical, 3 unknown.
    pub check_status: Family<CheckLabels, Gauge>,
    /// `homeostat_check_duration_seconds{check}`: time one run took.
    pub check_duration: HistogramFamily<CheckLabels>,
    /// `homeostat_check_runs_total{check,status}`: runs by raw status.
    pub check_runs: Family<CheckStatusLabels, Counter>,
    /// `homeostat_scheduler_lateness_seconds`: how late a run started against its schedule.
    pub scheduler_lateness: Histogram,
    /// `homeostat_signals_total`: status changes sent on the event bus.
    pub signals: Counter,
    /// `homeostat_observations_written_total`: observations persisted.
    pub observations_written: Counter,
    /// `homeostat_store_errors_total`: failed store writes (observations are retried once, then dropped).
    pub store_errors: Counter,
    /// `homeostat_observations_pruned_total`: observations removed by retention.
    pub observations_pruned: Counter,
    /// `homeostat_incidents_open`: incidents not yet resolved.
    pub incidents_open: Gauge,
    /// `homeostat_incidents_opened_total{priority}`: incidents opened.
    pub incidents_opened: Family<PriorityLabels, Counter>,
    /// `homeostat_repairs_total{runbook,outcome}`: finished repairs.
    pub repairs: Family<RepairLabels, Counter>,
    /// `homeostat_repair_duration_seconds{runbook}`: time from first step to the final state.
    pub repair_duration: HistogramFamily<RunbookLabels>,
    /// `homeostat_emergency_stop`: 1 while the emergency stop is engaged.
    pub emergency_stop: Gauge,
    /// `homeostat_health_score`: 0–100.
    pub health_score: Gauge,
    /// `homeostat_monitoring_running`: 1 while checks run.
    pub monitoring_running: Gauge,
    /// `homeostat_checks`: configured checks.
    pub checks: Gauge,
    /// `homeostat_login_failures_total{reason}`: refused logins (`bad_credentials`, `locked`).
    pub login_failures: Family<ReasonLabels, Counter>,
    /// `homeostat_login_lockouts_total`: users or IPs locked out after too many failures.
    pub login_lockouts: Counter,
    /// `homeostat_log_lines_total{source}`: lines read from a log source.
    pub log_lines: Family<LogLabels, Counter>,
    /// `homeostat_log_lines_cut_total{source}`: lines longer than `max_line_bytes`, cut to it.
    pub log_lines_cut: Family<LogLabels, Counter>,
    /// `homeostat_log_lines_invalid_total{source}`: lines with invalid UTF-8 or NUL bytes.
    pub log_lines_invalid: Family<LogLabels, Counter>,
    /// `homeostat_log_lines_skipped_total{source}`: lines not analyzed (binary, or not fitting
    /// the source's `format`).
    pub log_lines_skipped: Family<LogLabels, Counter>,
    /// `homeostat_log_lines_untimed_total{source}`: analyzed lines of a source whose format
    /// gives a line time (json, a regex with a `time` group) but without one that parses; their
    /// category rates count them at the source's current time.
    pub log_lines_untimed: Family<LogLabels, Counter>,
    /// `homeostat_log_truncations_total{source}`: files found truncated (copytruncate) and read
    /// again from the start.
    pub log_truncations: Family<LogLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every family registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("homeostat");
        let r = &mut registry;
        Metrics {
            check_status: registered(
                r,
                "check_status",
                "Check status: 0 ok, 1 warning, 2 critical, 3 unknown",
                Family::default(),
            ),
            check_duration: seconds(
                r,
                "check_duration",
                "Time one check run took",
                Family::new_with_constructor(check_duration_histogram),
            ),
            check_runs: registered(
                r,
                "check_runs",
                "Check runs by raw status",
                Family::default(),
            ),
            scheduler_lateness: seconds(
                r,
                "scheduler_lateness",
                "How late a check run started against its schedule",
                Histogram::new([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]),
            ),
            signals: registered(
                r,
                "signals",
                "Check status changes sent as signals",
                Counter::default(),
            ),
            observations_written: registered(
                r,
                "observations_written",
                "Observations persisted to the store",
                Counter::default(),
            ),
            store_errors: registered(r, "store_errors", "Failed store writes", Counter::default()),
            observations_pruned: registered(
                r,
                "observations_pruned",
                "Observations removed by retention",
                Counter::default(),
            ),
            incidents_open: registered(
                r,
                "incidents_open",
                "Incidents not yet resolved",
                Gauge::default(),
            ),
            incidents_opened: registered(
                r,
                "incidents_opened",
                "Incidents opened, by priority",
                Family::default(),
            ),
            repairs: registered(
                r,
                "repairs",
                "Finished repairs by runbook and outcome",
                Family::default(),
            ),
            repair_duration: seconds(
                r,
                "repair_duration",
                "Time from a repair's first step to its final state",
                Family::new_with_constructor(check_duration_histogram),
            ),
            emergency_stop: registered(
                r,
                "emergency_stop",
                "1 while the emergency stop is engaged",
                Gauge::default(),
            ),
            health_score: registered(
                r,
                "health_score",
                "Overall health score, 0-100",
                Gauge::default(),
            ),
            monitoring_running: registered(
                r,
                "monitoring_running",
                "1 while checks and detection run",
                Gauge::default(),
            ),
            checks: registered(r, "checks", "Configured checks", Gauge::default()),
            login_failures: registered(
                r,
                "login_failures",
                "Refused logins by reason",
                Family::default(),
            ),
            login_lockouts: registered(
                r,
                "login_lockouts",
                "Users or client addresses locked out after too many failed logins",
                Counter::default(),
            ),
            log_lines: registered(
                r,
                "log_lines",
                "Lines read from a log source",
                Family::default(),
            ),
            log_lines_cut: registered(
                r,
                "log_lines_cut",
                "Log lines longer than max_line_bytes, cut to it",
                Family::default(),
            ),
            log_lines_invalid: registered(
                r,
                "log_lines_invalid",
                "Log lines with invalid UTF-8 or NUL bytes (converted lossily)",
                Family::default(),
            ),
            log_lines_skipped: registered(
                r,
                "log_lines_skipped",
                "Log lines not analyzed: binary, or not fitting the source's format",
                Family::default(),
            ),
            log_lines_untimed: registered(
                r,
                "log_lines_untimed",
                "Log lines without a line time that parses, though the source's format gives one",
                Family::default(),
            ),
            log_truncations: registered(
                r,
                "log_truncations",
                "Log files found truncated (copytruncate) and read again from the start",
                Family::default(),
            ),
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Registers `metric` as `homeostat_<name>` with `help`, and hands it back.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// Registers `metric`, measured in seconds, as `homeostat_<name>_seconds` with `help`.
fn seconds<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register_with_unit(name, help, Unit::Seconds, metric.clone());
    metric
}
