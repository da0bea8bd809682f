//! The fake server's clock.
//!
//! The fake reads time from the tokio runtime that started it, so a test that runs with
//! `#[tokio::test(start_paused = true)]` drives export schedules, download-URL expiry, retention
//! and rate-limit windows with virtual time. [`FakeClock::advance`] moves the fake's time forward
//! on top of that (for example past the 24 h URL expiry or the 7-day retention) without touching
//! the runtime's clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A clock shared by every part of one fake server.
///
/// `now()` is the time elapsed since the fake started, as seen by the runtime that started it
/// (virtual time when that runtime's clock is paused), plus everything added by
/// [`advance`](Self::advance). Wall-clock values (`unix_now`, timestamps in bodies) are the
/// start time plus `now()`.
#[derive(Clone, Debug)]
pub struct FakeClock {
    inner: Arc<ClockInner>,
}

#[derive(Debug)]
struct ClockInner {
    handle: Option<tokio::runtime::Handle>,
    start: tokio::time::Instant,
    epoch: SystemTime,
    offset: Mutex<Duration>,
}

impl FakeClock {
    /// A clock that follows the current tokio runtime (if any) from now on.
    pub fn new() -> Self {
        let handle = tokio::runtime::Handle::try_current().ok();
        let start = read_instant(handle.as_ref());
        FakeClock {
            inner: Arc::new(ClockInner {
                handle,
                start,
                epoch: SystemTime::now(),
                offset: Mutex::new(Duration::ZERO),
            }),
        }
    }

    /// Time elapsed since the fake started (runtime time plus manual advances).
    pub fn now(&self) -> Duration {
        let elapsed =
            read_instant(self.inner.handle.as_ref()).saturating_duration_since(self.inner.start);
        elapsed + *self.inner.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the fake's time forward by `by`, for everything the fake schedules.
    pub fn advance(&self, by: Duration) {
        *self.inner.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    /// The fake's current wall-clock time.
    pub fn system_now(&self) -> SystemTime {
        self.inner.epoch + self.now()
    }

    /// The fake's current wall-clock time in whole seconds since the Unix epoch.
    pub fn unix_now(&self) -> u64 {
        self.system_now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Converts a point on this clock (a value returned by [`now`](Self::now)) into Unix seconds.
    pub fn unix_at(&self, at: Duration) -> u64 {
        (self.inner.epoch + at)
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// RFC 3339 timestamp (UTC, milliseconds, `Z`) for a point on this clock.
    pub fn rfc3339_at(&self, at: Duration) -> String {
        chrono::DateTime::<chrono::Utc>::from(self.inner.epoch + at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads `tokio::time::Instant::now()` as the given runtime sees it, from any thread.
fn read_instant(handle: Option<&tokio::runtime::Handle>) -> tokio::time::Instant {
    match handle {
        Some(h) => {
            let _guard = h.enter();
            tokio::time::Instant::now()
        }
        None => tokio::time::Instant::now(),
    }
}
