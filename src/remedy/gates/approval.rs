//! The approval gate: which runbooks need a person's approval, the decision on a waiting repair,
//! and the approval timeout rule (`on_timeout` after `approval_timeout`), shared with the API.

use crate::config::{Approval, OnTimeout, Risk, RunbookConfig};
use crate::model::{Repair, RepairState};
use crate::remedy::context::Context;
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// Whether repairs by `book` wait for a person: `approval = "required"`, or `risk = "high"`.
pub(super) fn needs_approval(book: &RunbookConfig) -> bool {
    book.approval == Approval::Required || book.risk == Risk::High
}

/// For `repair`, awaiting approval under `book`: the decision its `on_timeout` makes once
/// `approval_timeout` has passed since the repair was created (at `now`), with the note
/// that says so; `None` while a person may still decide.
pub fn approval_timed_out(
    repair: &Repair,
    book: &RunbookConfig,
    now: DateTime<Utc>,
) -> Option<(RepairState, &'static str)> {
    let timeout =
        chrono::Duration::from_std(book.approval_timeout.get()).unwrap_or(chrono::Duration::MAX);
    let deadline = repair
        .created_at
        .checked_add_signed(timeout)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (now >= deadline).then_some(match book.on_timeout {
        OnTimeout::Approve => (
            RepairState::Queued,
            "approval timed out: approved by on_timeout",
        ),
        OnTimeout::Deny => (
            RepairState::Denied,
            "approval timed out: denied by on_timeout",
        ),
    })
}

impl Context {
    /// The decision on a repair in `awaiting_approval`: `Some(true)` approved (by a person, or
    /// by `on_timeout` once `approval_timeout` has passed since it was created), `Some(false)`
    /// denied or ended, `None` still undecided.
    pub(in crate::remedy) async fn approval(
        &self,
        repair: &Repair,
        book: &RunbookConfig,
    ) -> Result<Option<bool>, StoreError> {
        loop {
            match self.store.repair(&repair.id).await?.map(|r| r.state) {
                Some(RepairState::Queued) => return Ok(Some(true)),
                Some(RepairState::AwaitingApproval) => {}
                _ => return Ok(Some(false)),
            }
            let Some((to, note)) = approval_timed_out(repair, book, Utc::now()) else {
                return Ok(None);
            };
            if self
                .store
                .decide_repair(&repair.id, to, "homeostat", note)
                .await?
            {
                return Ok(Some(to == RepairState::Queued));
            }
            // A person decided at the same moment: read their decision.
        }
    }
}
