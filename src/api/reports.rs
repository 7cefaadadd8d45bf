//! `GET /api/v1/reports/{kind}`: the same health, performance and repairs reports as
//! `homeostat report`, for the dashboard. The report reads the API in process with the caller's
//! own credentials, so it shows exactly what the caller may see.

use super::AppState;
use super::error::ApiError;
use crate::reports::{self, Format, Kind, ReportError, ReportSource};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tower::ServiceExt;
use utoipa::IntoParams;

/// Query of a report.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// The window, e.g. `1h`, `24h`, `7d` (default `24h`).
    pub since: Option<String>,
    /// `html` (default), `md` or `json`.
    pub format: Option<String>,
}

/// The API itself, asked in process with the caller's credentials.
struct InProcess {
    router: Router,
    credentials: HeaderMap,
}

impl ReportSource for InProcess {
    async fn get(&self, path: &str) -> Result<Value, ReportError> {
        let fail = |e: Box<dyn std::error::Error + Send + Sync>| ReportError::source(path, e);
        let mut request = Request::get(path)
            .body(Body::empty())
            .map_err(|e| fail(e.into()))?;
        for name in [header::AUTHORIZATION, header::COOKIE] {
            if let Some(value) = self.credentials.get(&name) {
                request.headers_mut().insert(name, value.clone());
            }
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| fail(e.into()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024 * 1024)
            .await
            .map_err(|e| fail(e.into()))?;
        if !status.is_success() {
            return Err(fail(format!("{path}: HTTP {status}").into()));
        }
        serde_json::from_slice(&bytes).map_err(|e| fail(e.into()))
    }
}

/// A report over a window, as a self-contained HTML page (with charts), Markdown or JSON.
#[utoipa::path(get, path = "/api/v1/reports/{kind}", tag = "monitoring", params(ReportQuery,
    ("kind" = String, Path, description = "health, performance or repairs")),
    responses((status = 200, description = "the report"), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn report(
    State(state): State<AppState>,
    Path(kind): Path<String>,
    Query(query): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let kind: Kind = kind.parse()?;
    let format: Format = query.format.as_deref().unwrap_or("html").parse()?;
    let window = humantime::parse_duration(query.since.as_deref().unwrap_or("24h"))
        .map_err(|e| ApiError::bad_request(format!("since: {e}")))?;
    let since = chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| chrono::Utc::now().checked_sub_signed(w))
        .ok_or_else(|| ApiError::bad_request("`since` is too long"))?;
    let source = InProcess {
        router: super::router(state.clone()),
        credentials: headers,
    };
    let server = format!("http://{}", state.config.server.listen.get_ref());
    let text = reports::run(&source, &server, kind, since, format).await?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}
