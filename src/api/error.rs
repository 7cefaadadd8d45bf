//! API errors, and the policy for them.
//!
//! Error policy: a problem the client can fix (bad token, missing role, unknown resource, bad
//! input) is a 4xx with a stable `code` a client can match on and a message that says what to
//! change. A problem of ours (store down, bug) is a 5xx whose details are logged with context and
//! not sent to the client. Every error body is `{"error": {"code": "...", "message": "..."}}`.
//! Every library error a handler can meet converts here, once (`From<…> for ApiError`), so a
//! handler only writes `?`.

use crate::incidents::TransitionError;
use crate::queue::QueueError;
use crate::remedy::RepairError;
use crate::reports::ReportError;
use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `unauthorized`, `not_found`.
    pub code: &'static str,
    /// What happened, for humans.
    pub message: String,
}

/// An error the API returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 401: no or invalid credentials.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: authenticated but the role is too weak.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such resource.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400: input the client must fix.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 500: our fault; the cause is logged, not returned.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(context, error = %cause, "internal error answering an API request");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the daemon log",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal("store", &e)
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::Store(e) => e.into(),
            other => ApiError::internal("queue", &other),
        }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotFound(id) => ApiError::not_found(format!("no incident {id}")),
            TransitionError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            TransitionError::Store(e) => e.into(),
        }
    }
}

impl From<RepairError> for ApiError {
    fn from(e: RepairError) -> Self {
        match e {
            RepairError::EmergencyStop => {
                ApiError::new(StatusCode::CONFLICT, "emergency_stop", e.to_string())
            }
            RepairError::NotFound(m) => ApiError::not_found(m),
            RepairError::Invalid(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            RepairError::Store(e) => e.into(),
            RepairError::Queue(e) => e.into(),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::UnknownKind(_) => ApiError::not_found(e.to_string()),
            ReportError::UnknownFormat(_) => ApiError::bad_request(e.to_string()),
            ReportError::Source { .. } | ReportError::Json(_) => {
                ApiError::internal("report", &ErrorChain(&e))
            }
        }
    }
}

/// An error with its causes, `: `-separated, for the daemon log.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Fallback for unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /api/v1/openapi.json")
}

/// Fallback for a known path with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}
