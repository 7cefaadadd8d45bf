//! Reports (`homeostat report health|performance|repairs`, and `GET /api/v1/reports/{kind}` for
//! the dashboard): built over a time window from the daemon's own API answers, as Markdown, JSON
//! or a self-contained HTML page with bar charts.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Health now, checks, incidents in the window with MTTD and MTTR.
    Health,
    /// Per check: runs, success rate, latency percentiles in the window.
    Performance,
    /// Repairs in the window: by outcome, by runbook, each repair.
    Repairs,
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown.
    Md,
    /// JSON (the report's data).
    Json,
    /// A self-contained HTML page.
    Html,
}

/// Where a report reads the API's JSON: a daemon over HTTP (the CLI) or the API in process
/// (the report endpoint), always with the asker's credentials.
pub trait ReportSource: Sync {
    /// The JSON answer of `GET path`.
    fn get(&self, path: &str) -> impl Future<Output = Result<Value>> + Send;
}

/// Page size when walking the API's lists.
const PAGE: u32 = 500;
/// The most observations the API returns per check.
const OBSERVATIONS: u32 = 1000;

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

impl Section {
    fn new(heading: &str) -> Section {
        Section {
            heading: heading.to_string(),
            ..Section::default()
        }
    }

    fn fact(mut self, name: &str, value: impl Into<String>) -> Section {
        self.facts.push((name.to_string(), value.into()));
        self
    }

    fn chart(mut self, title: &str, bars: Vec<(String, f64)>) -> Section {
        if !bars.is_empty() {
            self.chart = Some(Chart {
                title: title.to_string(),
                bars,
            });
        }
        self
    }

    fn table(mut self, columns: &[&str], rows: Vec<Vec<String>>) -> Section {
        self.columns = columns.iter().map(|c| c.to_string()).collect();
        self.rows = rows;
        self
    }
}

/// Builds the report `kind` for the window starting `since` and renders it in `format`.
pub async fn run(
    client: &impl ReportSource,
    server: &str,
    kind: Kind,
    since: DateTime<Utc>,
    format: Format,
) -> Result<String> {
    let sections = match kind {
        Kind::Health => health(client, since).await?,
        Kind::Performance => performance(client, since).await?,
        Kind::Repairs => repairs(client, since).await?,
    };
    let report = Report {
        kind,
        title: format!(
            "Homeostat {} report",
            match kind {
                Kind::Health => "health",
                Kind::Performance => "performance",
                Kind::Repairs => "repairs",
            }
        ),
        generated_at: Utc::now(),
        since,
        server: server.to_string(),
        sections,
    };
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Md => markdown(&report),
        Format::Html => html(&report),
    })
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn time_of(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("—".to_string(), |s| format!("{s:.1} s"))
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The `q` quantile (0–1) of `values` by nearest rank; sorts them.
fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// Every item of a newest-first list endpoint created at or after `since` (`field` holds the time).
async fn newest_since(
    client: &impl ReportSource,
    path: &str,
    key: &str,
    field: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut offset = 0;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let page = client
            .get(&format!("{path}{separator}limit={PAGE}&offset={offset}"))
            .await?;
        let batch = page[key].as_array().cloned().unwrap_or_default();
        let total = page["total"].as_u64().unwrap_or(0);
        let mut older = false;
        for item in &batch {
            if time_of(&item[field]).is_some_and(|t| t >= since) {
                items.push(item.clone());
            } else {
                older = true;
            }
        }
        offset += PAGE;
        if older || batch.is_empty() || u64::from(offset) >= total {
            return Ok(items);
        }
    }
}

async fn health(client: &impl ReportSource, since: DateTime<Utc>) -> Result<Vec<Section>> {
    let status = client.get("/api/v1/error-monitoring/status").await?;
    let health = client.get("/api/v1/error-monitoring/health").await?;
    let checks = client.get("/api/v1/checks").await?;
    let incidents = newest_since(client, "/api/v1/incidents", "incidents", "opened_at", since)
        .await
        .context("listing incidents")?;
    let now = Section::new("Now")
        .fact(
            "Health",
            format!("{} ({})", text(&health["score"]), text(&health["status"])),
        )
        .fact("Mode", text(&status["mode"]))
        .fact(
            "Monitoring",
            if status["running"] == true {
                "running"
            } else {
                "stopped"
            },
        )
        .fact(
            "Emergency stop",
            if status["emergency_stop"] == true {
                "ENGAGED"
            } else {
                "off"
            },
        )
        .fact("Open incidents", text(&status["open_incidents"]));
    let check_rows = checks["checks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            vec![
                text(&c["name"]),
                text(&c["type"]),
                text(&c["status"]),
                c["last"]["latency_ms"]
                    .as_f64()
                    .map_or("—".to_string(), |ms| format!("{ms:.1} ms")),
                text(&c["last"]["message"]),
            ]
        })
        .collect();
    let detect: Vec<f64> = incidents
        .iter()
        .filter_map(|i| i["time_to_detect_seconds"].as_f64())
        .collect();
    let mut resolve: Vec<f64> = incidents
        .iter()
        .filter_map(|i| i["time_to_resolve_seconds"].as_f64())
        .collect();
    let mut by_priority: BTreeMap<String, usize> = BTreeMap::new();
    for i in &incidents {
        *by_priority.entry(text(&i["priority"])).or_default() += 1;
    }
    let summary = Section::new("Incidents")
        .fact("Opened", incidents.len().to_string())
        .fact("Resolved", resolve.len().to_string())
        .fact(
            "By priority",
            if by_priority.is_empty() {
                "—".to_string()
            } else {
                by_priority
                    .iter()
                    .map(|(p, n)| format!("{p}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        )
        .chart(
            "Incidents by priority",
            by_priority
                .iter()
                .map(|(p, n)| (p.clone(), *n as f64))
                .collect(),
        )
        .fact("MTTD (mean)", seconds(mean(&detect)))
        .fact("MTTR (mean)", seconds(mean(&resolve)))
        .fact("MTTR (median)", seconds(quantile(&mut resolve, 0.5)))
        .table(
            &[
                "Incident",
                "Priority",
                "State",
                "Title",
                "Opened",
                "Resolved after",
            ],
            incidents
                .iter()
                .map(|i| {
                    vec![
                        text(&i["id"]),
                        text(&i["priority"]),
                        text(&i["state"]),
                        text(&i["title"]),
                        text(&i["opened_at"]),
                        seconds(i["time_to_resolve_seconds"].as_f64()),
                    ]
                })
                .collect(),
        );
    Ok(vec![
        now,
        Section::new("Checks").table(
            &["Check", "Type", "Status", "Latency", "Last message"],
            check_rows,
        ),
        summary,
    ])
}

async fn performance(client: &impl ReportSource, since: DateTime<Utc>) -> Result<Vec<Section>> {
    let checks = client.get("/api/v1/checks").await?;
    let mut rows = Vec::new();
    let mut p95 = Vec::new();
    for check in checks["checks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = text(&check["name"]);
        let detail = client
            .get(&format!("/api/v1/checks/{name}?limit={OBSERVATIONS}"))
            .await?;
        let observations: Vec<&Value> = detail["observations"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|o| time_of(&o["observed_at"]).is_some_and(|t| t >= since))
            .collect();
        let ok = observations
            .iter()
            .filter(|o| o["raw_status"] == "ok")
            .count();
        let mut latency: Vec<f64> = observations
            .iter()
            .filter_map(|o| o["latency_ms"].as_f64())
            .collect();
        let ms = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1} ms"));
        if let Some(v) = quantile(&mut latency, 0.95) {
            p95.push((name.clone(), v));
        }
        rows.push(vec![
            name,
            text(&check["type"]),
            observations.len().to_string(),
            if observations.is_empty() {
                "—".to_string()
            } else {
                format!("{:.1} %", 100.0 * ok as f64 / observations.len() as f64)
            },
            ms(mean(&latency)),
            ms(quantile(&mut latency, 0.5)),
            ms(quantile(&mut latency, 0.95)),
            ms(quantile(&mut latency, 1.0)),
        ]);
    }
    // The slowest first, at most 30 bars.
    p95.sort_by(|a, b| b.1.total_cmp(&a.1));
    p95.truncate(30);
    let mut section = Section::new("Checks")
        .table(
            &["Check", "Type", "Runs", "OK", "Mean", "p50", "p95", "Max"],
            rows,
        )
        .chart("p95 latency (ms), slowest checks", p95);
    section.note = Some(format!(
        "From at most the {OBSERVATIONS} latest stored runs of each check; OK counts the probe's own status."
    ));
    Ok(vec![section])
}

async fn repairs(client: &impl ReportSource, since: DateTime<Utc>) -> Result<Vec<Section>> {
    let repairs = newest_since(client, "/api/v1/repairs", "repairs", "created_at", since)
        .await
        .context("listing repairs")?;
    let duration = |r: &Value| match (time_of(&r["started_at"]), time_of(&r["finished_at"])) {
        (Some(a), Some(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
        _ => None,
    };
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_runbook: BTreeMap<String, (usize, usize, usize, Vec<f64>)> = BTreeMap::new();
    for r in &repairs {
        let state = text(&r["state"]);
        *by_state.entry(state.clone()).or_default() += 1;
        let entry = by_runbook.entry(text(&r["runbook"])).or_default();
        entry.0 += 1;
        match state.as_str() {
            "succeeded" => {
                entry.1 += 1;
                entry.3.extend(duration(r));
            }
            "failed" | "rolled_back" => entry.2 += 1,
            _ => {}
        }
    }
    let mut outcomes = Section::new("By outcome").fact("Repairs", repairs.len().to_string());
    for (state, n) in &by_state {
        outcomes = outcomes.fact(state, n.to_string());
    }
    let outcomes = outcomes.chart(
        "Repairs by outcome",
        by_state
            .iter()
            .map(|(state, n)| (state.clone(), *n as f64))
            .collect(),
    );
    let runbooks = Section::new("By runbook").table(
        &["Runbook", "Repairs", "Succeeded", "Failed", "Median time"],
        by_runbook
            .into_iter()
            .map(|(name, (n, ok, failed, mut times))| {
                vec![
                    name,
                    n.to_string(),
                    ok.to_string(),
                    failed.to_string(),
                    seconds(quantile(&mut times, 0.5)),
                ]
            })
            .collect(),
    );
    let list = Section::new("Repairs").table(
        &[
            "Repair", "Runbook", "State", "Target", "Incident", "Created", "Took", "Error",
        ],
        repairs
            .iter()
            .map(|r| {
                vec![
                    text(&r["id"]),
                    text(&r["runbook"]),
                    text(&r["state"]),
                    text(&r["target"]),
                    text(&r["incident_id"]),
                    text(&r["created_at"]),
                    seconds(duration(r)),
                    text(&r["error"]),
                ]
            })
            .collect(),
    );
    Ok(vec![outcomes, runbooks, list])
}

/// `|` and line breaks would break a Markdown table cell.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", report.title);
    let _ = writeln!(
        out,
        "Window: {} – {} · daemon {}\n",
        report.since.to_rfc3339(),
        report.generated_at.to_rfc3339(),
        report.server
    );
    for section in &report.sections {
        let _ = writeln!(out, "## {}\n", section.heading);
        for (name, value) in &section.facts {
            let _ = writeln!(out, "- **{}:** {}", md_cell(name), md_cell(value));
        }
        if !section.facts.is_empty() {
            out.push('\n');
        }
        if !section.columns.is_empty() {
            if section.rows.is_empty() {
                out.push_str("(none)\n\n");
            } else {
                let _ = writeln!(out, "| {} |", section.columns.join(" | "));
                let _ = writeln!(out, "|{}", "---|".repeat(section.columns.len()));
                for row in &section.rows {
                    let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
                    let _ = writeln!(out, "| {} |", cells.join(" | "));
                }
                out.push('\n');
            }
        }
        if let Some(note) = &section.note {
            let _ = writeln!(out, "_{}_\n", md_cell(note));
        }
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n\
         <style>body{{font:15px/1.45 system-ui,sans-serif;color:#1b1f24;max-width:1100px;margin:1.5rem auto;padding:0 1rem}}\
         table{{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}}th,td{{text-align:left;padding:.3rem .5rem;\
         border-bottom:1px solid #d0d7de;vertical-align:top}}th{{color:#57606a}}dt{{color:#57606a}}\
         dl{{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}}dd{{margin:0}}.muted{{color:#57606a}}</style>\n\
         </head>\n<body>\n<h1>{title}</h1>\n<p class=\"muted\">Window: {since} – {now} · daemon {server}</p>\n",
        title = escape(&report.title),
        since = escape(&report.since.to_rfc3339()),
        now = escape(&report.generated_at.to_rfc3339()),
        server = escape(&report.server),
    );
    for section in &report.sections {
        let _ = writeln!(out, "<section>\n<h2>{}</h2>", escape(&section.heading));
        if !section.facts.is_empty() {
            out.push_str("<dl>\n");
            for (name, value) in &section.facts {
                let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(value));
            }
            out.push_str("</dl>\n");
        }
        if !section.columns.is_empty() {
            if section.rows.is_empty() {
                out.push_str("<p>(none)</p>\n");
            } else {
                out.push_str("<table>\n<thead><tr>");
                for column in &section.columns {
                    let _ = write!(out, "<th scope=\"col\">{}</th>", escape(column));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in &section.rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", escape(cell));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
        }
        if let Some(chart) = &section.chart {
            out.push_str(&svg_bars(chart));
        }
        if let Some(note) = &section.note {
            let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(note));
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// An inline SVG bar chart (no script, no external resource).
fn svg_bars(chart: &Chart) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 220.0;
    const WIDTH: f64 = 700.0;
    let max = chart
        .bars
        .iter()
        .map(|b| b.1)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let height = ROW * chart.bars.len() as f64 + 8.0;
    let mut out = format!(
        "<figure><svg role=\"img\" aria-label=\"{title}\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" \
         style=\"max-width:{WIDTH}px\" xmlns=\"http://www.w3.org/2000/svg\">\n",
        title = escape(&chart.title)
    );
    for (i, (label, value)) in chart.bars.iter().enumerate() {
        let y = i as f64 * ROW + 4.0;
        let w = ((WIDTH - LABEL - 80.0) * value / max).max(1.0);
        let _ = writeln!(
            out,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\" font-size=\"12\" fill=\"#57606a\">{label}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{bh}\" fill=\"#0b5cd5\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\" font-size=\"12\">{value}</text>",
            lx = LABEL - 8.0,
            ty = y + 13.0,
            bh = ROW - 6.0,
            vx = LABEL + w + 6.0,
            label = escape(label),
            value = escape(&format_value(*value)),
        );
    }
    let _ = writeln!(
        out,
        "</svg><figcaption class=\"muted\">{}</figcaption></figure>",
        escape(&chart.title)
    );
    out
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_everything_it_is_given() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn charts_are_svg_with_escaped_labels_and_bars_to_scale() {
        let svg = svg_bars(&Chart {
            title: "by <outcome>".into(),
            bars: vec![("<b>succeeded".into(), 10.0), ("failed".into(), 5.0)],
        });
        assert!(svg.starts_with("<figure><svg role=\"img\" aria-label=\"by &lt;outcome&gt;\""));
        assert!(svg.contains("&lt;b&gt;succeeded") && !svg.contains("<b>"));
        assert!(
            svg.contains("width=\"400.0\"") && svg.contains("width=\"200.0\""),
            "{svg}"
        );
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), Some(3.0));
        assert_eq!(quantile(&mut v, 0.95), Some(5.0));
        assert_eq!(quantile(&mut v, 1.0), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
    }
}
