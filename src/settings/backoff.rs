//! The crate's one backoff schedule, shared by API retries, export polling, export-start waits,
//! limiter checks and download resumes, so that they all grow, cap and (where asked) jitter the
//! same way.

use std::time::Duration;

/// The crate's one backoff schedule: `initial × factor^(n-1)` before try `n` (from 1), capped at
/// `max`; with `jitter`, 50–100 % of that.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    /// Values below 1 (and NaN) count as 1.
    pub(crate) factor: f64,
    pub(crate) max: Duration,
    pub(crate) jitter: bool,
}

impl Backoff {
    /// The delay before try `n` (from 1). Never panics, whatever the numbers.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let exp = n.saturating_sub(1).min(64) as i32;
        let secs = self.initial.as_secs_f64() * self.factor.max(1.0).powi(exp);
        let delay = if secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        };
        if self.jitter {
            delay.mul_f64(0.5 + fastrand::f64() / 2.0)
        } else {
            delay
        }
    }

    /// The longer of [`delay`](Self::delay) and what the server asked for.
    pub(crate) fn wait(&self, n: u32, asked: Option<Duration>) -> Duration {
        let delay = self.delay(n);
        asked.map_or(delay, |asked| asked.max(delay))
    }
}

/// Whether waiting `wait` more after `elapsed` stays within `limit`, without overflow.
pub(crate) fn within(elapsed: Duration, wait: Duration, limit: Duration) -> bool {
    elapsed.checked_add(wait).is_some_and(|end| end <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(initial_ms: u64, factor: f64, max_ms: u64) -> Backoff {
        Backoff {
            initial: Duration::from_millis(initial_ms),
            factor,
            max: Duration::from_millis(max_ms),
            jitter: false,
        }
    }

    #[test]
    fn delays_grow_by_the_factor_and_stop_at_the_cap() {
        let b = plain(100, 2.0, 1000);
        let delays: Vec<_> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        // Try 0 is read as try 1 rather than underflowing.
        assert_eq!(b.delay(0), Duration::from_millis(100));
    }

    #[test]
    fn factors_below_one_and_nan_count_as_one() {
        for factor in [0.5, 0.0, -3.0, f64::NAN] {
            let b = plain(100, factor, 1000);
            assert_eq!(b.delay(5), Duration::from_millis(100), "factor {factor}");
        }
    }

    #[test]
    fn huge_tries_and_factors_never_panic() {
        let b = plain(1, f64::MAX, 5000);
        assert_eq!(b.delay(u32::MAX), Duration::from_millis(5000));
        let b = plain(u64::MAX / 2, 10.0, u64::MAX);
        let _ = b.delay(u32::MAX);
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_delay() {
        let b = Backoff {
            jitter: true,
            ..plain(1000, 1.0, 1000)
        };
        for _ in 0..200 {
            let d = b.delay(1);
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_millis(1000),
                "{d:?}"
            );
        }
    }

    #[test]
    fn wait_takes_the_longer_of_the_schedule_and_the_server_ask() {
        let b = plain(100, 2.0, 1000);
        assert_eq!(b.wait(1, None), Duration::from_millis(100));
        assert_eq!(
            b.wait(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            b.wait(4, Some(Duration::from_millis(10))),
            Duration::from_millis(800)
        );
    }

    #[test]
    fn within_is_inclusive_and_overflow_safe() {
        let s = Duration::from_secs;
        assert!(within(s(1), s(2), s(3)));
        assert!(!within(s(2), s(2), s(3)));
        assert!(!within(Duration::MAX, s(1), Duration::MAX));
    }
}
