//! Reports (`homeostat report health|performance|repairs`, and `GET /api/v1/reports/{kind}` for
//! the dashboard): gathered over a time window from the daemon's own API answers (`gather`),
//! rendered as Markdown, JSON or a self-contained HTML page with bar charts (`render`).

mod gather;
mod render;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::str::FromStr;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Health now, checks, incidents in the window with MTTD and MTTR.
    Health,
    /// Per check: runs, success rate, latency percentiles in the window.
    Performance,
    /// Repairs in the window: by outcome, by runbook, each repair.
    Repairs,
}

impl Kind {
    /// Every report, in the order the CLI lists them.
    pub const ALL: [Kind; 3] = [Kind::Health, Kind::Performance, Kind::Repairs];

    /// The name used on the command line and in the API path.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Health => "health",
            Kind::Performance => "performance",
            Kind::Repairs => "repairs",
        }
    }
}

impl FromStr for Kind {
    type Err = ReportError;

    fn from_str(name: &str) -> Result<Kind, ReportError> {
        named(&Kind::ALL, Kind::as_str, name).ok_or_else(|| ReportError::UnknownKind(name.into()))
    }
}

/// The one of `all` whose name is `name`.
fn named<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, name: &str) -> Option<T> {
    all.iter().copied().find(|t| as_str(*t) == name)
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Md,
    /// JSON (the report's data).
    Json,
    /// A self-contained HTML page.
    Html,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Md, Format::Json, Format::Html];

    /// The name used on the command line and in the API query.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Json => "json",
            Format::Html => "html",
        }
    }

    /// The HTTP content type of a report in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Md => "text/markdown; charset=utf-8",
            Format::Json => "application/json",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}

impl FromStr for Format {
    type Err = ReportError;

    fn from_str(name: &str) -> Result<Format, ReportError> {
        named(&Format::ALL, Format::as_str, name)
            .ok_or_else(|| ReportError::UnknownFormat(name.into()))
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No report of this name.
    #[error("no report `{0}` (health, performance or repairs)")]
    UnknownKind(String),
    /// No format of this name.
    #[error("format `{0}`: expected html, md or json")]
    UnknownFormat(String),
    /// The API could not be asked, or refused (the cause names the request, as the daemon
    /// client's errors always did).
    #[error("{cause}")]
    Source {
        /// The path asked.
        path: String,
        /// Why the answer did not come.
        cause: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The report could not be written as JSON.
    #[error("writing the report as JSON")]
    Json(#[from] serde_json::Error),
}

impl ReportError {
    /// The answer of `GET path` did not come, because of `source`.
    pub fn source(
        path: &str,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> ReportError {
        ReportError::Source {
            path: path.to_string(),
            cause: cause.into(),
        }
    }
}

/// Where a report reads the API's JSON: a daemon over HTTP (the CLI) or the API in process
/// (the report endpoint), always with the asker's credentials.
pub trait ReportSource: Sync {
    /// The JSON answer of `GET path`.
    fn get(&self, path: &str) -> impl Future<Output = Result<Value, ReportError>> + Send;
}

/// A report: sections of facts and tables.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Which report.
    pub kind: Kind,
    /// Title for humans.
    pub title: String,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// The daemon asked.
    pub server: String,
    /// In order.
    pub sections: Vec<Section>,
}

/// One part of a report.
#[derive(Debug, Default, Serialize)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Name–value pairs.
    pub facts: Vec<(String, String)>,
    /// Column names of `rows`.
    pub columns: Vec<String>,
    /// Table rows.
    pub rows: Vec<Vec<String>>,
    /// A bar chart of the section (drawn as inline SVG in the HTML form).
    pub chart: Option<Chart>,
    /// A closing remark.
    pub note: Option<String>,
}

/// A horizontal bar chart: one labelled bar per item.
#[derive(Debug, Default, Serialize)]
pub struct Chart {
    /// What the bars measure, with the unit, e.g. "p95 latency (ms)".
    pub title: String,
    /// Label and value of each bar, in order.
    pub bars: Vec<(String, f64)>,
}

/// Builds the report `kind` for the window starting `since` and renders it in `format`.
pub async fn run(
    client: &impl ReportSource,
    server: &str,
    kind: Kind,
    since: DateTime<Utc>,
    format: Format,
) -> Result<String, ReportError> {
    let sections = match kind {
        Kind::Health => gather::health(client, since).await?,
        Kind::Performance => gather::performance(client, since).await?,
        Kind::Repairs => gather::repairs(client, since).await?,
    };
    let report = Report {
        kind,
        title: format!("Homeostat {} report", kind.as_str()),
        generated_at: Utc::now(),
        since,
        server: server.to_string(),
        sections,
    };
    render::render(&report, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().ok(), Some(kind));
        }
        for format in Format::ALL {
            assert_eq!(format.as_str().parse::<Format>().ok(), Some(format));
        }
        assert!("pdf".parse::<Format>().is_err() && "uptime".parse::<Kind>().is_err());
    }
}
