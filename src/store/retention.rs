//! Retention: a periodic task that prunes observations by age and by count per check, log
//! clusters (and their counts) by age, and audit entries older than `[security] audit_retention`
//! (moving the chain's anchor), so the database does not grow without bound.

use super::Store;
use crate::config::StoreConfig;
use crate::telemetry::Metrics;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Prunes once now and then every `prune_interval` until `shutdown`.
pub async fn run(
    store: Store,
    config: StoreConfig,
    audit_retention: Option<std::time::Duration>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut ticker = tokio::time::interval(config.prune_interval.get());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let observations_cutoff = cutoff(config.retention_max_age.get());
        match store
            .prune_observations(config.retention_per_check, observations_cutoff)
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
        match store.prune_log_clusters(observations_cutoff).await {
            Ok(removed) if removed > 0 => {
                tracing::info!(removed, "retention pruned log clusters");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "log cluster retention failed; will retry"),
        }
        if let Some(keep) = audit_retention {
            match store.prune_audit(cutoff(keep)).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "retention pruned audit entries"),
                Err(e) => tracing::warn!(error = %e, "audit retention failed; will retry"),
            }
        }
        crate::process::release_free_heap();
    }
}

/// Now minus `age`, saturating at the earliest representable time.
fn cutoff(age: std::time::Duration) -> chrono::DateTime<chrono::Utc> {
    let age = chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX);
    chrono::Utc::now()
        .checked_sub_signed(age)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}
