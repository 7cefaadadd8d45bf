//! Gathering a report: the API's answers over the window, walked page by page, turned into
//! sections of facts, tables and charts.

use super::{Chart, ReportError, ReportSource, Section};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;

/// Page size when walking the API's lists.
const PAGE: u32 = 500;
/// The most observations the API returns per check.
const OBSERVATIONS: u32 = 1000;

impl Section {
    pub(super) fn new(heading: &str) -> Section {
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
) -> Result<Vec<Value>, ReportError> {
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

pub(super) async fn health(
    client: &impl ReportSource,
    since: DateTime<Utc>,
) -> Result<Vec<Section>, ReportError> {
    let status = client.get("/api/v1/error-monitoring/status").await?;
    let health = client.get("/api/v1/error-monitoring/health").await?;
    let checks = client.get("/api/v1/checks").await?;
    let incidents =
        newest_since(client, "/api/v1/incidents", "incidents", "opened_at", since).await?;
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

pub(super) async fn performance(
    client: &impl ReportSource,
    since: DateTime<Utc>,
) -> Result<Vec<Section>, ReportError> {
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

pub(super) async fn repairs(
    client: &impl ReportSource,
    since: DateTime<Utc>,
) -> Result<Vec<Section>, ReportError> {
    let repairs = newest_since(client, "/api/v1/repairs", "repairs", "created_at", since).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&mut v, 0.5), Some(3.0));
        assert_eq!(quantile(&mut v, 0.95), Some(5.0));
        assert_eq!(quantile(&mut v, 1.0), Some(5.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
