//! Authentication and authorisation: a bearer token becomes a `Principal` with a role; each route
//! group declares the least role it needs. `HOMEOSTAT_ADMIN_TOKEN` is the bootstrap admin token.

use super::AppState;
use super::error::ApiError;
use crate::config::Role;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Display name (user or token name).
    pub name: String,
    /// Granted role.
    pub role: Role,
}

/// Resolves bearer tokens to principals.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    admin_token: Option<String>,
}

impl Authenticator {
    /// Accepts `admin_token` (when set and non-empty) as an admin.
    pub fn new(admin_token: Option<String>) -> Authenticator {
        Authenticator {
            admin_token: admin_token.filter(|t| !t.is_empty()),
        }
    }

    /// The principal a token stands for, if any.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        let admin = self.admin_token.as_deref()?;
        constant_time_eq(admin.as_bytes(), token.as_bytes()).then(|| Principal {
            name: "bootstrap-admin".to_string(),
            role: Role::Admin,
        })
    }
}

/// Compares without leaking, through timing, how long the common prefix is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: authenticates the bearer token and stores the `Principal` in the request.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
    let principal = state
        .auth
        .authenticate(token)
        .ok_or_else(|| ApiError::unauthorized("invalid or expired token"))?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Middleware factory: lets the request through only if its principal has at least `role`.
pub fn require(
    role: Role,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn Future<Output = Result<Response, ApiError>> + Send>>
+ Clone {
    move |request: Request, next: Next| {
        Box::pin(async move {
            let principal = request
                .extensions()
                .get::<Principal>()
                .ok_or_else(|| ApiError::unauthorized("not authenticated"))?;
            if principal.role < role {
                return Err(ApiError::forbidden(format!(
                    "this needs the {} role; {} has {}",
                    role.as_str(),
                    principal.name,
                    principal.role.as_str()
                )));
            }
            Ok(next.run(request).await)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_admin_token_authenticates() {
        let auth = Authenticator::new(Some("s3cret".into()));
        assert_eq!(
            auth.authenticate("s3cret").map(|p| p.role),
            Some(Role::Admin)
        );
        for bad in ["", "s3cre", "s3cret ", "S3CRET", "s3cretx"] {
            assert!(auth.authenticate(bad).is_none(), "{bad:?} accepted");
        }
        assert!(
            Authenticator::new(Some(String::new()))
                .authenticate("")
                .is_none()
        );
        assert!(Authenticator::new(None).authenticate("anything").is_none());
    }
}
