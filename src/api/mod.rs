//! The HTTP API (axum): one file per resource, bearer-token auth with a least role per route
//! group, JSON errors, request limits, SSE, OpenAPI and `/metrics`.

mod analysis;
mod auth;
mod checks;
mod clusters;
pub mod error;
mod events;
mod incidents;
mod metrics;
mod monitoring;
mod openapi;
mod probes;
mod repairs;

pub use auth::{Authenticator, Principal};

use crate::config::{Config, Role};
use crate::detect::Detector;
use crate::events::EventBus;
use crate::incidents::IncidentService;
use crate::remedy::RepairEngine;
use crate::store::Store;
use crate::telemetry::Metrics;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use error::ApiError;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

/// The environment variable holding the bootstrap admin token.
pub const ADMIN_TOKEN_ENV: &str = "HOMEOSTAT_ADMIN_TOKEN";

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The loaded config.
    pub config: Arc<Config>,
    /// The durable store.
    pub store: Store,
    /// Check states, signals, health.
    pub detector: Arc<Detector>,
    /// Incident lifecycle.
    pub incidents: IncidentService,
    /// Repairs and the emergency stop.
    pub repairs: RepairEngine,
    /// Error analysis for `analyze-error` (categories and template clusters since start).
    pub analyzer: Arc<std::sync::Mutex<crate::logs::Analyzer>>,
    /// Event fan-out.
    pub bus: EventBus,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Monitoring on/off switch read by the scheduler.
    pub running: Arc<watch::Sender<bool>>,
    /// Token resolution.
    pub auth: Authenticator,
    /// When the daemon started.
    pub started_at: DateTime<Utc>,
    /// Cancelled when the daemon shuts down (ends event streams).
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Whether monitoring runs.
    pub fn is_running(&self) -> bool {
        *self.running.borrow()
    }
}

/// The whole API. Route groups by least role (the one table of who may do what):
/// - public: `/healthz`, `/readyz`, `/metrics` (unless `public_metrics = false`)
/// - viewer: every `GET` under `/api/v1`, and `POST /api/v1/error-monitoring/analyze-error`
/// - runner: `POST /api/v1/error-monitoring/repair-task`, `POST /api/v1/repairs/{id}/approve|deny`
///   (approve/deny also need the runbook's `required_role`)
/// - editor: `POST /api/v1/error-monitoring/start|stop|emergency-stop|resume`,
///   `POST /api/v1/incidents/{id}/ack|resolve`, `POST /api/v1/breakers/reset`
pub fn router(state: AppState) -> Router {
    let timeout = state.config.server.request_timeout.get();
    let body_limit = state.config.server.body_limit_bytes;

    let viewer = Router::new()
        .route("/api/v1/error-monitoring/status", get(monitoring::status))
        .route("/api/v1/error-monitoring/health", get(monitoring::health))
        .route("/api/v1/error-monitoring/metrics", get(monitoring::metrics))
        .route(
            "/api/v1/error-monitoring/analyze-error",
            post(analysis::analyze_error),
        )
        .route("/api/v1/checks", get(checks::list))
        .route("/api/v1/checks/{name}", get(checks::show))
        .route("/api/v1/clusters", get(clusters::list))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::show))
        .route("/api/v1/repairs", get(repairs::list))
        .route("/api/v1/repairs/{id}", get(repairs::show))
        .route(
            "/api/v1/error-monitoring/repair-history",
            get(repairs::history),
        )
        .route("/api/v1/breakers", get(repairs::breakers))
        .route("/api/v1/openapi.json", get(openapi::spec))
        .route_layer(from_fn(auth::require(Role::Viewer)));
    let editor = Router::new()
        .route("/api/v1/error-monitoring/start", post(monitoring::start))
        .route("/api/v1/error-monitoring/stop", post(monitoring::stop))
        .route("/api/v1/incidents/{id}/ack", post(incidents::ack))
        .route("/api/v1/incidents/{id}/resolve", post(incidents::resolve))
        .route(
            "/api/v1/error-monitoring/emergency-stop",
            post(repairs::emergency_stop),
        )
        .route("/api/v1/error-monitoring/resume", post(repairs::resume))
        .route("/api/v1/breakers/reset", post(repairs::reset_breaker))
        .route_layer(from_fn(auth::require(Role::Editor)));
    // Approval needs the runbook's `required_role` (checked in the handler), at least runner.
    let runner = Router::new()
        .route(
            "/api/v1/error-monitoring/repair-task",
            post(repairs::repair_task),
        )
        .route("/api/v1/repairs/{id}/approve", post(repairs::approve))
        .route("/api/v1/repairs/{id}/deny", post(repairs::deny))
        .route_layer(from_fn(auth::require(Role::Runner)));
    let mut authenticated = viewer.merge(runner).merge(editor);
    let mut public = Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz));
    if state.config.server.public_metrics {
        public = public.route("/metrics", get(metrics::scrape));
    } else {
        authenticated = authenticated.route("/metrics", get(metrics::scrape));
    }
    let limited = public
        .merge(authenticated.route_layer(from_fn_with_state(state.clone(), auth::authenticate)))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "timeout",
                        "the request took too long",
                    )
                }))
                .timeout(timeout),
        );
    // Event streams live as long as the client wants: no request timeout.
    let streams = Router::new()
        .route("/api/v1/events", get(events::stream))
        .route_layer(from_fn(auth::require(Role::Viewer)))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    limited
        .merge(streams)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
