//! `/api/v1/incidents`: list (by state, paginated), one incident with its timeline, and the
//! human transitions acknowledge and resolve.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use super::query::{Paging, state_filter};
use crate::model::{Incident, IncidentState, TimelineEntry};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Query of `GET /api/v1/incidents`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct IncidentFilter {
    /// Only incidents in this state (`open`, `acknowledged`, `remediating`, `escalated`,
    /// `resolved`, `closed`).
    pub state: Option<String>,
}

/// A page of incidents.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    /// Newest first.
    pub incidents: Vec<Incident>,
    /// All incidents matching the filter.
    pub total: i64,
    /// Page size used.
    pub limit: u32,
    /// Offset used.
    pub offset: u32,
}

/// Lists incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentFilter, Paging),
    responses((status = 200, body = IncidentList), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Query(filter): Query<IncidentFilter>,
    Query(paging): Query<Paging>,
) -> Result<Json<IncidentList>, ApiError> {
    let states = state_filter(
        filter.state.as_deref(),
        &IncidentState::ALL,
        IncidentState::as_str,
    )?;
    let (limit, offset) = (paging.limit(50, 500)?, paging.offset());
    let (incidents, total) = state.store.list_incidents(states, limit, offset).await?;
    Ok(Json(IncidentList {
        incidents,
        total,
        limit,
        offset,
    }))
}

/// One incident and its story.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    /// The incident.
    #[serde(flatten)]
    pub incident: Incident,
    /// What happened, oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Its repairs, newest first.
    pub repairs: Vec<crate::model::Repair>,
    /// Candidate runbooks in the order they will be tried, with their record ("why").
    pub suggestions: Vec<crate::remedy::RunbookStats>,
}

/// One incident with its timeline, repairs and suggested runbooks (with why).
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, body = IncidentDetail), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let incident = state
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {id}")))?;
    let timeline = state.store.incident_timeline(&id).await?;
    let repairs = state
        .store
        .list_repairs(None, Some(&id), None, 100, 0)
        .await?
        .0;
    let suggestions = state.repairs.suggestions(&incident).await?;
    Ok(Json(IncidentDetail {
        incident,
        timeline,
        repairs,
        suggestions,
    }))
}

/// Optional body of ack and resolve.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// A note for the timeline.
    pub note: Option<String>,
}

fn note(body: &Bytes) -> Result<NoteBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(NoteBody::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Acknowledges an open or escalated incident (editor).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/ack", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")), request_body(content = NoteBody, description = "optional"),
    responses((status = 200, body = Incident), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn ack(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Incident>, ApiError> {
    transition(&state, &principal, &id, &body, IncidentState::Acknowledged).await
}

/// Resolves an active incident by hand (editor).
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")), request_body(content = NoteBody, description = "optional"),
    responses((status = 200, body = Incident), (status = 404, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn resolve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Incident>, ApiError> {
    transition(&state, &principal, &id, &body, IncidentState::Resolved).await
}

async fn transition(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: &Bytes,
    to: IncidentState,
) -> Result<Json<Incident>, ApiError> {
    let body = note(body)?;
    state
        .incidents
        .human(id, to, &principal.name, body.note.as_deref())
        .await
        .map(Json)
        .map_err(ApiError::from)
}
