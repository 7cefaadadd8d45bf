//! Category rates in line time: a source's clock (the newest line time seen, moving on with the
//! wall clock between lines), and a sliding window per alert rule that fires when `count` lines
//! fall within `within` of that clock and stops firing after a whole window without one.
//! Memory is `count` times.

use chrono::{DateTime, TimeDelta, Utc};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A log source's "now" in line time: the newest line time seen, plus the wall time since it
/// was seen, never ahead of the wall clock. Reading a backlog, it follows the lines' own times;
/// reading live, it is the wall clock (or the writer's clock, if that is behind).
#[derive(Clone, Copy, Debug, Default)]
pub struct LineClock {
    /// The newest line time and when it was seen.
    newest: Option<(DateTime<Utc>, Instant)>,
}

impl LineClock {
    /// The clock at `now` (`wall` is the wall clock then); `wall` before any line.
    pub fn now(&self, wall: DateTime<Utc>, now: Instant) -> DateTime<Utc> {
        self.newest.map_or(wall, |(time, at)| {
            let since = TimeDelta::from_std(now.saturating_duration_since(at)).unwrap_or_default();
            time.checked_add_signed(since).unwrap_or(wall).min(wall)
        })
    }

    /// Moves the clock to a line of time `line` read at `now`, and returns the line's time for
    /// rates: its own, clamped to the wall clock (a line from the future counts as now). A line
    /// without a time (`None`) gets the clock's time and does not move it.
    pub fn observe(
        &mut self,
        line: Option<DateTime<Utc>>,
        wall: DateTime<Utc>,
        now: Instant,
    ) -> DateTime<Utc> {
        let clock = self.now(wall, now);
        let Some(line) = line else {
            return clock;
        };
        let time = line.min(wall);
        // The first timed line sets the clock (a backlog starts in the past).
        let newest = if self.newest.is_some() {
            clock.max(time)
        } else {
            time
        };
        self.newest = Some((newest, now));
        time
    }
}

/// The hits of one rule inside its window, and whether it is firing.
#[derive(Clone, Debug)]
pub struct RateWindow {
    count: usize,
    within: TimeDelta,
    /// The newest hits, at most `count`, oldest first.
    hits: VecDeque<DateTime<Utc>>,
    firing: bool,
}

impl RateWindow {
    /// A quiet window for `count` hits (at least 1) within `within`.
    pub fn new(count: u32, within: Duration) -> RateWindow {
        let count = usize::try_from(count).unwrap_or(usize::MAX).max(1);
        RateWindow {
            count,
            within: TimeDelta::from_std(within).unwrap_or(TimeDelta::MAX),
            hits: VecDeque::with_capacity(count.min(1024)),
            firing: false,
        }
    }

    /// The oldest time still inside the window when the clock reads `clock`.
    fn horizon(&self, clock: DateTime<Utc>) -> DateTime<Utc> {
        clock
            .checked_sub_signed(self.within)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Records a hit of line time `at` when the source clock reads `clock`; true when this hit
    /// makes the rule fire (it was not firing). Hits older than the window before `clock` do
    /// not count.
    pub fn hit(&mut self, at: DateTime<Utc>, clock: DateTime<Utc>) -> bool {
        let horizon = self.horizon(clock);
        while self.hits.front().is_some_and(|first| *first < horizon) {
            self.hits.pop_front();
        }
        if at < horizon {
            return false;
        }
        // Lines come mostly in time order; an earlier one goes to its place.
        let place = self
            .hits
            .iter()
            .rposition(|h| *h <= at)
            .map_or(0, |i| i + 1);
        self.hits.insert(place, at);
        if self.hits.len() > self.count {
            self.hits.pop_front();
        }
        if self.hits.len() == self.count && !self.firing {
            self.firing = true;
            return true;
        }
        false
    }

    /// Takes the rule as firing with a hit at `at` (for an incident an earlier run left open:
    /// the restart): it stops firing, and the incident resolves, after a whole window without a
    /// hit from then on.
    pub fn resume_firing(&mut self, at: DateTime<Utc>) {
        self.firing = true;
        self.hits.clear();
        self.hits.push_back(at);
    }

    /// True when the rule was firing and no hit came for a whole window before `clock`: it
    /// stops firing.
    pub fn quiet(&mut self, clock: DateTime<Utc>) -> bool {
        let last = self.hits.back().copied();
        if self.firing && last.is_none_or(|last| clock - last > self.within) {
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
    pub fn first_hit(&self) -> Option<DateTime<Utc>> {
        self.hits.front().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_795_000_000_000 + ms).expect("in range")
    }

    /// A hit read live: its time is the clock.
    fn live(w: &mut RateWindow, ms: i64) -> bool {
        w.hit(at(ms), at(ms))
    }

    #[test]
    fn fires_on_the_count_th_hit_within_the_window_and_only_once() {
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        assert!(!live(&mut w, 0));
        assert!(!live(&mut w, 400));
        assert!(live(&mut w, 900));
        assert!(w.firing());
        assert_eq!(w.first_hit(), Some(at(0)));
        assert!(!live(&mut w, 950), "already firing: no second signal");
    }

    #[test]
    fn slow_hits_never_fire() {
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        for i in 0..20 {
            assert!(!live(&mut w, i * 600), "hit {i} fired");
        }
        assert!(!w.firing());
    }

    #[test]
    fn stops_firing_after_a_quiet_window_and_can_fire_again() {
        let mut w = RateWindow::new(2, Duration::from_secs(1));
        live(&mut w, 0);
        assert!(live(&mut w, 100));
        assert!(
            !w.quiet(at(1000)),
            "the window since the last hit is not over"
        );
        assert!(!w.quiet(at(1100)));
        assert!(w.quiet(at(1101)));
        assert!(!w.firing());
        assert!(!w.quiet(at(5000)), "quiet only once");
        assert!(!live(&mut w, 5000), "old hits were forgotten");
        assert!(live(&mut w, 5500));
    }

    #[test]
    fn a_resumed_rule_stops_firing_a_window_after_the_restart() {
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        w.resume_firing(at(0));
        assert!(w.firing());
        assert!(
            !w.quiet(at(1000)),
            "a whole window must pass after the restart"
        );
        assert!(
            !live(&mut w, 500),
            "still firing: hits after the restart send nothing"
        );
        assert!(!w.quiet(at(1400)));
        assert!(w.quiet(at(1501)));
        assert!(!w.firing());
    }

    #[test]
    fn count_of_one_fires_on_every_burst() {
        let mut w = RateWindow::new(1, Duration::from_millis(10));
        assert!(live(&mut w, 0));
        assert!(w.quiet(at(11)));
        assert!(live(&mut w, 20));
    }

    #[test]
    fn old_hits_read_all_at_once_do_not_fire() {
        // An hour of errors, one a minute, read in a moment: only the line times count.
        let mut w = RateWindow::new(5, Duration::from_secs(60));
        let mut clock = LineClock::default();
        let (wall, now) = (at(3_600_000), Instant::now());
        for minute in 0..59 {
            let time = clock.observe(Some(at(minute * 60_000)), wall, now);
            assert!(!w.hit(time, clock.now(wall, now)), "minute {minute} fired");
        }
        // Five within a minute do.
        for s in 0..5 {
            let time = clock.observe(Some(at(3_590_000 + s * 1000)), wall, now);
            let fired = w.hit(time, clock.now(wall, now));
            assert_eq!(fired, s == 4);
        }
        assert_eq!(w.first_hit(), Some(at(3_590_000)));
    }

    #[test]
    fn hits_out_of_order_and_too_old_for_the_window() {
        let mut w = RateWindow::new(3, Duration::from_secs(1));
        assert!(!w.hit(at(900), at(900)));
        assert!(
            !w.hit(at(-200), at(900)),
            "older than the window: not counted"
        );
        assert!(!w.hit(at(100), at(900)));
        assert!(w.hit(at(500), at(900)));
        assert_eq!(w.first_hit(), Some(at(100)));
    }

    #[test]
    fn the_clock_follows_line_times_and_never_runs_ahead_of_the_wall_clock() {
        let mut clock = LineClock::default();
        let start = Instant::now();
        let wall = at(10_000);
        assert_eq!(clock.now(wall, start), wall, "no line yet: the wall clock");
        assert_eq!(clock.observe(None, wall, start), wall);
        assert_eq!(clock.observe(Some(at(1000)), wall, start), at(1000));
        assert_eq!(clock.now(wall, start), at(1000));
        // Between lines it moves on with the wall clock.
        let later = start + Duration::from_millis(500);
        assert_eq!(clock.now(wall, later), at(1500));
        // A line without a time gets the clock's time; an older line does not move it back.
        assert_eq!(clock.observe(None, wall, later), at(1500));
        assert_eq!(clock.observe(Some(at(0)), wall, later), at(0));
        assert_eq!(clock.now(wall, later), at(1500));
        // A line from the future counts as now, and the clock stops at the wall clock.
        assert_eq!(clock.observe(Some(at(99_000)), wall, later), wall);
        assert_eq!(clock.now(wall, later + Duration::from_secs(5)), wall);
    }
}
