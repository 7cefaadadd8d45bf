//! A log source's clock in line time: the newest line time seen, moving on with the wall clock
//! between lines (category rates and cluster times count by it).

use chrono::{DateTime, TimeDelta, Utc};
use std::time::Instant;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_795_000_000_000 + ms).expect("in range")
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
