//! Category rates: a sliding window per alert rule that fires when `count` lines arrive within
//! `within`, and stops firing after a whole window without one. Memory is `count` instants.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The hits of one rule inside its window, and whether it is firing.
#[derive(Clone, Debug)]
pub struct RateWindow {
    count: usize,
    within: Duration,
    /// The newest hits, at most `count`, oldest first.
    hits: VecDeque<Instant>,
    firing: bool,
}

impl RateWindow {
    /// A quiet window for `count` hits (at least 1) within `within`.
    pub fn new(count: u32, within: Duration) -> RateWindow {
        let count = usize::try_from(count).unwrap_or(usize::MAX).max(1);
        RateWindow {
            count,
            within,
            hits: VecDeque::with_capacity(count.min(1024)),
            firing: false,
        }
    }

    /// Records a hit at `now`; true when this hit makes the rule fire (it was not firing).
    pub fn hit(&mut self, now: Instant) -> bool {
        if self.hits.len() == self.count {
            self.hits.pop_front();
        }
        self.hits.push_back(now);
        let full = self.hits.len() == self.count
            && self
                .hits
                .front()
                .is_some_and(|first| now.saturating_duration_since(*first) <= self.within);
        if full && !self.firing {
            self.firing = true;
            return true;
        }
        false
    }

    /// True when the rule was firing and no hit came for a whole window before `now`: it stops
    /// firing.
    pub fn quiet(&mut self, now: Instant) -> bool {
        let last = self.hits.back().copied();
        if self.firing && last.is_none_or(|last| now.saturating_duration_since(last) > self.within)
        {
            self.firing = false;
            self.hits.clear();
            return true;
        }
        false
    }

    /// Whether the rule is firing.
    pub fn firing(&self) -> bool {
        self.firing
    }

    /// The oldest hit still remembered (the start of the burst when the rule fires).
    pub fn first_hit(&self) -> Option<Instant> {
        self.hits.front().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn fires_on_the_count_th_hit_within_the_window_and_only_once() {
        let t = Instant::now();
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        assert!(!w.hit(at(t, 0)));
        assert!(!w.hit(at(t, 400)));
        assert!(w.hit(at(t, 900)));
        assert!(w.firing());
        assert_eq!(w.first_hit(), Some(at(t, 0)));
        assert!(!w.hit(at(t, 950)), "already firing: no second signal");
    }

    #[test]
    fn slow_hits_never_fire() {
        let t = Instant::now();
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        for i in 0..20 {
            assert!(!w.hit(at(t, i * 600)), "hit {i} fired");
        }
        assert!(!w.firing());
    }

    #[test]
    fn stops_firing_after_a_quiet_window_and_can_fire_again() {
        let t = Instant::now();
        let mut w = RateWindow::new(2, Duration::from_secs(1));
        w.hit(at(t, 0));
        assert!(w.hit(at(t, 100)));
        assert!(
            !w.quiet(at(t, 1000)),
            "the window since the last hit is not over"
        );
        assert!(!w.quiet(at(t, 1100)));
        assert!(w.quiet(at(t, 1101)));
        assert!(!w.firing());
        assert!(!w.quiet(at(t, 5000)), "quiet only once");
        assert!(!w.hit(at(t, 5000)), "old hits were forgotten");
        assert!(w.hit(at(t, 5500)));
    }

    #[test]
    fn count_of_one_fires_on_every_burst() {
        let t = Instant::now();
        let mut w = RateWindow::new(1, Duration::from_millis(10));
        assert!(w.hit(t));
        assert!(w.quiet(at(t, 11)));
        assert!(w.hit(at(t, 20)));
    }
}
