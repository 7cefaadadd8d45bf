//! Authentication and authorisation: a bearer token (bootstrap admin token, API token) or a
//! dashboard session cookie becomes a `Principal` with a role; each route declares the least
//! role it needs (the table in `api/routes.rs`). Stored credentials are looked up by SHA-256
//! digest and cached for a moment, so a request costs microseconds, not a database round trip.

use super::AppState;
use super::error::ApiError;
use crate::config::Role;
use crate::security::tokens;
use crate::store::{Store, StoreError};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The dashboard session cookie.
pub const SESSION_COOKIE: &str = "homeostat_session";

/// Header a cookie-authenticated state-changing request must carry (a cross-site form cannot
/// set it, so it closes the CSRF door together with `SameSite=Strict`).
pub const CSRF_HEADER: &str = "x-homeostat-request";

/// How long a looked-up credential is trusted before the store is asked again (revocations by
/// another process, e.g. the CLI, take effect within this time; the API's own are immediate).
const CACHE_TTL: Duration = Duration::from_secs(2);

/// Most cached credentials (the cache is cleared when it is full: unknown tokens cannot grow it).
const CACHE_MAX: usize = 10_000;

/// How a principal proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// `HOMEOSTAT_ADMIN_TOKEN`.
    Bootstrap,
    /// A stored API token.
    ApiToken,
    /// A dashboard session.
    Session,
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Display name (user or token name).
    pub name: String,
    /// Granted role.
    pub role: Role,
    /// How it authenticated.
    pub credential: Credential,
}

#[derive(Clone, Debug)]
struct Cached {
    principal: Option<Principal>,
    expires_at: Option<DateTime<Utc>>,
    fetched: Instant,
}

/// Resolves bearer secrets to principals.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    admin_token: Option<String>,
    store: Option<Store>,
    /// `[[user]]` names and roles: a session of a config user follows the config as it is now.
    config_users: Arc<HashMap<String, Role>>,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    /// Bumped by `forget`: a lookup that started before it does not fill the cache.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Authenticator {
    /// Accepts `admin_token` (when set and non-empty) as an admin. A token of 8 characters or
    /// more is also registered for redaction, so it never reaches a log line or a stored output.
    pub fn new(admin_token: Option<String>) -> Authenticator {
        if let Some(token) = admin_token.as_deref().filter(|t| t.len() >= 8) {
            crate::security::redact::register_secret(token);
        }
        Authenticator {
            admin_token: admin_token.filter(|t| !t.is_empty()),
            ..Authenticator::default()
        }
    }

    /// Also accepts the API tokens and sessions stored in `store`; `config_users` are the
    /// `[[user]]` accounts (a session's role is its user's role now, and a session of a user
    /// that no longer exists or is disabled stops working).
    pub fn with_store(
        mut self,
        store: Store,
        config_users: impl IntoIterator<Item = (String, Role)>,
    ) -> Authenticator {
        self.store = Some(store);
        self.config_users = Arc::new(config_users.into_iter().collect());
        self
    }

    /// The principal a secret stands for, if any.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Principal>, StoreError> {
        if let Some(admin) = self.admin_token.as_deref()
            && constant_time_eq(admin.as_bytes(), secret.as_bytes())
        {
            return Ok(Some(Principal {
                name: "bootstrap-admin".to_string(),
                role: Role::Admin,
                credential: Credential::Bootstrap,
            }));
        }
        let Some(store) = &self.store else {
            return Ok(None);
        };
        if secret.is_empty() || secret.len() > 256 {
            return Ok(None);
        }
        let digest = tokens::digest(secret);
        let now = Utc::now();
        if let Some(hit) = self.cached(&digest) {
            return Ok(hit
                .principal
                .filter(|_| hit.expires_at.is_none_or(|at| at > now)));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let found = store.live_token(&digest, now).await?;
        let principal = match &found {
            None => None,
            Some(t) if t.kind == tokens::TokenKind::Session.as_str() => {
                let owner = t.owner.as_deref().unwrap_or_default();
                let role = match self.config_users.get(owner) {
                    Some(role) => Some(*role),
                    None => store
                        .user(owner)
                        .await?
                        .filter(|u| !u.disabled)
                        .map(|u| u.role),
                };
                role.map(|role| Principal {
                    name: t.name.clone(),
                    role,
                    credential: Credential::Session,
                })
            }
            Some(t) => Some(Principal {
                name: t.name.clone(),
                role: t.role,
                credential: Credential::ApiToken,
            }),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if self.generation.load(Ordering::SeqCst) != generation {
            // Revoked or disabled meanwhile: answer from the lookup, cache nothing.
            return Ok(principal);
        }
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(
            digest,
            Cached {
                principal: principal.clone(),
                expires_at: found.and_then(|t| t.expires_at),
                fetched: Instant::now(),
            },
        );
        Ok(principal)
    }

    fn cached(&self, digest: &str) -> Option<Cached> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(digest)
            .filter(|c| c.fetched.elapsed() < CACHE_TTL)
            .cloned()
    }

    /// Drops every cached lookup (after a revocation or a user was disabled).
    pub fn forget(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Compares without leaking, through timing, how long the common prefix is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The bearer secret of a request and whether it came from the session cookie.
fn presented_secret(request: &Request) -> Result<(String, bool), ApiError> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let token = value
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
        return Ok((token.to_string(), false));
    }
    cookie(request, SESSION_COOKIE)
        .map(|c| (c.to_string(), true))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing `Authorization: Bearer <token>` header or session cookie",
            )
        })
}

/// Middleware: authenticates the bearer token or session cookie and stores the `Principal` in
/// the request.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (secret, from_cookie) = presented_secret(&request)?;
    let principal = state
        .auth
        .authenticate(&secret)
        .await
        .map_err(|e| ApiError::internal("authentication", &e))?
        .ok_or_else(|| ApiError::unauthorized("invalid, expired or revoked token"))?;
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if from_cookie && !safe && !request.headers().contains_key(CSRF_HEADER) {
        return Err(ApiError::forbidden(format!(
            "a request authenticated by the session cookie must send the `{CSRF_HEADER}` header"
        )));
    }
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

    #[tokio::test]
    async fn only_the_exact_admin_token_authenticates_without_a_store() {
        let auth = Authenticator::new(Some("s3cret".into()));
        let role = |t: &'static str| {
            let auth = auth.clone();
            async move {
                auth.authenticate(t)
                    .await
                    .expect("no store")
                    .map(|p| p.role)
            }
        };
        assert_eq!(role("s3cret").await, Some(Role::Admin));
        for bad in ["", "s3cre", "s3cret ", "S3CRET", "s3cretx"] {
            assert!(role(bad).await.is_none(), "{bad:?} accepted");
        }
        let empty = Authenticator::new(Some(String::new()));
        assert!(empty.authenticate("").await.expect("no store").is_none());
        let none = Authenticator::new(None);
        assert!(
            none.authenticate("anything")
                .await
                .expect("no store")
                .is_none()
        );
    }
}
