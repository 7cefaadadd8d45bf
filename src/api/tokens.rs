//! API tokens over HTTP: create (the secret is shown once), list (never the secret), revoke.

use super::AppState;
use super::auth::Principal;
use super::error::ApiError;
use crate::config::Role;
use crate::security::tokens::{self, TokenKind};
use crate::store::{NewToken, StoredToken};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Display name.
    pub name: String,
    /// Role it grants.
    pub role: Role,
    /// Lifetime, e.g. `"30d"`; none = until revoked.
    pub expires: Option<String>,
}

/// A created token: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// Id (for revoking).
    pub id: String,
    /// The bearer secret.
    pub token: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// When a token with lifetime `text` (e.g. `"30d"`) created now expires.
pub fn expiry(text: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    text.map(|t| {
        let d = humantime::parse_duration(t).map_err(|e| format!("expires `{t}`: {e}"))?;
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| Utc::now().checked_add_signed(d))
            .ok_or_else(|| format!("expires `{t}` is too far away"))
    })
    .transpose()
}

/// Creates an API token.
#[utoipa::path(post, path = "/api/v1/tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let request: CreateToken = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid token request: {e}")))?;
    if request.name.trim().is_empty() || request.name.len() > 100 {
        return Err(ApiError::bad_request("name must be 1-100 characters"));
    }
    let expires_at = expiry(request.expires.as_deref()).map_err(ApiError::bad_request)?;
    let secret = tokens::generate();
    let id = state
        .store
        .add_token(&NewToken {
            kind: TokenKind::Api,
            name: &request.name,
            digest: &tokens::digest(&secret),
            role: request.role,
            owner: None,
            created_by: &principal.name,
            expires_at,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id,
            token: secret,
            name: request.name,
            role: request.role,
            expires_at,
        }),
    ))
}

/// Every API token (without secrets), newest first.
#[utoipa::path(get, path = "/api/v1/tokens", responses((status = 200, body = [StoredToken])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<StoredToken>>, ApiError> {
    Ok(Json(state.store.list_tokens(TokenKind::Api).await?))
}

/// Revokes a token; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", responses((status = 204), (status = 404)))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.store.revoke_token(&id).await? {
        return Err(ApiError::not_found(format!("no live token {id}")));
    }
    state.auth.forget();
    Ok(StatusCode::NO_CONTENT)
}
