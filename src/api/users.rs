//! Users over HTTP (admin): list config and stored users, add a stored user, disable one.

use super::AppState;
use super::error::ApiError;
use crate::config::Role;
use crate::security::password;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// `config` or `store`.
    pub source: &'static str,
    /// Disabled users cannot log in.
    pub disabled: bool,
}

/// A user to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Password (hashed with argon2 before it is stored).
    pub password: String,
    /// Role.
    pub role: Role,
}

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Config users, then stored users.
#[utoipa::path(get, path = "/api/admin/users", responses((status = 200, body = [UserView])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<UserView>>, ApiError> {
    let mut users: Vec<UserView> = state
        .config
        .user
        .iter()
        .map(|u| UserView {
            name: u.name.get_ref().clone(),
            role: u.role,
            source: "config",
            disabled: false,
        })
        .collect();
    users.extend(
        state
            .store
            .list_users()
            .await?
            .into_iter()
            .map(|u| UserView {
                name: u.name,
                role: u.role,
                source: "store",
                disabled: u.disabled,
            }),
    );
    Ok(Json(users))
}

/// Adds a stored user (409 when the name exists).
#[utoipa::path(post, path = "/api/admin/users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 400), (status = 409)))]
pub async fn add(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user: NewUser = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid user: {e}")))?;
    let valid_name = !user.name.is_empty()
        && user.name.len() <= 64
        && user
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid_name {
        return Err(ApiError::bad_request(
            "name: 1-64 letters, digits, `-`, `_` or `.`",
        ));
    }
    if user.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::bad_request(format!(
            "the password needs at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let conflict = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("user `{}` exists", user.name),
        )
    };
    if state
        .config
        .user
        .iter()
        .any(|u| u.name.get_ref() == &user.name)
    {
        return Err(conflict());
    }
    let hash = password::hash_async(user.password.clone())
        .await
        .map_err(|e| ApiError::internal("password hash", &e))?;
    if !state.store.add_user(&user.name, &hash, user.role).await? {
        return Err(conflict());
    }
    Ok((
        StatusCode::CREATED,
        Json(UserView {
            name: user.name,
            role: user.role,
            source: "store",
            disabled: false,
        }),
    ))
}

/// Disables a stored user and ends its sessions.
#[utoipa::path(post, path = "/api/admin/users/{name}/disable", responses((status = 204), (status = 404), (status = 409)))]
pub async fn disable(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.config.user.iter().any(|u| u.name.get_ref() == &name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("user `{name}` is defined in the config file; remove it there"),
        ));
    }
    if !state.store.disable_user(&name).await? {
        return Err(ApiError::not_found(format!("no user `{name}`")));
    }
    state.auth.forget();
    Ok(StatusCode::NO_CONTENT)
}
