//! Retry backoff: exponential from `base`, capped at `cap`, with random jitter so jobs that failed
//! together do not retry together.

use std::time::Duration;

/// How long a failed job waits before its next attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt; doubles with every further attempt.
    pub base: Duration,
    /// Longest delay, whatever the attempt.
    pub cap: Duration,
    /// Fraction (0.0 ..= 1.0) of the delay that is random: the delay is scaled by a factor
    /// drawn from `[1 - jitter, 1]`. 0 makes delays exact.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 1 s, 2 s, 4 s ... up to 5 min, 20 % jitter.
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay before the next attempt of a job that has used `attempts` (1 or more).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        let exact = self
            .base
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.cap)
            .min(self.cap);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return exact;
        }
        exact.mul_f64(1.0 - jitter * rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_base_up_to_cap() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            jitter: 0.0,
        };
        let delays: Vec<u128> = (1..=6).map(|a| policy.delay(a).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(1));
        assert_eq!(policy.delay(0), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let policy = RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(10),
            jitter: 0.5,
        };
        for _ in 0..1000 {
            let d = policy.delay(1);
            assert!(
                d >= Duration::from_secs(5) && d <= Duration::from_secs(10),
                "{d:?}"
            );
        }
    }
}
