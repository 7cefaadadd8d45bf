//! The target hold: one repair of a target at a time, on this instance (an in-memory set) and
//! across instances sharing a PostgreSQL store (a durable advisory lock).

use crate::model::Repair;
use crate::remedy::context::{Context, Subject};
use crate::store::{StoreError, TargetHold};
use std::sync::Arc;
use std::time::Duration;

/// How long a repair waits for a target whose durable hold another instance (or this one) is
/// giving up, before it counts the target as busy.
const TARGET_HOLD_WAIT: Duration = Duration::from_secs(2);
/// How often it looks again meanwhile.
const TARGET_HOLD_POLL: Duration = Duration::from_millis(50);

/// While held, no other repair of the same target may be admitted, by this instance (the
/// in-memory set) or by another sharing the PostgreSQL store (the durable `TargetHold`).
pub(in crate::remedy) struct TargetLease {
    context: Arc<Context>,
    target: String,
    /// Released with the lease (dropped).
    durable: Option<TargetHold>,
}

impl Drop for TargetLease {
    fn drop(&mut self) {
        self.context
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.target);
    }
}

impl Context {
    /// Holds the subject's target for one repair (nothing to hold without a target); when
    /// another repair holds it, records this one refused and returns why.
    pub(in crate::remedy) async fn hold_target(
        self: &Arc<Self>,
        subject: &Subject<'_>,
    ) -> Result<Result<Option<TargetLease>, (String, Repair)>, StoreError> {
        match self.try_hold(subject.target()).await? {
            Ok(lease) => Ok(Ok(lease)),
            Err(why) => {
                let repair = self.record_cancelled(subject, &why).await?;
                Ok(Err((why, repair)))
            }
        }
    }

    /// Holds `target` for one repair (nothing to hold without one); why not when another
    /// repair holds it, of this instance or of another sharing the store. A hold just given up
    /// elsewhere (e.g. by the instance that admitted a manual repair this one now runs) is
    /// released in the background: it is waited for up to `TARGET_HOLD_WAIT`.
    pub(in crate::remedy) async fn try_hold(
        self: &Arc<Self>,
        target: Option<String>,
    ) -> Result<Result<Option<TargetLease>, String>, StoreError> {
        let Some(target) = target else {
            return Ok(Ok(None));
        };
        let busy = format!("another repair of `{target}` is in progress");
        let free = self
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.clone());
        if !free {
            return Ok(Err(busy));
        }
        let mut lease = TargetLease {
            context: Arc::clone(self),
            target,
            durable: None,
        };
        // On an error `lease` is dropped, which frees the target again.
        lease.durable = self
            .store
            .try_hold_target(&lease.target, TARGET_HOLD_WAIT, TARGET_HOLD_POLL)
            .await?;
        Ok(match lease.durable {
            Some(_) => Ok(Some(lease)),
            None => Err(busy),
        })
    }
}
