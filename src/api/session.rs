//! Dashboard sessions: `POST /api/v1/auth/login` checks a user's password (argon2, off the async
//! threads), guarded by the login lockout, and sets an HttpOnly `SameSite=Strict` cookie;
//! `logout` revokes it; `me` says who the caller is.

use super::AppState;
use super::auth::{Principal, SESSION_COOKIE, cookie};
use super::error::ApiError;
use crate::config::Role;
use crate::security::audit::AuditRecord;
use crate::security::{password, tokens};
use crate::store::NewToken;
use crate::telemetry::ReasonLabels;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Instant;
use utoipa::ToSchema;

/// Login request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// User or token name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// When the session ends (logins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Longest accepted user name in a login.
const MAX_USERNAME: usize = 64;

/// A hash verified when the user does not exist, so timing does not tell which names exist.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| password::hash("homeostat-dummy-password").unwrap_or_default());

/// The stored hash and role of `name`: config users first, then stored (enabled) users.
async fn account(state: &AppState, name: &str) -> Result<Option<(String, Role)>, ApiError> {
    if let Some(user) = state.config.user.iter().find(|u| u.name.get_ref() == name) {
        return Ok(Some((user.password_hash.get_ref().clone(), user.role)));
    }
    Ok(state
        .store
        .user(name)
        .await?
        .filter(|u| !u.disabled)
        .map(|u| (u.password_hash, u.role)))
}

fn too_many(retry_after: std::time::Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "locked",
        "too many failed logins; try again later",
    )
    .into_response();
    let seconds = retry_after.as_secs().max(1).to_string();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn audit(state: &AppState, user: &str, ip: &str, outcome: &str) {
    let record =
        AuditRecord::new(user, "-", "auth.login", user, outcome).with_detail(format!("from {ip}"));
    if let Err(e) = state.store.append_audit(&record).await {
        tracing::error!(error = %e, "cannot write the audit log");
    }
}

/// Logs a user in and sets the session cookie. 401 on bad credentials, 429 with `Retry-After`
/// while the user or the client address is locked out.
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 401), (status = 429)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // A cross-site form can post text/plain but not application/json without a preflight.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(ApiError::bad_request(
            "a login must be sent as Content-Type: application/json",
        ));
    }
    let request: LoginRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid login request: {e}")))?;
    if request.username.is_empty() || request.username.len() > MAX_USERNAME {
        return Err(ApiError::bad_request(format!(
            "username must be 1-{MAX_USERNAME} bytes"
        )));
    }
    let ip = peer.ip().to_string();
    let (user_key, ip_key) = (format!("user:{}", request.username), format!("ip:{ip}"));
    // Counted before the (slow) password check, so concurrent guesses cannot pass the limit.
    let newly_locked = match state.lockout.begin(&[&user_key, &ip_key], Instant::now()) {
        Ok(locked) => locked,
        Err(left) => {
            state
                .metrics
                .login_failures
                .get_or_create(&ReasonLabels {
                    reason: "locked".into(),
                })
                .inc();
            tracing::warn!(target: "security", user = %request.username, ip = %ip, "login refused: locked out");
            audit(&state, &request.username, &ip, "locked").await;
            return Ok(too_many(left));
        }
    };
    let account = account(&state, &request.username).await?;
    let hash = account
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |(h, _)| h.clone());
    let valid = password::verify_async(request.password, hash).await && account.is_some();
    let Some((_, role)) = account.filter(|_| valid) else {
        state
            .metrics
            .login_failures
            .get_or_create(&ReasonLabels {
                reason: "bad_credentials".into(),
            })
            .inc();
        if newly_locked {
            state.metrics.login_lockouts.inc();
        }
        tracing::warn!(target: "security", user = %request.username, ip = %ip, locked = newly_locked, "login failed");
        audit(
            &state,
            &request.username,
            &ip,
            if newly_locked {
                "failed, locked out"
            } else {
                "failed"
            },
        )
        .await;
        return Err(ApiError::unauthorized("wrong user name or password"));
    };
    // The user's own count is cleared; the address only gets this attempt back (a valid
    // account must not reset the counter of password spraying from the same address).
    state.lockout.succeed(&user_key);
    state.lockout.refund(&ip_key);
    let secret = tokens::generate();
    let ttl = state.config.security.session_ttl.get();
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
    state
        .store
        .add_token(&NewToken {
            kind: tokens::TokenKind::Session,
            name: &request.username,
            digest: &tokens::digest(&secret),
            role,
            owner: Some(&request.username),
            created_by: &request.username,
            expires_at: Some(expires_at),
        })
        .await?;
    audit(&state, &request.username, &ip, "ok").await;
    let secure = if state.config.security.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        ttl.as_secs()
    );
    let mut response = Json(Me {
        name: request.username,
        role,
        expires_at: Some(expires_at),
    })
    .into_response();
    let value =
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal("session cookie", &e))?;
    response.headers_mut().insert(header::SET_COOKIE, value);
    Ok(response)
}

/// Ends the caller's session (revokes it and clears the cookie).
#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    if let Some(secret) = cookie(&request, SESSION_COOKIE)
        && let Some(token) = state
            .store
            .live_token(&tokens::digest(secret), Utc::now())
            .await?
    {
        state.store.revoke_token(&token.id).await?;
        state.auth.forget();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "homeostat_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(response)
}

/// The caller's name and role.
#[utoipa::path(get, path = "/api/v1/auth/me", responses((status = 200, body = Me)))]
pub async fn me(Extension(principal): Extension<Principal>) -> Json<Me> {
    Json(Me {
        name: principal.name,
        role: principal.role,
        expires_at: None,
    })
}
