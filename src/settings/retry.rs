//! How API requests are retried ([`RetryPolicy`]).
//!
//! A settings module: it depends on nothing else of this crate. The hook that applies the policy
//! to every request is [`crate::retry`].

use std::time::Duration;

/// Retry policy for API requests.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per request, the first included (default 4).
    pub max_attempts: u32,
    /// Backoff before the first retry (default 250 ms), doubled each retry.
    pub initial_backoff: Duration,
    /// Backoff cap (default 8 s).
    pub max_backoff: Duration,
    /// Also retry idempotent requests on 500 (default false: a 500 is usually a bug, not load).
    pub retry_server_errors: bool,
    /// Longest wait for a rate-limit reset; a 429 asking for more is returned (default 65 s).
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            retry_server_errors: false,
            max_rate_limit_wait: Duration::from_secs(65),
        }
    }
}

impl RetryPolicy {
    setters! {
        /// Retries idempotent requests on 500 too.
        retry_server_errors: bool;
        /// Sets the longest wait for a rate-limit reset.
        max_rate_limit_wait: Duration;
    }

    /// A policy that never retries (rate-limit waits included).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Sets the attempts per request, the first included (at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the first backoff and its cap.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }
}
