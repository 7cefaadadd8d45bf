//! Brute-force protection for logins: failures are counted per user and per client IP within a
//! window; reaching the limit locks that key for the lockout period. In memory, per instance.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failure history of one key (a user name or an IP).
#[derive(Debug, Default)]
struct Record {
    failures: Vec<Instant>,
    locked_until: Option<Instant>,
}

/// Counts failed logins and locks keys that fail too often.
#[derive(Debug)]
pub struct Lockout {
    max_attempts: u32,
    window: Duration,
    lockout: Duration,
    records: Mutex<HashMap<String, Record>>,
}

/// Largest number of keys tracked; beyond it the oldest unlocked records are dropped first.
const MAX_KEYS: usize = 100_000;

impl Lockout {
    /// `max_attempts` failures within `window` lock a key for `lockout`.
    pub fn new(max_attempts: u32, window: Duration, lockout: Duration) -> Lockout {
        Lockout {
            max_attempts: max_attempts.max(1),
            window,
            lockout,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// How long `key` stays locked, if it is locked at `now`.
    pub fn locked_for(&self, key: &str, now: Instant) -> Option<Duration> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records
            .get(key)
            .and_then(|r| r.locked_until)
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Starts a login attempt for every key at once: refused with the longest remaining lockout
    /// when one is locked; otherwise the attempt is counted as a failure *before* the password is
    /// checked (so concurrent guesses cannot all slip past the limit) and `succeed` takes it back.
    /// Returns whether this attempt locked a key.
    pub fn begin(&self, keys: &[&str], now: Instant) -> Result<bool, Duration> {
        if let Some(left) = keys.iter().filter_map(|k| self.locked_for(k, now)).max() {
            return Err(left);
        }
        let mut locked = false;
        for key in keys {
            locked |= self.fail(key, now);
        }
        Ok(locked)
    }

    /// Records a failure of `key` at `now`; returns true when this failure locked it.
    pub fn fail(&self, key: &str, now: Instant) -> bool {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() >= MAX_KEYS && !records.contains_key(key) {
            records.retain(|_, r| r.locked_until.is_some_and(|u| u > now));
        }
        let record = records.entry(key.to_string()).or_default();
        if record.locked_until.is_some_and(|u| u <= now) {
            record.locked_until = None;
            record.failures.clear();
        }
        record
            .failures
            .retain(|t| now.saturating_duration_since(*t) < self.window);
        record.failures.push(now);
        if record.locked_until.is_none() && record.failures.len() >= self.max_attempts as usize {
            record.locked_until = Some(now + self.lockout);
            return true;
        }
        false
    }

    /// Takes back the one attempt `begin` counted for `key` when it turned out to succeed,
    /// keeping the other failures (and lifting a lock only that attempt had set).
    pub fn refund(&self, key: &str) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(record) = records.get_mut(key) {
            record.failures.pop();
            if record.failures.len() < self.max_attempts as usize {
                record.locked_until = None;
            }
        }
    }

    /// Forgets the failures of `key` after a successful login (also a lock that the
    /// successful attempt itself set when it was counted in advance by `begin`).
    pub fn succeed(&self, key: &str) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_within_the_window_and_unlocks_after_lockout() {
        let l = Lockout::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let t0 = Instant::now();
        assert!(!l.fail("alice", t0));
        assert!(!l.fail("alice", t0 + Duration::from_secs(1)));
        assert_eq!(l.locked_for("alice", t0), None);
        assert!(l.fail("alice", t0 + Duration::from_secs(2)));
        assert!(l.locked_for("alice", t0 + Duration::from_secs(3)).is_some());
        assert!(
            l.locked_for("bob", t0).is_none(),
            "other keys are not affected"
        );
        assert_eq!(l.locked_for("alice", t0 + Duration::from_secs(303)), None);
        // After the lockout, counting starts again from zero.
        assert!(!l.fail("alice", t0 + Duration::from_secs(303)));
    }

    #[test]
    fn concurrent_attempts_cannot_pass_the_limit() {
        let l = Lockout::new(3, Duration::from_secs(60), Duration::from_secs(300));
        let t0 = Instant::now();
        // Ten attempts begin before any password check finishes: only three get through.
        let admitted = (0..10)
            .filter(|_| l.begin(&["user:a", "ip:1"], t0).is_ok())
            .count();
        assert_eq!(admitted, 3);
        assert!(
            l.begin(&["user:b", "ip:1"], t0).is_err(),
            "the IP is locked too"
        );
        // A success (the third attempt had the right password) takes its user's count back;
        // for the address only that one attempt is taken back, the two failures stay.
        l.succeed("user:a");
        l.refund("ip:1");
        assert!(l.begin(&["user:a"], t0).is_ok());
        assert!(l.begin(&["ip:1"], t0).is_ok(), "2 failures + this one");
        assert!(l.begin(&["ip:1"], t0).is_err(), "locked again at the third");
    }

    #[test]
    fn failures_outside_the_window_do_not_count_and_success_resets() {
        let l = Lockout::new(2, Duration::from_secs(10), Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(!l.fail("ip", t0));
        assert!(!l.fail("ip", t0 + Duration::from_secs(11)));
        l.succeed("ip");
        assert!(!l.fail("ip", t0 + Duration::from_secs(12)));
    }
}
