//! The observation writer: check tasks send observations on a channel; one task writes them in
//! batches (by size or every `flush_interval`) and, at shutdown, drains and flushes what is left.

use super::Store;
use crate::model::Observation;
use crate::telemetry::Metrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Observations written in one transaction, at most.
const MAX_BATCH: usize = 2000;
/// Observations waiting in the channel before senders wait (backpressure).
const CHANNEL_CAPACITY: usize = 20_000;

/// Starts the writer. Dropping every sender ends it after a final flush; await the handle.
pub fn spawn(
    store: Store,
    metrics: Arc<Metrics>,
    flush_interval: Duration,
) -> (mpsc::Sender<Observation>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let handle = tokio::spawn(run(store, metrics, flush_interval, receiver));
    (sender, handle)
}

async fn run(
    store: Store,
    metrics: Arc<Metrics>,
    flush_interval: Duration,
    mut receiver: mpsc::Receiver<Observation>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut ticker = tokio::time::interval(flush_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut batch, MAX_BATCH) => {
                if received == 0 {
                    flush(&store, &metrics, &mut batch).await;
                    return;
                }
                if batch.len() >= MAX_BATCH {
                    flush(&store, &metrics, &mut batch).await;
                }
            }
            _ = ticker.tick() => flush(&store, &metrics, &mut batch).await,
        }
    }
}

async fn flush(store: &Store, metrics: &Metrics, batch: &mut Vec<Observation>) {
    if batch.is_empty() {
        return;
    }
    let mut result = store.insert_observations(batch).await;
    if let Err(e) = &result {
        tracing::warn!(error = %e, rows = batch.len(), "writing observations failed; retrying once");
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = store.insert_observations(batch).await;
    }
    match result {
        Ok(n) => {
            metrics.observations_written.inc_by(n);
        }
        Err(e) => {
            metrics.store_errors.inc();
            tracing::error!(error = %e, rows = batch.len(), "observations dropped: the store rejected them twice");
        }
    }
    batch.clear();
}
