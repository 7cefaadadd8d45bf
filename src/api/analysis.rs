//! `POST /api/v1/error-monitoring/analyze-error`: one error message → its category (with advice
//! and runbooks), its template cluster, and the runbooks configured here that may fix it.

use super::AppState;
use super::error::ApiError;
use crate::model::Severity;
use crate::remedy::rank_history;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest message analysed; longer ones are a 400.
const MAX_MESSAGE: usize = 64 * 1024;

/// An error to analyse.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// The log line or error message.
    pub message: String,
    /// Where it came from (service, file); echoed back.
    pub source: Option<String>,
}

/// The known category a message falls in.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryMatch {
    /// Category name, e.g. `connection_refused`.
    pub name: String,
    /// `info`, `warning`, `error` or `critical`.
    #[schema(value_type = String)]
    pub severity: Severity,
    /// What to check first.
    pub advice: String,
    /// Runbook names the category suggests (configured or not).
    pub runbooks: Vec<String>,
}

/// The template cluster a message joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterMatch {
    /// Stable cluster id.
    pub id: u64,
    /// Template with `<*>` for variables.
    pub template: String,
    /// Messages in the cluster so far (since start).
    pub count: u64,
    /// Whether this message created the cluster.
    pub new: bool,
}

/// What the message is.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnalyzeResponse {
    /// The source given, if any.
    pub source: Option<String>,
    /// The first matching category; `null` when none matches.
    pub category: Option<CategoryMatch>,
    /// Its cluster.
    pub cluster: ClusterMatch,
    /// What to do: the category's advice; for a message of no known category, what fixed
    /// incidents that came with its template (when anything did), else how to follow it up.
    pub advice: String,
    /// Category runbooks that exist in this config, to use in `repair-task`.
    pub suggested_runbooks: Vec<String>,
    /// Runbooks that fixed incidents which came with log clusters of this template, best first,
    /// with their record ("why").
    pub learned_runbooks: Vec<crate::remedy::RunbookStats>,
}

/// Classifies one error message and clusters it with the ones seen before.
#[utoipa::path(post, path = "/api/v1/error-monitoring/analyze-error", tag = "monitoring", request_body = AnalyzeRequest,
    responses((status = 200, body = AnalyzeResponse), (status = 400, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn analyze_error(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<AnalyzeResponse>, ApiError> {
    let request: AnalyzeRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    if request.message.len() > MAX_MESSAGE {
        return Err(ApiError::bad_request(format!(
            "message longer than {MAX_MESSAGE} bytes"
        )));
    }
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let (category, cluster) = {
        let analyzer = match state.analyzer.get() {
            Some(analyzer) => analyzer,
            None => {
                // A loaded config's categories always compile; a failure here is ours.
                let classifier = crate::logs::Classifier::from_config(&state.config)
                    .map_err(|e| ApiError::internal("compiling the log categories", &e))?;
                state.analyzer.get_or_init(|| {
                    std::sync::Mutex::new(crate::logs::Analyzer::new(
                        classifier,
                        crate::logs::MinerConfig::default(),
                    ))
                })
            }
        };
        let mut analyzer = analyzer.lock().unwrap_or_else(|p| p.into_inner());
        let result = analyzer.analyze_line(&request.message, now_ms);
        let category = result
            .category
            .and_then(|id| analyzer.classifier().category(id))
            .map(|c| CategoryMatch {
                name: c.name.clone(),
                severity: c.severity,
                advice: c.advice.clone(),
                runbooks: c.runbooks.clone(),
            });
        let cluster = analyzer.miner().cluster(result.cluster).map_or(
            ClusterMatch {
                id: result.cluster,
                template: String::new(),
                count: 1,
                new: result.new_cluster,
            },
            |c| ClusterMatch {
                id: c.id,
                template: c.template(),
                count: c.count,
                new: result.new_cluster,
            },
        );
        (category, cluster)
    };
    let suggested_runbooks = category
        .as_ref()
        .map(|c| {
            c.runbooks
                .iter()
                .filter(|name| {
                    state
                        .config
                        .runbook
                        .iter()
                        .any(|r| r.name.get_ref() == *name)
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    // What fixed incidents that came with stored clusters of the same template (tailed logs).
    let mut history = Vec::new();
    for (id, source) in state
        .store
        .clusters_with_template(&cluster.template)
        .await?
    {
        let ties = state.config.log_labels(&source);
        for (runbook, attempts, successes, times) in
            state.store.cluster_runbook_history(&id, ties).await?
        {
            match history
                .iter_mut()
                .find(|h: &&mut (String, u64, u64, Vec<f64>)| h.0 == runbook)
            {
                Some(h) => {
                    h.1 += attempts;
                    h.2 += successes;
                    h.3.extend(times);
                }
                None => history.push((runbook, attempts, successes, times)),
            }
        }
    }
    let learned_runbooks = rank_history(history);
    let advice = advice(category.as_ref(), &cluster, &learned_runbooks);
    Ok(Json(AnalyzeResponse {
        source: request.source,
        category,
        cluster,
        advice,
        suggested_runbooks,
        learned_runbooks,
    }))
}

/// The advice for a message: its category's, else what learning knows of its template.
fn advice(
    category: Option<&CategoryMatch>,
    cluster: &ClusterMatch,
    learned: &[crate::remedy::RunbookStats],
) -> String {
    if let Some(category) = category.filter(|c| !c.advice.is_empty()) {
        return category.advice.clone();
    }
    match learned.iter().find(|r| r.successes > 0) {
        Some(best) => format!(
            "Incidents that came with this template were fixed by {}",
            best.why
        ),
        None if category.is_some() => format!(
            "No advice written for this category, and no repair is known for this template yet \
             ({} message(s) of it so far).",
            cluster.count
        ),
        None => format!(
            "No known failure category, and no repair is known for this template yet \
             ({} message(s) of it so far). If it matters, add a [[category]] for it with \
             advice and runbooks.",
            cluster.count
        ),
    }
}
