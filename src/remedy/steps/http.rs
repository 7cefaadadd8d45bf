//! `http` steps: call a URL (e.g. a service's own pool-reset endpoint) and expect a status.

use super::{Fill, Outcome, STEP_OUTPUT_CAP};
use crate::config::HttpStep;
use std::collections::BTreeMap;
use std::time::Duration;

/// An HTTP request with its templates filled in.
pub(super) struct Request {
    method: String,
    url: String,
    body: Option<String>,
    headers: BTreeMap<String, String>,
    expect_status: Vec<u16>,
}

impl Request {
    /// The request of `step`, templates filled: the URL's values percent-encoded, a JSON
    /// body's (one starting with `{` or `[`, not with a template) escaped for JSON, headers and
    /// other bodies as written (a header value cannot hold a line break: the request fails).
    pub(super) fn new(step: &HttpStep, fill: &Fill<'_>) -> Result<Request, String> {
        let headers = step
            .headers
            .iter()
            .map(|(name, value)| Ok((name.clone(), (fill.plain)(value)?)))
            .collect::<Result<_, String>>()?;
        let body = |text: &str| {
            let start = text.trim_start();
            let template = start.starts_with("{{") || start.starts_with("{%");
            if start.starts_with('[') || start.starts_with('{') && !template {
                (fill.json)(text)
            } else {
                (fill.plain)(text)
            }
        };
        Ok(Request {
            method: step.method.get_ref().to_ascii_uppercase(),
            url: (fill.url)(&step.url)?,
            body: step.body.as_deref().map(body).transpose()?,
            headers,
            expect_status: step.expect_status.clone(),
        })
    }

    pub(super) fn command(&self) -> Vec<String> {
        vec![
            "http".to_string(),
            self.method.clone(),
            super::redact_url(&self.url),
        ]
    }

    /// Sends the request (redirects are not followed); the output is the status and the body.
    pub(super) async fn send(&self, timeout: Duration) -> Outcome {
        let result = async {
            let method = reqwest::Method::from_bytes(self.method.as_bytes())
                .map_err(|_| format!("invalid HTTP method `{}`", self.method))?;
            let url = reqwest::Url::parse(&self.url)
                .map_err(|e| format!("invalid URL `{}`: {e}", super::redact_url(&self.url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("unsupported URL scheme `{}`", url.scheme()));
            }
            let client = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build HTTP client: {e}"))?;
            let mut request = client.request(method, url);
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            if let Some(body) = &self.body {
                request = request.body(body.clone());
            }
            request
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))
        };
        let response = match result.await {
            Ok(response) => response,
            Err(e) => return Err(e).into(),
        };
        let status = response.status().as_u16();
        // Read at most the output cap: the service under repair must not be able to make the
        // daemon buffer an endless body.
        let mut response = response;
        let mut bytes = Vec::new();
        while bytes.len() < STEP_OUTPUT_CAP {
            match response.chunk().await {
                Ok(Some(chunk)) => bytes
                    .extend_from_slice(&chunk[..chunk.len().min(STEP_OUTPUT_CAP - bytes.len())]),
                Ok(None) | Err(_) => break,
            }
        }
        let body = super::truncate(String::from_utf8_lossy(&bytes).into_owned());
        let output = format!("HTTP {status}\n{body}");
        let error = (!self.expect_status.contains(&status))
            .then(|| format!("status {status}, expected one of {:?}", self.expect_status));
        Outcome { output, error }
    }
}
