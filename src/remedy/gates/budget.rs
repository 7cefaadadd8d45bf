//! Breakers and budgets: an open breaker refuses its target × runbook; `max_attempts` within
//! `window` opens it for `cooldown`; `max_repairs_per_hour` caps repairs globally.

use super::Admission;
use crate::model::Breaker;
use crate::remedy::context::{Attempt, Context, Subject};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

impl Context {
    /// The breaker of `target` × `runbook` open at `now`, if any.
    pub(super) async fn open_breaker_of(
        &self,
        target: &str,
        runbook: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Breaker>, StoreError> {
        Ok(self
            .store
            .open_breakers(now)
            .await?
            .into_iter()
            .find(|b| b.target == target && b.runbook == runbook))
    }

    /// The refusal of `subject` by its target's open breaker, its target's budget (which then
    /// opens the breaker) or the global hourly budget; `None` when all of them let it pass.
    pub(super) async fn refuse_over_budget(
        &self,
        subject: &Subject<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<Admission>, StoreError> {
        let store = &self.store;
        let book = subject.book;
        let runbook = book.name.get_ref().as_str();
        if let Some(target) = subject.target() {
            if let Some(breaker) = self.open_breaker_of(&target, runbook, now).await? {
                let why = format!(
                    "breaker open until {} ({})",
                    breaker.closes_at.to_rfc3339(),
                    breaker.reason
                );
                let repair = self.record_cancelled(subject, &why).await?;
                return Ok(Some(Admission::Refused(Attempt::Next(why), repair)));
            }
            let window =
                chrono::Duration::from_std(book.window.get()).unwrap_or(chrono::Duration::MAX);
            // Attempts before the breaker last closed (cooldown passed or a human reset it)
            // no longer count: closing the breaker really lets repairs run again.
            let window_start = now.checked_sub_signed(window).unwrap_or(now);
            let since = match store.breaker_closed_at(&target, runbook, now).await? {
                Some(closed) => closed.max(window_start),
                None => window_start,
            };
            let used = store.count_attempts(&target, runbook, since).await?;
            if used >= i64::from(book.max_attempts) {
                let cooldown = chrono::Duration::from_std(book.cooldown.get())
                    .unwrap_or(chrono::Duration::MAX);
                let reason = format!(
                    "{used} attempts within {} (max {})",
                    book.window, book.max_attempts
                );
                store
                    .open_breaker(&Breaker {
                        target: target.clone(),
                        runbook: runbook.to_string(),
                        opened_at: now,
                        closes_at: now.checked_add_signed(cooldown).unwrap_or(now),
                        reason: reason.clone(),
                    })
                    .await?;
                let why = format!(
                    "budget exhausted: {reason}; breaker opened for {}",
                    book.cooldown
                );
                let repair = self.record_cancelled(subject, &why).await?;
                return Ok(Some(Admission::Refused(Attempt::Next(why), repair)));
            }
        }
        let hourly = store
            .count_repairs_since(now - chrono::Duration::hours(1))
            .await?;
        if hourly >= i64::from(self.config.policy.max_repairs_per_hour) {
            let why = format!(
                "global budget exhausted: {hourly} repairs in the last hour (max_repairs_per_hour)"
            );
            let repair = self.record_cancelled(subject, &why).await?;
            return Ok(Some(Admission::Refused(Attempt::Escalate(why), repair)));
        }
        Ok(None)
    }
}
