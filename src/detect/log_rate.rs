//! Log category rates: per log source, a sliding window per alert rule over the classified
//! lines the source hands on; a rule that fires, or goes quiet for a whole window, is a signal.

use crate::config::{AlertRule, LogConfig};
use crate::logs::classified::{ClassifiedLine, ClassifiedSink};
use crate::model::Severity;
use crate::model::{Impact, LOG_LABEL, Signal, Status, log_fingerprint};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::telemetry::events::LogAlertChanged;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Longest evidence line quoted in a signal.
const EVIDENCE_CHARS: usize = 500;

/// One category-rate rule and its window.
struct Rule {
    rule: AlertRule,
    window: RateWindow,
    /// The latest matching line (evidence).
    latest: String,
}

/// The alert rules of one log source, fed its classified lines; sends their signals.
pub struct LogRates {
    source: String,
    labels: BTreeMap<String, String>,
    impact: Impact,
    rules: Vec<Rule>,
    /// Rule index by category name.
    rule_of: HashMap<String, usize>,
    signals: UnboundedSender<Signal>,
    metrics: Arc<Metrics>,
}

impl LogRates {
    /// The rules of log source `config` (`rules`: those in force, see
    /// [`LogConfig::rules`]), each resumed as firing when an earlier run left its incident
    /// open; signals go to `signals`.
    pub async fn open(
        config: &LogConfig,
        rules: Vec<AlertRule>,
        store: &Store,
        signals: UnboundedSender<Signal>,
        metrics: Arc<Metrics>,
    ) -> Result<LogRates, StoreError> {
        let source = config.name.get_ref().clone();
        let mut rules: Vec<Rule> = rules
            .into_iter()
            .map(|rule| Rule {
                window: RateWindow::new(rule.count, rule.within),
                rule,
                latest: String::new(),
            })
            .collect();
        // A rule whose incident an earlier run left open fires on, as if it had a hit now: a
        // whole window without a hit from now on resolves it (the errors may have stopped while
        // the daemon was down), and hits that go on keep it open. The last hit before the stop
        // is not known: a firing rule signals once, so the incident's last signal is when it
        // fired, and errors that never stopped would resolve it at once.
        for rule in &mut rules {
            let fingerprint = log_fingerprint(&source, &rule.rule.category);
            if store.active_incident(&fingerprint).await?.is_some() {
                rule.window.resume_firing(Utc::now());
            }
        }
        let rule_of = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.rule.category.clone(), i))
            .collect();
        Ok(LogRates {
            source,
            labels: config.labels.clone(),
            impact: config.impact,
            rules,
            rule_of,
            signals,
            metrics,
        })
    }

    /// The healthy signal when rule `index` fired and had a whole quiet window before `clock`.
    fn quiet_rule(&mut self, index: usize, clock: DateTime<Utc>) {
        let Some(rule) = self.rules.get_mut(index) else {
            return;
        };
        if !rule.window.quiet(clock) {
            return;
        }
        let (category, severity) = (rule.rule.category.clone(), rule.rule.severity);
        let message = format!(
            "no `{category}` line for {}",
            humantime::format_duration(rule.rule.within)
        );
        let signal = self.signal(
            &category,
            Status::Ok,
            status_of(severity),
            message,
            Utc::now(),
        );
        self.send(signal, false);
    }

    fn signal(
        &self,
        category: &str,
        status: Status,
        previous: Status,
        message: String,
        since: DateTime<Utc>,
    ) -> Signal {
        let mut labels = self.labels.clone();
        labels.insert(LOG_LABEL.into(), self.source.clone());
        labels.insert("category".into(), category.to_string());
        Signal {
            fingerprint: log_fingerprint(&self.source, category),
            check: None,
            subject: format!("log {}", self.source),
            labels,
            impact: self.impact,
            status,
            previous,
            message,
            at: Utc::now(),
            failing_since: status.is_failure().then_some(since),
        }
    }

    fn send(&self, signal: Signal, firing: bool) {
        LogAlertChanged {
            source: &self.source,
            category: signal.labels.get("category").map_or("", String::as_str),
            firing,
            message: &signal.message,
        }
        .emit(&self.metrics);
        let _ = self.signals.send(signal);
    }
}

impl ClassifiedSink for LogRates {
    /// A hit of the line's rule (if its category has one): the signal when the rule fires.
    fn line(&mut self, line: ClassifiedLine<'_>) {
        let Some(index) = self.rule_of.get(line.category).copied() else {
            return;
        };
        // A backlog can hold a burst, a quiet window and another burst: two incidents.
        self.quiet_rule(index, line.clock);
        let Some(rule) = self.rules.get_mut(index) else {
            return;
        };
        rule.latest = line.message.chars().take(EVIDENCE_CHARS).collect();
        if rule.window.hit(line.at, line.clock) {
            let since = rule.window.first_hit().unwrap_or(line.at);
            let message = format!(
                "{} `{}` lines within {}; latest: {}",
                rule.rule.count,
                rule.rule.category,
                humantime::format_duration(rule.rule.within),
                rule.latest
            );
            let (category, status) = (rule.rule.category.clone(), status_of(rule.rule.severity));
            let signal = self.signal(&category, status, Status::Ok, message, since);
            self.send(signal, true);
        }
    }

    /// Rules that fired and had a whole quiet window: healthy signals.
    fn clock(&mut self, clock: DateTime<Utc>) {
        for index in 0..self.rules.len() {
            self.quiet_rule(index, clock);
        }
    }
}

/// The signal status of a category's severity: `critical` and `error` lines mean something
/// failed; `warning` and `info` only warn.
fn status_of(severity: Severity) -> Status {
    match severity {
        Severity::Critical | Severity::Error => Status::Critical,
        Severity::Warning | Severity::Info => Status::Warning,
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
    #[cfg(test)]
    fn firing(&self) -> bool {
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
    use crate::logs::clock::LineClock;
    use std::time::Instant;

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
}
