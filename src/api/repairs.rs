//! Repairs over HTTP: list and show, approve and deny (with the runbook's `required_role`),
//! the seed endpoints `repair-task`, `repair-history`, `emergency-stop`, `resume`, and breakers.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use super::query::{Paging, state_filter};
use crate::model::{Breaker, Repair, RepairState};
use crate::remedy::{ManualRepair, RepairPlan};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of the repair lists.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RepairFilter {
    /// Only repairs in this state.
    pub state: Option<String>,
    /// Only repairs of this incident.
    pub incident: Option<String>,
    /// Only repairs of this runbook.
    pub runbook: Option<String>,
}

/// A page of repairs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairList {
    /// Newest first.
    pub repairs: Vec<Repair>,
    /// All repairs matching the filter.
    pub total: i64,
    /// Page size used.
    pub limit: u32,
    /// Offset used.
    pub offset: u32,
}

async fn page(
    state: &AppState,
    filter: &RepairFilter,
    paging: &Paging,
) -> Result<RepairList, ApiError> {
    let states = state_filter(
        filter.state.as_deref(),
        &RepairState::ALL,
        RepairState::as_str,
    )?;
    let (limit, offset) = (paging.limit(50, 500)?, paging.offset());
    let (repairs, total) = state
        .store
        .list_repairs(
            states,
            filter.incident.as_deref(),
            filter.runbook.as_deref().filter(|r| !r.is_empty()),
            limit,
            offset,
        )
        .await?;
    Ok(RepairList {
        repairs,
        total,
        limit,
        offset,
    })
}

/// Lists repairs, newest first.
#[utoipa::path(get, path = "/api/v1/repairs", tag = "repairs", params(RepairFilter, Paging),
    responses((status = 200, body = RepairList), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Query(filter): Query<RepairFilter>,
    Query(paging): Query<Paging>,
) -> Result<Json<RepairList>, ApiError> {
    page(&state, &filter, &paging).await.map(Json)
}

/// Repair history, newest first (the seed endpoint; same as `GET /api/v1/repairs`).
#[utoipa::path(get, path = "/api/v1/error-monitoring/repair-history", tag = "monitoring", params(RepairFilter, Paging),
    responses((status = 200, body = RepairList), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Query(filter): Query<RepairFilter>,
    Query(paging): Query<Paging>,
) -> Result<Json<RepairList>, ApiError> {
    page(&state, &filter, &paging).await.map(Json)
}

/// One repair with its steps.
#[utoipa::path(get, path = "/api/v1/repairs/{id}", tag = "repairs", params(("id" = String, Path, description = "Repair id")),
    responses((status = 200, body = Repair), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Repair>, ApiError> {
    state
        .store
        .repair(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no repair {id}")))
}

/// What a repair will run (its runbook planned now, templates filled in), with the runbook's
/// risk and approval settings: what an approver looks at before deciding.
#[utoipa::path(get, path = "/api/v1/repairs/{id}/plan", tag = "repairs", params(("id" = String, Path, description = "Repair id")),
    responses((status = 200, body = RepairPlan), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn plan(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RepairPlan>, ApiError> {
    let repair = state
        .store
        .repair(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no repair {id}")))?;
    state.repairs.plan(&repair).await?.map(Json).ok_or_else(|| {
        ApiError::not_found(format!(
            "runbook `{}` of repair {id} is no longer configured",
            repair.runbook
        ))
    })
}

/// Optional note on a decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why.
    pub note: Option<String>,
}

fn json_body<T: Default + serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn decide(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: &Bytes,
    approve: bool,
) -> Result<Json<Repair>, ApiError> {
    let body: DecisionBody = json_body(body)?;
    let repair = state
        .store
        .repair(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no repair {id}")))?;
    let book = state
        .config
        .runbook
        .iter()
        .find(|r| r.name.get_ref() == &repair.runbook);
    let required = book.map_or(crate::config::Role::Admin, |r| r.required_role);
    if principal.role < required {
        return Err(ApiError::forbidden(format!(
            "approving runbook `{}` needs the {} role; {} has {}",
            repair.runbook,
            required.as_str(),
            principal.name,
            principal.role.as_str()
        )));
    }
    // An approval after `approval_timeout` comes too late: `on_timeout` decides, as the engine
    // would at its next look (which may be long in coming while every repair slot is busy). A
    // denial is always taken.
    if approve
        && repair.state == RepairState::AwaitingApproval
        && let Some((to, why)) =
            book.and_then(|b| crate::remedy::approval_timed_out(&repair, b, Utc::now()))
    {
        state.store.decide_repair(id, to, "homeostat", why).await?;
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("repair {id} can no longer be approved: {why}"),
        ));
    }
    let verb = if approve { "approved" } else { "denied" };
    let note = match body.note {
        Some(note) => format!("{verb} by {}: {note}", principal.name),
        None => format!("{verb} by {}", principal.name),
    };
    let to = if approve {
        RepairState::Queued
    } else {
        RepairState::Denied
    };
    if !state
        .store
        .decide_repair(id, to, &principal.name, &note)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!(
                "repair {id} is {}, not awaiting approval",
                repair.state.as_str()
            ),
        ));
    }
    tracing::warn!(repair = id, runbook = %repair.runbook, actor = %principal.name, decision = verb, "approval decision");
    state
        .store
        .repair(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no repair {id}")))
}

/// Approves a repair awaiting approval (needs the runbook's `required_role`). Exactly one of two
/// concurrent decisions wins; the other gets 409.
#[utoipa::path(post, path = "/api/v1/repairs/{id}/approve", tag = "repairs", params(("id" = String, Path, description = "Repair id")),
    request_body(content = DecisionBody, description = "optional"),
    responses((status = 200, body = Repair), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Repair>, ApiError> {
    decide(&state, &principal, &id, &body, true).await
}

/// Denies a repair awaiting approval (needs the runbook's `required_role`).
#[utoipa::path(post, path = "/api/v1/repairs/{id}/deny", tag = "repairs", params(("id" = String, Path, description = "Repair id")),
    request_body(content = DecisionBody, description = "optional"),
    responses((status = 200, body = Repair), (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn deny(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Repair>, ApiError> {
    decide(&state, &principal, &id, &body, false).await
}

/// Body of `repair-task`: an incident, or a runbook (with an optional target check).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairTaskBody {
    /// Repair this incident with its check's candidate runbooks.
    pub incident_id: Option<String>,
    /// Or run this runbook.
    pub runbook: Option<String>,
    /// With `runbook`: the check it repairs (re-check, verify and budgets apply).
    pub target: Option<String>,
}

/// Starts a repair by hand (runner). Gates still apply: mode, emergency stop, budgets, approval.
#[utoipa::path(post, path = "/api/v1/error-monitoring/repair-task", tag = "monitoring", request_body = RepairTaskBody,
    responses((status = 202, body = Repair), (status = 400, body = super::error::ErrorBody), (status = 404, body = super::error::ErrorBody),
        (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn repair_task(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<(StatusCode, Json<Option<Repair>>), ApiError> {
    let body: RepairTaskBody = json_body(&body)?;
    let request = match (body.incident_id, body.runbook) {
        (Some(id), None) if body.target.is_none() => ManualRepair::Incident(id),
        (None, Some(runbook)) => ManualRepair::Runbook {
            runbook,
            target: body.target,
        },
        _ => {
            return Err(ApiError::bad_request(
                "give either `incident_id`, or `runbook` with an optional `target`",
            ));
        }
    };
    let repair = state.repairs.request(request, &principal.name).await?;
    Ok((StatusCode::ACCEPTED, Json(repair)))
}

/// The emergency stop's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmergencyStopState {
    /// Engaged.
    pub emergency_stop: bool,
}

/// Engages the emergency stop: no repair starts, running steps are killed (whole process
/// groups); it survives a daemon restart until resumed (editor).
#[utoipa::path(post, path = "/api/v1/error-monitoring/emergency-stop", tag = "monitoring",
    responses((status = 200, body = EmergencyStopState)), security(("bearer" = [])))]
pub async fn emergency_stop(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<EmergencyStopState>, ApiError> {
    state.repairs.emergency_stop(&principal.name).await?;
    Ok(Json(EmergencyStopState {
        emergency_stop: true,
    }))
}

/// Lifts the emergency stop (editor).
#[utoipa::path(post, path = "/api/v1/error-monitoring/resume", tag = "monitoring",
    responses((status = 200, body = EmergencyStopState)), security(("bearer" = [])))]
pub async fn resume(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<EmergencyStopState>, ApiError> {
    state.repairs.resume(&principal.name).await?;
    Ok(Json(EmergencyStopState {
        emergency_stop: false,
    }))
}

/// Open breakers.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakerList {
    /// Breakers open now.
    pub breakers: Vec<Breaker>,
}

/// Circuit breakers open now (target × runbook with no automatic repairs until `closes_at`).
#[utoipa::path(get, path = "/api/v1/breakers", tag = "repairs", responses((status = 200, body = BreakerList)), security(("bearer" = [])))]
pub async fn breakers(State(state): State<AppState>) -> Result<Json<BreakerList>, ApiError> {
    Ok(Json(BreakerList {
        breakers: state.store.open_breakers(chrono::Utc::now()).await?,
    }))
}

/// Which breaker to reset.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerReset {
    /// Check name, or `log:<source>` for a log source's incidents.
    pub target: String,
    /// Runbook name.
    pub runbook: String,
}

/// Resets (closes) a breaker by hand (editor).
#[utoipa::path(post, path = "/api/v1/breakers/reset", tag = "repairs", request_body = BreakerReset,
    responses((status = 200, body = BreakerList), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn reset_breaker(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Json<BreakerList>, ApiError> {
    let body: BreakerReset = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if !state
        .store
        .reset_breaker(&body.target, &body.runbook)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no open breaker for {} × {}",
            body.target, body.runbook
        )));
    }
    tracing::warn!(actor = %principal.name, target = %body.target, runbook = %body.runbook, "breaker reset by hand");
    Ok(Json(BreakerList {
        breakers: state.store.open_breakers(chrono::Utc::now()).await?,
    }))
}
