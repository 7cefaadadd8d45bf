//! Retention: a periodic task that prunes observations by age and by count per check, and log
//! clusters (and their counts) by age, so the database does not grow without bound.

use super::Store;
use crate::config::StoreConfig;
use crate::telemetry::Metrics;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Prunes once now and then every `prune_interval` until `shutdown`.
pub async fn run(
    store: Store,
    config: StoreConfig,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.prune_interval.get());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let max_age = chrono::Duration::from_std(config.retention_max_age.get())
            .unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now()
            .checked_sub_signed(max_age)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match store
            .prune_observations(config.retention_per_check, cutoff)
            .await
        {
            Ok(removed) => {
                metrics.observations_pruned.inc_by(removed);
                if removed > 0 {
                    tracing::info!(removed, "retention pruned observations");
                }
            }
            Err(e) => tracing::warn!(error = %e, "retention failed; will retry"),
        }
        match store.prune_log_clusters(cutoff).await {
            Ok(removed) if removed > 0 => {
                tracing::info!(removed, "retention pruned log clusters");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "log cluster retention failed; will retry"),
        }
    }
}
