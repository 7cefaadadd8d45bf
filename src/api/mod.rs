//! The HTTP API (axum): one file per resource, bearer-token auth with a least role per route
//! group, JSON errors, request limits, SSE, OpenAPI and `/metrics`.

mod analysis;
mod audit;
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
mod query;
mod repairs;
mod reports;
pub mod routes;
mod session;
mod tokens;
mod users;

pub use auth::{Authenticator, CSRF_HEADER, Credential, Principal, SESSION_COOKIE};
pub use tokens::expiry as token_expiry;
pub use users::MIN_PASSWORD_LEN;

use crate::bus::EventBus;
use crate::config::Config;
use crate::detect::Detector;
use crate::incidents::IncidentService;
use crate::remedy::RepairEngine;
use crate::store::Store;
use crate::telemetry::Metrics;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
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
    /// Error analysis for `analyze-error` (categories and template clusters since start). Built
    /// on the first request (or at start when log sources compile the categories anyway), so a
    /// daemon that never analyses a message does not hold the compiled patterns.
    pub analyzer: Arc<std::sync::OnceLock<std::sync::Mutex<crate::logs::Analyzer>>>,
    /// Event fan-out.
    pub bus: EventBus,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Monitoring on/off switch read by the scheduler.
    pub running: Arc<watch::Sender<bool>>,
    /// Token resolution.
    pub auth: Authenticator,
    /// Failed-login counting and lockout.
    pub lockout: Arc<crate::security::lockout::Lockout>,
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

/// The whole API, built from the route table in `routes.rs` (the one place that says who may
/// call what). Public routes need nothing; the others authenticate (bearer token or session
/// cookie), then check the least role; state-changing routes are written to the audit log.
pub fn router(state: AppState) -> Router {
    let timeout = state.config.server.request_timeout.get();
    let body_limit = state.config.server.body_limit_bytes;
    let mut public = Router::new();
    let mut authenticated = Router::new();
    let mut streams = Router::new();
    for (route, handler) in routes::table(state.config.server.public_metrics) {
        let routes::Access::Least(role) = route.access else {
            public = public.route(route.path, handler);
            continue;
        };
        let mut handler = handler.route_layer(from_fn(auth::require(role)));
        if let Some(action) = route.audit {
            handler =
                handler.route_layer(from_fn_with_state(state.clone(), audit::recorder(action)));
        }
        if route.streaming {
            streams = streams.route(route.path, handler);
        } else {
            authenticated = authenticated.route(route.path, handler);
        }
    }
    // The dashboard page and its assets are public; the data they fetch is not.
    let public = public.merge(crate::web::router(|name| {
        axum::response::IntoResponse::into_response(ApiError::not_found(format!(
            "no asset `{name}`"
        )))
    }));
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
    let streams = streams.route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    limited
        .merge(streams)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
