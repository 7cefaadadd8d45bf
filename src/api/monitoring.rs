//! `/api/v1/error-monitoring/*`: the seed endpoints — status, health score, monitoring metrics,
//! and start/stop of monitoring (checks and detection).

use super::AppState;
use super::error::ApiError;
use crate::detect::Health;
use crate::model::Event;
use crate::store::StoredCluster;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Counts of checks by status.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckCounts {
    /// Configured checks.
    pub total: usize,
    /// Reported `ok`.
    pub ok: usize,
    /// Reported `warning`.
    pub warning: usize,
    /// Reported `critical`.
    pub critical: usize,
    /// Reported `unknown` (including not yet run).
    pub unknown: usize,
}

/// What the daemon is doing.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    /// Whether checks and detection run.
    pub running: bool,
    /// Global mode: `observe`, `dry-run` or `enforce`.
    pub mode: &'static str,
    /// Checks by status.
    pub checks: CheckCounts,
    /// Incidents not yet resolved.
    pub open_incidents: i64,
    /// Whether the emergency stop is engaged.
    pub emergency_stop: bool,
    /// Repairs in progress.
    pub running_repairs: usize,
    /// `sqlite` or `postgres`.
    pub store: &'static str,
    /// Daemon version.
    pub version: &'static str,
    /// When the daemon started.
    pub started_at: DateTime<Utc>,
    /// Seconds since start.
    pub uptime_seconds: f64,
}

async fn status_response(state: &AppState) -> Result<StatusResponse, ApiError> {
    let counts = state.detector.counts();
    let get = |s: &str| counts.get(s).copied().unwrap_or(0);
    Ok(StatusResponse {
        running: state.is_running(),
        mode: state.config.policy.mode.as_str(),
        checks: CheckCounts {
            total: state.config.check.len(),
            ok: get("ok"),
            warning: get("warning"),
            critical: get("critical"),
            unknown: get("unknown"),
        },
        store: match state.store.backend() {
            crate::store::Backend::Sqlite => "sqlite",
            crate::store::Backend::Postgres => "postgres",
        },
        version: env!("CARGO_PKG_VERSION"),
        started_at: state.started_at,
        uptime_seconds: (Utc::now() - state.started_at).num_milliseconds() as f64 / 1000.0,
        open_incidents: state.store.count_active_incidents().await?,
        emergency_stop: state.repairs.emergency_stopped(),
        running_repairs: state.repairs.running(),
    })
}

/// Daemon status: running, mode, check counts.
#[utoipa::path(get, path = "/api/v1/error-monitoring/status", tag = "monitoring",
    responses((status = 200, body = StatusResponse)), security(("bearer" = [])))]
pub async fn status(State(state): State<AppState>) -> Result<Json<StatusResponse>, ApiError> {
    status_response(&state).await.map(Json)
}

/// Health score 0–100 and band (HEALTHY 90–100, DEGRADED 70–89, UNHEALTHY 40–69, CRITICAL 0–39),
/// with each check's part.
#[utoipa::path(get, path = "/api/v1/error-monitoring/health", tag = "monitoring",
    responses((status = 200, body = Health)), security(("bearer" = [])))]
pub async fn health(State(state): State<AppState>) -> Json<Health> {
    Json(state.detector.health())
}

/// Monitoring figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitoringMetrics {
    /// Window the figures cover, in hours.
    pub window_hours: u32,
    /// Check runs stored in the window.
    pub check_runs: i64,
    /// Share of those runs whose probe said `ok` (0–1); `null` with no runs.
    pub check_success_rate: Option<f64>,
    /// Runs in the window by raw status.
    pub check_runs_by_status: BTreeMap<String, i64>,
    /// Current health score.
    pub health_score: u8,
    /// Status changes sent as signals since start.
    pub signals_total: u64,
    /// Incidents opened in the window.
    pub incidents_opened: usize,
    /// Incidents opened in the window that are resolved.
    pub incidents_resolved: usize,
    /// Mean time to detect (first failing run → incident opened), seconds; `null` without incidents.
    pub mttd_seconds: Option<f64>,
    /// Mean time to resolve (first failing run → resolved), seconds; `null` without resolved incidents.
    pub mttr_seconds: Option<f64>,
    /// Median time to resolve, seconds.
    pub mttr_median_seconds: Option<f64>,
    /// The top failure clusters: the tailed logs' template clusters with the most failure lines
    /// in the window (at most 10).
    pub top_clusters: Vec<StoredCluster>,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Clusters listed in the monitoring metrics.
const TOP_CLUSTERS: u32 = 10;

/// Monitoring metrics as JSON over the last 24 hours.
#[utoipa::path(get, path = "/api/v1/error-monitoring/metrics", tag = "monitoring",
    responses((status = 200, body = MonitoringMetrics)), security(("bearer" = [])))]
pub async fn metrics(State(state): State<AppState>) -> Result<Json<MonitoringMetrics>, ApiError> {
    let since = Utc::now() - chrono::Duration::hours(24);
    let by_status = state.store.observation_counts_since(since).await?;
    let runs: i64 = by_status.values().sum();
    let ok = by_status.get("ok").copied().unwrap_or(0);
    let durations = state.store.incident_durations_since(since).await?;
    let detect: Vec<f64> = durations.iter().map(|(d, _)| *d).collect();
    let mut resolve: Vec<f64> = durations.iter().filter_map(|(_, r)| *r).collect();
    Ok(Json(MonitoringMetrics {
        window_hours: 24,
        check_runs: runs,
        check_success_rate: (runs > 0).then(|| ok as f64 / runs as f64),
        check_runs_by_status: by_status,
        health_score: state.detector.health().score,
        signals_total: state.metrics.signals.get(),
        incidents_opened: detect.len(),
        incidents_resolved: resolve.len(),
        mttd_seconds: mean(&detect),
        mttr_seconds: mean(&resolve),
        mttr_median_seconds: median(&mut resolve),
        top_clusters: state
            .store
            .top_clusters(since, None, TOP_CLUSTERS, true)
            .await?,
    }))
}

async fn set_running(state: &AppState, running: bool) -> Result<Json<StatusResponse>, ApiError> {
    let changed = state
        .running
        .send_if_modified(|current| std::mem::replace(current, running) != running);
    if changed {
        state.metrics.monitoring_running.set(i64::from(running));
        state.bus.publish(Event::Monitoring {
            running,
            at: Utc::now(),
        });
        tracing::info!(
            running,
            "monitoring {}",
            if running { "started" } else { "stopped" }
        );
    }
    status_response(state).await.map(Json)
}

/// Starts monitoring (checks and detection). Idempotent.
#[utoipa::path(post, path = "/api/v1/error-monitoring/start", tag = "monitoring",
    responses((status = 200, body = StatusResponse)), security(("bearer" = [])))]
pub async fn start(State(state): State<AppState>) -> Result<Json<StatusResponse>, ApiError> {
    set_running(&state, true).await
}

/// Stops monitoring: no check runs until started again. Idempotent.
#[utoipa::path(post, path = "/api/v1/error-monitoring/stop", tag = "monitoring",
    responses((status = 200, body = StatusResponse)), security(("bearer" = [])))]
pub async fn stop(State(state): State<AppState>) -> Result<Json<StatusResponse>, ApiError> {
    set_running(&state, false).await
}
