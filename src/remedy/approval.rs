//! The approval timeout: once `approval_timeout` has passed, `on_timeout` decides a repair that
//! still awaits a human. One rule, shared by the engine and the API.

use crate::config::{OnTimeout, RunbookConfig};
use crate::model::{Repair, RepairState};
use chrono::{DateTime, Utc};

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
