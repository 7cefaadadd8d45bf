//! `tcp` check: a TCP connect to `host:port`, judged on success and connect latency.

use super::{Outcome, Probe};
use crate::config::TcpSettings;
use crate::model::Status;
use std::time::{Duration, Instant};

/// Probes that a TCP port accepts connections.
pub struct TcpProbe {
    settings: TcpSettings,
}

impl TcpProbe {
    /// A probe for `settings`.
    pub fn new(settings: TcpSettings) -> TcpProbe {
        TcpProbe { settings }
    }
}

impl Probe for TcpProbe {
    async fn probe(&self, timeout: Duration) -> Outcome {
        let s = &self.settings;
        let started = Instant::now();
        let result =
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&s.address)).await;
        let latency = started.elapsed();
        let ms = latency.as_secs_f64() * 1000.0;
        let outcome = match result {
            Err(_) => Outcome::new(
                Status::Critical,
                format!("connect to {} timed out", s.address),
            ),
            Ok(Err(e)) => Outcome::new(
                Status::Critical,
                format!("connect to {} failed: {e}", s.address),
            ),
            Ok(Ok(_stream)) if s.latency_crit.is_some_and(|l| latency > l) => Outcome::new(
                Status::Critical,
                format!("connected to {} but slow: {ms:.1} ms", s.address),
            ),
            Ok(Ok(_stream)) if s.latency_warn.is_some_and(|l| latency > l) => Outcome::new(
                Status::Warning,
                format!("connected to {} but slow: {ms:.1} ms", s.address),
            ),
            Ok(Ok(_stream)) => Outcome::new(
                Status::Ok,
                format!("connected to {} in {ms:.1} ms", s.address),
            ),
        };
        outcome.metric("connect_seconds", latency.as_secs_f64())
    }
}
