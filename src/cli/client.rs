//! A small client for the daemon's API, shared by the CLI commands: bearer token, JSON errors
//! turned into readable messages.

use crate::reports::{ReportError, ReportSource};
use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Talks to one running daemon.
pub struct DaemonClient {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

impl DaemonClient {
    /// A client for `server` (e.g. `http://127.0.0.1:9780`) with an optional bearer token.
    pub fn new(server: &str, token: Option<&str>) -> Result<DaemonClient> {
        Ok(DaemonClient {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
            server: server.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
        })
    }

    /// GET `path`, returning the JSON body.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.server)), path)
            .await
    }

    /// POST `body` (JSON) to `path`, returning the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(
            self.http.post(format!("{}{path}", self.server)).json(body),
            path,
        )
        .await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.server);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{url}: the answer is not JSON"))?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            let hint = if status.as_u16() == 401 {
                " (set HOMEOSTAT_TOKEN or --token)"
            } else {
                ""
            };
            bail!("{url}: HTTP {status}: {message}{hint}");
        }
        Ok(body)
    }
}

impl ReportSource for DaemonClient {
    async fn get(&self, path: &str) -> Result<Value, ReportError> {
        DaemonClient::get(self, path)
            .await
            .map_err(|e| ReportError::source(path, e))
    }
}
