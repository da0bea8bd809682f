//! How an export is polled: delays, time limit, error tolerance ([`PollPolicy`]).
//!
//! A settings module: it depends on nothing else of this crate but the shared [`Backoff`].

use std::time::Duration;

use super::backoff::Backoff;

/// Polling policy for exports: exponential delays between status requests and a total time
/// limit, per client ([`ClientBuilder::poll_policy`]) or per export ([`Export::with_policy`],
/// [`StartExport::poll_policy`]).
///
/// Defaults: first poll after 1 s, delays doubling up to 10 s, [`ExportError::TimedOut`] after
/// 30 minutes, the last error after 10 transient failures in a row. No jitter: unlike API retries
/// (where many clients retrying at once would hit the server together, so `RetryPolicy` jitters),
/// polls of one export are already spread by when each export started, and a fixed schedule is
/// what tests on a paused clock and users reading logs can predict. Waits use
/// `tokio::time`, so tests can run them on a paused clock.
///
/// ```
/// use std::time::Duration;
/// let policy = mangrove::PollPolicy::default()
///     .initial_delay(Duration::from_millis(500))
///     .max_delay(Duration::from_secs(5));
/// assert_eq!(policy.delay_after(2), Duration::from_secs(1));
/// assert_eq!(policy.delay_after(9), Duration::from_secs(5));
/// ```
///
/// [`ClientBuilder::poll_policy`]: crate::ClientBuilder::poll_policy
/// [`Export::with_policy`]: crate::Export::with_policy
/// [`StartExport::poll_policy`]: crate::export::StartExport::poll_policy
/// [`ExportError::TimedOut`]: crate::ExportError::TimedOut
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PollPolicy {
    /// Wait before the first status request (default 1 s).
    pub initial_delay: Duration,
    /// Growth of the wait after each poll (default 2.0; values below 1 count as 1).
    pub multiplier: f64,
    /// Largest wait between polls (default 10 s).
    pub max_delay: Duration,
    /// Total time from start until [`ExportError::TimedOut`](crate::ExportError::TimedOut)
    /// (default 30 min).
    pub time_limit: Duration,
    /// Transient failures in a row (5xx, connection errors, undecodable answers) after which
    /// polling ends with the last one (default 10).
    pub max_consecutive_errors: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial_delay: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(10),
            time_limit: Duration::from_secs(30 * 60),
            max_consecutive_errors: 10,
        }
    }
}

impl PollPolicy {
    setters! {
        /// Sets the wait before the first poll.
        initial_delay: Duration;
        /// Sets the growth factor of the wait.
        multiplier: f64;
        /// Sets the largest wait between polls.
        max_delay: Duration;
        /// Sets the total time limit.
        time_limit: Duration;
        /// Sets how many transient failures in a row end polling.
        max_consecutive_errors: u32;
    }

    /// The wait before poll number `poll` (1-based): `initial × multiplier^(poll-1)`, capped.
    pub fn delay_after(&self, poll: u32) -> Duration {
        self.schedule().delay(poll)
    }

    /// The schedule of polls (and of export starts and limiter checks waiting at its pace).
    pub(crate) fn schedule(&self) -> Backoff {
        Backoff {
            initial: self.initial_delay,
            factor: self.multiplier,
            max: self.max_delay,
            jitter: false,
        }
    }
}
