//! `/api/v1/clusters`: the template clusters of the tailed logs with the most lines in a
//! window, with totals, samples, the last-hour trend, and the runbooks that fixed the incidents
//! each cluster came with (learning).

use super::AppState;
use super::error::ApiError;
use super::query::limit;
use crate::config::Duration;
use crate::remedy::{RunbookStats, rank_history};
use crate::store::StoredCluster;
use axum::Json;
use axum::extract::{Query, State};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The window `GET /api/v1/clusters` uses when `since` is not given.
pub const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 3600);

/// Query of `GET /api/v1/clusters`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ClusterQuery {
    /// Window, like `"1h"` or `"24h"` (default `"24h"`; counts are by 10-minute buckets).
    pub since: Option<String>,
    /// Only clusters of this log source.
    pub source: Option<String>,
    /// Most clusters returned, 1–500 (default 20).
    pub limit: Option<u32>,
    /// `true`: only clusters with failure lines in the window, most failure lines first (the
    /// top failure clusters); default `false`: every cluster, most lines first.
    pub failures: Option<bool>,
}

/// A cluster and what fixed the incidents it came with.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterView {
    /// The cluster and its counts.
    #[serde(flatten)]
    pub cluster: StoredCluster,
    /// Runbooks that repaired incidents this cluster co-occurred with, best first, with "why".
    pub suggested_runbooks: Vec<RunbookStats>,
}

/// The top clusters of a window.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterList {
    /// Most lines (with `failures=true`: most failure lines) in the window first.
    pub clusters: Vec<ClusterView>,
    /// The window, in seconds.
    pub since_seconds: u64,
}

/// Template clusters of the tailed logs with the most lines in the window.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "logs", params(ClusterQuery),
    responses((status = 200, body = ClusterList), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ClusterQuery>,
) -> Result<Json<ClusterList>, ApiError> {
    let since = match query.since.as_deref() {
        None | Some("") => DEFAULT_SINCE,
        Some(text) => text.parse::<Duration>().map_err(ApiError::bad_request)?,
    };
    let limit = limit(query.limit, 20, 500)?;
    let window = chrono::Duration::from_std(since.get())
        .map_err(|_| ApiError::bad_request("`since` is too long"))?;
    let start = Utc::now()
        .checked_sub_signed(window)
        .ok_or_else(|| ApiError::bad_request("`since` is too long"))?;
    let source = query.source.as_deref().filter(|s| !s.is_empty());
    let mut clusters = Vec::new();
    for cluster in state
        .store
        .top_clusters(start, source, limit, query.failures.unwrap_or(false))
        .await?
    {
        let ties = state.config.log_labels(&cluster.source);
        let suggested_runbooks = rank_history(
            state
                .store
                .cluster_runbook_history(&cluster.id, ties)
                .await?,
        );
        clusters.push(ClusterView {
            cluster,
            suggested_runbooks,
        });
    }
    Ok(Json(ClusterList {
        clusters,
        since_seconds: since.get().as_secs(),
    }))
}
