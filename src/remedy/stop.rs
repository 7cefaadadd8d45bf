//! The emergency stop: one switch that stops new repairs and kills running steps at once, kept in
//! the store so it survives restarts and follows other instances sharing it.

use crate::bus::EventBus;
use crate::model::Event;
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use chrono::Utc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// The setting that persists the emergency stop across restarts.
const EMERGENCY_STOP_KEY: &str = "emergency_stop";
/// Who changed the stop when it follows the stored one.
const ANOTHER_INSTANCE: &str = "another homeostat instance";

/// The emergency stop of one engine: engaged at once here, then stored; lifted once stored;
/// and the stored value followed when another instance changes it.
pub(super) struct EmergencyStop {
    store: Store,
    bus: EventBus,
    metrics: Arc<Metrics>,
    engaged: AtomicBool,
    /// Local changes of the stop so far, held while one is made or a stored value is applied:
    /// a stored value read while one happened is older than it and is not applied.
    changes: Mutex<u64>,
    /// Held while the stop is written to or read from the store, so that a read never comes
    /// between a change and its write.
    store_lock: tokio::sync::Mutex<()>,
    /// The stop was engaged here but could not be stored: it is not lifted by the stored `0`,
    /// and storing it is tried again.
    unstored: AtomicBool,
    /// Cancelled by the stop (and shutdown); replaced on resume.
    kill: Mutex<CancellationToken>,
}

impl EmergencyStop {
    /// The stop as stored now (off when never set).
    pub(super) async fn load(
        store: Store,
        bus: EventBus,
        metrics: Arc<Metrics>,
    ) -> Result<EmergencyStop, StoreError> {
        let engaged = store
            .setting(EMERGENCY_STOP_KEY)
            .await?
            .is_some_and(|v| v == "1");
        metrics.emergency_stop.set(i64::from(engaged));
        Ok(EmergencyStop {
            store,
            bus,
            metrics,
            engaged: AtomicBool::new(engaged),
            changes: Mutex::new(0),
            store_lock: tokio::sync::Mutex::new(()),
            unstored: AtomicBool::new(false),
            kill: Mutex::new(CancellationToken::new()),
        })
    }

    /// Whether the stop is engaged.
    pub(super) fn engaged(&self) -> bool {
        self.engaged.load(Ordering::SeqCst)
    }

    /// Fires when the stop is engaged (or `kill_all` is called); a fresh token after resume.
    pub(super) fn kill_token(&self) -> CancellationToken {
        self.kill.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Kills the running steps (at shutdown) without engaging the stop.
    pub(super) fn kill_all(&self) {
        self.kill_token().cancel();
    }

    /// Stops new repairs and kills running steps (their whole process groups) at once, then
    /// persists. When persisting fails the stop stays on here (and storing it is retried).
    pub(super) async fn engage(&self, actor: &str) -> Result<(), StoreError> {
        {
            let mut changes = self.changes();
            *changes += 1;
            self.engage_here(actor);
        }
        let _store = self.store_lock.lock().await;
        let stored = self.store.set_setting(EMERGENCY_STOP_KEY, "1").await;
        self.unstored.store(stored.is_err(), Ordering::SeqCst);
        stored
    }

    /// Lifts the stop once it is persisted.
    pub(super) async fn resume(&self, actor: &str) -> Result<(), StoreError> {
        let _store = self.store_lock.lock().await;
        self.store.set_setting(EMERGENCY_STOP_KEY, "0").await?;
        self.unstored.store(false, Ordering::SeqCst);
        let mut changes = self.changes();
        *changes += 1;
        self.lift_here(actor);
        Ok(())
    }

    /// Applies the stored stop when another instance (same PostgreSQL) changed it.
    pub(super) async fn follow_stored(&self) {
        let _store = self.store_lock.lock().await;
        if self.unstored.load(Ordering::SeqCst) {
            // Engaged here while the store failed: store it now; never lift it from a stale `0`.
            if self
                .store
                .set_setting(EMERGENCY_STOP_KEY, "1")
                .await
                .is_ok()
            {
                self.unstored.store(false, Ordering::SeqCst);
            }
            return;
        }
        let before = *self.changes();
        let read = self.store.setting(EMERGENCY_STOP_KEY).await;
        let changes = self.changes();
        if *changes != before {
            return; // changed here meanwhile: what was read is older
        }
        match read {
            Ok(value) => {
                let stored = value.is_some_and(|v| v == "1");
                if stored && !self.engaged() {
                    self.engage_here(ANOTHER_INSTANCE);
                } else if !stored && self.engaged() {
                    self.lift_here(ANOTHER_INSTANCE);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the stored emergency stop"),
        }
    }

    /// The local effect of engaging: flag, kill running steps, announce.
    fn engage_here(&self, actor: &str) {
        self.engaged.store(true, Ordering::SeqCst);
        self.kill_all();
        self.metrics.emergency_stop.set(1);
        tracing::error!(
            actor,
            "EMERGENCY STOP: no repairs will start; running steps killed"
        );
        self.announce(true, actor);
    }

    /// The local effect of lifting: a fresh kill token, flag, announce.
    fn lift_here(&self, actor: &str) {
        *self.kill.lock().unwrap_or_else(|p| p.into_inner()) = CancellationToken::new();
        self.engaged.store(false, Ordering::SeqCst);
        self.metrics.emergency_stop.set(0);
        tracing::warn!(actor, "emergency stop lifted: repairs may run again");
        self.announce(false, actor);
    }

    fn announce(&self, active: bool, actor: &str) {
        self.bus.publish(Event::EmergencyStop {
            active,
            actor: actor.to_string(),
            at: Utc::now(),
        });
    }

    /// The count of local changes, locked.
    fn changes(&self) -> MutexGuard<'_, u64> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }
}
