//! `/metrics`: Prometheus/OpenMetrics text of every `homeostat_*` metric.

use super::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

/// Prometheus scrape endpoint (public unless `server.public_metrics = false`).
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text")))]
pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    // Refresh gauges computed on demand.
    state.detector.health();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
