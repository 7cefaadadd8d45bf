//! `/api/v1/checks`: every check's current state, and one check with its recent observations.

use super::AppState;
use super::error::ApiError;
use super::query::{Paging, limit};
use crate::detect::CheckState;
use crate::model::Observation;
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A page of checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckList {
    /// Checks in config order.
    pub checks: Vec<CheckState>,
    /// Configured checks.
    pub total: usize,
    /// Offset used.
    pub offset: u32,
}

/// Lists checks (in config order, paginated with `limit` and `offset`) with their current
/// status and latest observation.
#[utoipa::path(get, path = "/api/v1/checks", tag = "checks", params(Paging),
    responses((status = 200, body = CheckList), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> Result<Json<CheckList>, ApiError> {
    // Every check unless a page size is given.
    let limit = match paging.limit {
        None => usize::MAX,
        Some(_) => paging.limit(1000, 1000)? as usize,
    };
    let offset = paging.offset();
    let all = state.detector.states();
    let total = all.len();
    let checks = all
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit)
        .collect();
    Ok(Json(CheckList {
        checks,
        total,
        offset,
    }))
}

/// Query of `GET /api/v1/checks/{name}`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ObservationQuery {
    /// Observations to return, newest first (1–1000, default 50).
    pub limit: Option<u32>,
}

/// One check and its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckDetail {
    /// Current state.
    pub check: CheckState,
    /// Recent stored observations, newest first.
    pub observations: Vec<Observation>,
}

/// One check with its recent observations.
#[utoipa::path(get, path = "/api/v1/checks/{name}", tag = "checks",
    params(("name" = String, Path, description = "Check name"), ObservationQuery),
    responses((status = 200, body = CheckDetail), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ObservationQuery>,
) -> Result<Json<CheckDetail>, ApiError> {
    let check = state
        .detector
        .state(&name)
        .ok_or_else(|| ApiError::not_found(format!("no check named `{name}`")))?;
    let limit = limit(query.limit, 50, 1000)?;
    let observations = state.store.recent_observations(&name, limit).await?;
    Ok(Json(CheckDetail {
        check,
        observations,
    }))
}
