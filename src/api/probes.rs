//! `/healthz` (the process answers) and `/readyz` (the store answers and monitoring runs): for
//! load balancers and orchestrators; no token needed.

use super::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// Liveness or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeResponse {
    /// `ok` or `not_ready`.
    pub status: &'static str,
    /// Why not ready, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Liveness: 200 while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, body = ProbeResponse)))]
pub async fn healthz() -> Json<ProbeResponse> {
    Json(ProbeResponse {
        status: "ok",
        reason: None,
    })
}

/// Readiness: 200 when the store answers, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses((status = 200, body = ProbeResponse), (status = 503, body = ProbeResponse)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<ProbeResponse>) {
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(ProbeResponse {
                status: "ok",
                reason: None,
            }),
        ),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, {
            tracing::warn!(error = %e, "readiness: store unreachable");
            Json(ProbeResponse {
                status: "not_ready",
                reason: Some("store unreachable".to_string()),
            })
        }),
    }
}
