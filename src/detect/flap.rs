//! Flap control: a check is reported failing only after `failures_before_critical` consecutive
//! failing runs; one healthy run reports it ok again.

use crate::model::Status;

/// Consecutive-failure counter of one check.
#[derive(Clone, Copy, Debug, Default)]
pub struct FlapFilter {
    consecutive_failures: u32,
}

impl FlapFilter {
    /// Feeds one raw status; returns the status to report. Until the threshold is reached a
    /// failing run reports `current` (the status already reported) unchanged.
    pub fn filter(&mut self, raw: Status, current: Status, threshold: u32) -> Status {
        if !raw.is_failure() {
            self.consecutive_failures = 0;
            return raw;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.consecutive_failures >= threshold.max(1) {
            raw
        } else {
            current
        }
    }

    /// Failing runs in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_failure_only_after_threshold_and_recovers_at_once() {
        let mut f = FlapFilter::default();
        let mut shown = Status::Ok;
        for expected in [Status::Ok, Status::Ok, Status::Critical] {
            shown = f.filter(Status::Critical, shown, 3);
            assert_eq!(shown, expected);
        }
        assert_eq!(f.filter(Status::Ok, shown, 3), Status::Ok);
        assert_eq!(f.consecutive_failures(), 0);
    }

    #[test]
    fn an_interrupted_failure_streak_starts_over() {
        let mut f = FlapFilter::default();
        let mut shown = Status::Ok;
        for raw in [
            Status::Critical,
            Status::Critical,
            Status::Ok,
            Status::Critical,
            Status::Critical,
        ] {
            shown = f.filter(raw, shown, 3);
            assert_eq!(shown, Status::Ok, "flapping service reported failing");
        }
    }

    #[test]
    fn threshold_one_reports_immediately() {
        let mut f = FlapFilter::default();
        assert_eq!(f.filter(Status::Warning, Status::Ok, 1), Status::Warning);
        assert_eq!(
            f.filter(Status::Critical, Status::Warning, 0),
            Status::Critical
        );
    }
}
