//! The scheduler: every check runs in its own task on its interval, with a random initial phase
//! (jitter) so checks spread out; a run never overlaps the previous one (missed ticks are skipped),
//! and a slow or hung check never delays the others (each run is bounded by its timeout).

use super::{Check, Outcome};
use crate::model::Observation;
use chrono::{DateTime, Utc};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Extra time a probe gets past its own timeout before the scheduler abandons the run.
const ABANDON_GRACE: Duration = Duration::from_secs(2);

/// Where the scheduler hands each run's outcome: detection (flap control, signals), which
/// answers with the observation to store.
pub trait OutcomeSink: Send + Sync {
    /// Applies the outcome of one run of `check` that started at `started_at`, took
    /// `duration` and began `lateness` after its tick; returns the observation to store.
    fn observe(
        &self,
        check: &Check,
        outcome: Outcome,
        started_at: DateTime<Utc>,
        duration: Duration,
        lateness: Duration,
    ) -> Observation;
}

/// What every check task shares.
#[derive(Clone)]
pub struct SchedulerContext {
    /// Applies flap control and emits signals.
    pub detection: Arc<dyn OutcomeSink>,
    /// Where observations go to be stored.
    pub sink: mpsc::Sender<Observation>,
    /// `true` while monitoring runs (start/stop from the API).
    pub running: watch::Receiver<bool>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// Starts one task per check; the set ends when `shutdown` is cancelled.
pub fn spawn(checks: &[Arc<Check>], ctx: &SchedulerContext) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let mut rng = rand::rng();
    for check in checks {
        let phase = check.interval.mul_f64(rng.random_range(0.0..1.0));
        tasks.spawn(run_check(Arc::clone(check), ctx.clone(), phase));
    }
    tasks
}

async fn run_check(check: Arc<Check>, mut ctx: SchedulerContext, phase: Duration) {
    let start = Instant::now()
        .checked_add(phase)
        .unwrap_or_else(Instant::now);
    let mut ticker = tokio::time::interval_at(start, check.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let mut scheduled = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            tick = ticker.tick() => tick,
        };
        if !*ctx.running.borrow_and_update() {
            // Paused: wait for a start, then run at once and keep the interval from there.
            loop {
                tokio::select! {
                    _ = ctx.shutdown.cancelled() => return,
                    changed = ctx.running.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        if *ctx.running.borrow_and_update() {
                            break;
                        }
                    }
                }
            }
            ticker.reset();
            scheduled = Instant::now();
        }
        let lateness = Instant::now().saturating_duration_since(scheduled);
        let started_at = Utc::now();
        let started = Instant::now();
        let run = tokio::time::timeout(
            check.timeout.saturating_add(ABANDON_GRACE),
            check.kind.probe(check.timeout),
        );
        let outcome = tokio::select! {
            _ = ctx.shutdown.cancelled() => return,
            result = run => result.unwrap_or_else(|_| Outcome::new(
                check.kind.timeout_status(),
                format!("no result within {}", humantime::format_duration(check.timeout)),
            )),
        };
        let observation =
            ctx.detection
                .observe(&check, outcome, started_at, started.elapsed(), lateness);
        if ctx.sink.send(observation).await.is_err() {
            return;
        }
    }
}
