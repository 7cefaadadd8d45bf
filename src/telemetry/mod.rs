//! Telemetry: the Prometheus metrics registry, internal events that log and count together, and
//! the tracing subscriber set-up (readable text or JSON lines).

pub mod events;
mod metrics;

pub use metrics::{
    CheckLabels, CheckStatusLabels, LogLabels, Metrics, PriorityLabels, ReasonLabels, RepairLabels,
    RunbookLabels,
};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber; `RUST_LOG` overrides the default `info` level. Every
/// line goes through the redaction layer on its way to stderr.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::security::redact::RedactingStderr);
    // A second initialisation (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}
