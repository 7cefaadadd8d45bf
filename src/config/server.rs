//! `[server]`: where the HTTP API listens and how it protects itself.
//! Defaults are safe for a single host (loopback only).

use super::Duration;
use serde::Deserialize;
use toml::Spanned;

/// The HTTP API and dashboard listener.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `"127.0.0.1:9780"`.
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// Serve `/metrics` without a bearer token. Default `true`.
    #[serde(default = "default_true")]
    pub public_metrics: bool,
    /// Largest accepted request body, in bytes. Default `1048576` (1 MiB).
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// Time limit for one API request (server-sent event streams are exempt). Default `"30s"`.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Duration,
}

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, "127.0.0.1:9780".to_string())
}

fn default_true() -> bool {
    true
}

fn default_body_limit() -> usize {
    1024 * 1024
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_metrics: true,
            body_limit_bytes: default_body_limit(),
            request_timeout: default_request_timeout(),
        }
    }
}
