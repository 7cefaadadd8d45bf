//! The audit log over HTTP: the middleware that records every state-changing request (actor,
//! role, action, path, status), `GET /api/admin/audit` with filters (JSON or JSON lines) and
//! `GET /api/admin/audit/verify`.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::security::audit::{self, AuditEntry, AuditRecord, ChainBreak};
use crate::store::AuditFilter;
use axum::Json;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Middleware factory: after the request, appends `action` with the caller, the path and the
/// response status (also for refused requests, so attempts are on record too).
pub fn recorder(
    action: &'static str,
) -> impl Fn(State<AppState>, Request, Next) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone {
    move |State(state): State<AppState>, request: Request, next: Next| {
        Box::pin(async move {
            let (actor, role) = request
                .extensions()
                .get::<Principal>()
                .map(|p| (p.name.clone(), p.role.as_str().to_string()))
                .unwrap_or_else(|| ("anonymous".into(), "-".into()));
            let target = request.uri().path().to_string();
            let response = next.run(request).await;
            let status = response.status();
            let outcome = if status.is_success() {
                "ok".to_string()
            } else {
                status.as_u16().to_string()
            };
            let record = AuditRecord::new(actor, role, action, target, outcome);
            // Its own task: a request timeout or a dropped connection cannot cancel the record
            // of an action that already took effect.
            tokio::spawn(async move {
                if let Err(e) = state.store.append_audit(&record).await {
                    tracing::error!(error = %e, action, "cannot write the audit log");
                }
            });
            response
        })
    }
}

/// Filters of the audit list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this, e.g. `repair.`.
    pub action: Option<String>,
    /// Only entries at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Page size 1–10000 (default 100).
    pub limit: Option<i64>,
    /// Entries after this id, oldest first (for export in pages).
    pub after: Option<i64>,
    /// `json` (default) or `jsonl` (one entry per line).
    pub format: Option<String>,
}

/// Audit entries, newest first (oldest first with `after`).
#[utoipa::path(get, path = "/api/admin/audit", params(AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 400)))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let since = query
        .since
        .as_deref()
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| ApiError::bad_request(format!("since `{s}`: {e}")))
        })
        .transpose()?;
    let entries = state
        .store
        .list_audit(&AuditFilter {
            actor: query.actor,
            action: query.action,
            since,
            after_id: query.after,
            limit: query.limit.unwrap_or(100),
        })
        .await?;
    match query.format.as_deref() {
        None | Some("json") => Ok(Json(entries).into_response()),
        Some("jsonl") => {
            let mut body = String::new();
            for e in &entries {
                body.push_str(&serde_json::to_string(e).unwrap_or_default());
                body.push('\n');
            }
            let mut response = body.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            Ok(response)
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "format `{other}`: expected json or jsonl"
        ))),
    }
}

/// The result of verifying the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// True when the chain is intact.
    pub ok: bool,
    /// Entries checked.
    pub entries: usize,
    /// Where it is broken.
    #[schema(value_type = Option<String>)]
    pub broken: Option<ChainBreak>,
    /// The break in words.
    pub message: Option<String>,
}

/// Verifies the whole hash chain and names the first broken entry.
#[utoipa::path(get, path = "/api/admin/audit/verify", responses((status = 200, body = Verification)))]
pub async fn verify(State(state): State<AppState>) -> Result<Json<Verification>, ApiError> {
    let (entries, anchor, head) = state.store.audit_chain().await?;
    Ok(Json(
        match audit::verify(&entries, (anchor.0, &anchor.1), (head.0, &head.1)) {
            Ok(n) => Verification {
                ok: true,
                entries: n,
                broken: None,
                message: None,
            },
            Err(b) => Verification {
                ok: false,
                entries: entries.len(),
                message: Some(b.to_string()),
                broken: Some(b),
            },
        },
    ))
}
