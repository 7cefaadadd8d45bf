//! Learning: for each (incident fingerprint, runbook), attempts, successes and time to verified
//! recovery. Candidates are tried in order of the Beta(1 + successes, 1 + failures) mean
//! (config order breaks ties), and each carries a one-line "why".

use serde::Serialize;
use utoipa::ToSchema;

/// What history says about one runbook for one fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RunbookStats {
    /// Runbook name.
    pub runbook: String,
    /// Repairs that ran (not dry-run, not refused by a gate).
    pub attempts: u64,
    /// Of those, verified healthy.
    pub successes: u64,
    /// Median seconds from first step to verified recovery; `null` without successes.
    pub median_recovery_seconds: Option<f64>,
    /// Beta(1 + successes, 1 + failures) mean: the chance this runbook fixes the next one.
    pub estimate: f64,
    /// For humans, e.g. "restart-api: 14/15 succeeded, median 4.2 s".
    pub why: String,
}

impl RunbookStats {
    /// Stats from raw counts and the recovery times of the successes.
    pub fn new(
        runbook: &str,
        attempts: u64,
        successes: u64,
        mut recovery_seconds: Vec<f64>,
    ) -> RunbookStats {
        let successes = successes.min(attempts);
        let estimate = (1.0 + successes as f64) / (2.0 + attempts as f64);
        recovery_seconds.sort_by(f64::total_cmp);
        let median = match recovery_seconds.len() {
            0 => None,
            n if n % 2 == 1 => Some(recovery_seconds[n / 2]),
            n => Some((recovery_seconds[n / 2 - 1] + recovery_seconds[n / 2]) / 2.0),
        };
        let why = match (attempts, median) {
            (0, _) => format!("{runbook}: no history yet (config order)"),
            (_, Some(m)) => format!("{runbook}: {successes}/{attempts} succeeded, median {m:.1} s"),
            (_, None) => format!("{runbook}: {successes}/{attempts} succeeded"),
        };
        RunbookStats {
            runbook: runbook.to_string(),
            attempts,
            successes,
            median_recovery_seconds: median,
            estimate,
            why,
        }
    }
}

/// Ranked stats from a stored history (`Store::runbook_history` and friends).
pub fn rank_history(history: crate::store::RunbookHistory) -> Vec<RunbookStats> {
    rank(
        history
            .into_iter()
            .map(|(name, attempts, successes, times)| {
                RunbookStats::new(&name, attempts, successes, times)
            })
            .collect(),
    )
}

/// Orders candidates (given in config order) by estimate, best first; ties keep config order.
pub fn rank(mut candidates: Vec<RunbookStats>) -> Vec<RunbookStats> {
    // A stable sort keeps config order among equal estimates.
    candidates.sort_by(|a, b| b.estimate.total_cmp(&a.estimate));
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_reorders_and_ties_keep_config_order() {
        let ranked = rank(vec![
            RunbookStats::new("restart", 10, 2, vec![3.0; 2]),
            RunbookStats::new("clear-cache", 15, 14, vec![4.0, 4.2, 5.0]),
            RunbookStats::new("new-a", 0, 0, vec![]),
            RunbookStats::new("new-b", 0, 0, vec![]),
        ]);
        let order: Vec<&str> = ranked.iter().map(|s| s.runbook.as_str()).collect();
        assert_eq!(order, ["clear-cache", "new-a", "new-b", "restart"]);
        assert_eq!(ranked[0].why, "clear-cache: 14/15 succeeded, median 4.2 s");
        assert_eq!(ranked[1].why, "new-a: no history yet (config order)");
        assert!((ranked[1].estimate - 0.5).abs() < 1e-12);
    }
}
