//! `http` check: one request; judges status code, body, latency and the TLS certificate's
//! remaining lifetime (as the `tls_cert_days_left` metric, warning below `tls_warn_days`).

use super::{Outcome, Probe};
use crate::config::HttpSettings;
use crate::model::Status;
use std::time::{Duration, Instant};

/// Probes an HTTP(S) endpoint with a shared client.
pub struct HttpProbe {
    settings: HttpSettings,
    client: reqwest::Client,
}

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
        .user_agent(concat!("homeostat/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(60))
}

/// The client every `http` check shares: pooled connections, no redirects, TLS info kept.
pub fn shared_client() -> Result<reqwest::Client, reqwest::Error> {
    client_builder().build()
}

/// The client for `settings`: the shared one, or with `ca_file` its own that also trusts
/// those CA certificates.
pub fn client_for(
    settings: &HttpSettings,
    shared: &reqwest::Client,
) -> Result<reqwest::Client, String> {
    let Some(path) = &settings.ca_file else {
        return Ok(shared.clone());
    };
    let pem =
        std::fs::read(path).map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
    let certificates = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("ca_file {} is not PEM certificates: {e}", path.display()))?;
    certificates
        .into_iter()
        .fold(
            client_builder(),
            reqwest::ClientBuilder::add_root_certificate,
        )
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

impl HttpProbe {
    /// A probe for `settings` using `client`.
    pub fn new(settings: HttpSettings, client: reqwest::Client) -> HttpProbe {
        HttpProbe { settings, client }
    }

    fn status_accepted(&self, code: u16) -> bool {
        if self.settings.expect_status.is_empty() {
            (200..400).contains(&code)
        } else {
            self.settings.expect_status.contains(&code)
        }
    }
}

impl Probe for HttpProbe {
    async fn probe(&self, timeout: Duration) -> Outcome {
        let s = &self.settings;
        let mut request = self
            .client
            .request(s.method.clone(), s.url.clone())
            .timeout(timeout);
        for (name, value) in &s.headers {
            request = request.header(name, value);
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Outcome::new(Status::Critical, describe_error(&e, timeout)),
        };
        let code = response.status().as_u16();
        let cert_days = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(certificate_days_left);
        let body = if s.body_contains.is_some() {
            match response.text().await {
                Ok(body) => Some(body),
                Err(e) => return Outcome::new(Status::Critical, describe_error(&e, timeout)),
            }
        } else {
            None
        };
        let latency = started.elapsed();
        let mut outcome = judge(self, code, body.as_deref(), latency);
        outcome = outcome.metric("status_code", f64::from(code));
        if let Some(days) = cert_days {
            outcome = outcome.metric("tls_cert_days_left", days);
            if days < f64::from(s.tls_warn_days) && outcome.status == Status::Ok {
                outcome.status = if days <= 0.0 {
                    Status::Critical
                } else {
                    Status::Warning
                };
                outcome.message = format!("TLS certificate expires in {days:.1} days");
            }
        }
        outcome
    }
}

fn judge(probe: &HttpProbe, code: u16, body: Option<&str>, latency: Duration) -> Outcome {
    let s = &probe.settings;
    let ms = latency.as_secs_f64() * 1000.0;
    if !probe.status_accepted(code) {
        return Outcome::new(
            Status::Critical,
            format!("HTTP {code} (unexpected status) in {ms:.0} ms"),
        );
    }
    if let (Some(needle), Some(body)) = (&s.body_contains, body)
        && !body.contains(needle.as_str())
    {
        return Outcome::new(
            Status::Critical,
            format!("HTTP {code}: body does not contain {needle:?}"),
        );
    }
    if s.latency_crit.is_some_and(|limit| latency > limit) {
        return Outcome::new(
            Status::Critical,
            format!("HTTP {code} but slow: {ms:.0} ms"),
        );
    }
    if s.latency_warn.is_some_and(|limit| latency > limit) {
        return Outcome::new(Status::Warning, format!("HTTP {code} but slow: {ms:.0} ms"));
    }
    Outcome::new(Status::Ok, format!("HTTP {code} in {ms:.0} ms"))
}

fn describe_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no response within {}", humantime::format_duration(timeout))
    } else if e.is_connect() {
        format!("connection failed: {}", root_cause(e))
    } else {
        format!("request failed: {}", root_cause(e))
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Days until the DER certificate's `notAfter`, negative when expired.
fn certificate_days_left(der: &[u8]) -> Option<f64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let not_after = cert.validity().not_after.timestamp();
    let now = chrono::Utc::now().timestamp();
    Some((not_after - now) as f64 / 86_400.0)
}
