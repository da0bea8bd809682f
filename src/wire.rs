//! Reading what a server sends, before any meaning is given to it: bodies read up to a bound (a
//! hostile or broken server cannot make us buffer without end), and the header values the retry
//! hook, the export poller and downloads all read (`Retry-After`, `RateLimit-*`, `Date`).
//!
//! A bottom-layer module: it depends on nothing else of this crate, so `decode`, `retry`,
//! `export` and `download` share it without reaching into each other.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use reqwest::header::{AsHeaderName, HeaderMap};

/// A reading of the `RateLimit-*` response headers ([`Client::rate_limit`](crate::Client::rate_limit)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per 60-second window (`RateLimit-Limit`).
    pub limit: u64,
    /// Requests left in the current window (`RateLimit-Remaining`).
    pub remaining: u64,
    /// When the window resets (`RateLimit-Reset`, a Unix timestamp).
    pub reset: SystemTime,
}

/// A header's value as trimmed text (`None` if absent or not visible ASCII).
pub(crate) fn header_str(headers: &HeaderMap, name: impl AsHeaderName) -> Option<&str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

pub(crate) fn read_rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
    let reset = header_str(headers, "ratelimit-reset")?.parse().ok()?;
    Some(RateLimit {
        limit: header_str(headers, "ratelimit-limit")?.parse().ok()?,
        remaining: header_str(headers, "ratelimit-remaining")?.parse().ok()?,
        reset: UNIX_EPOCH.checked_add(Duration::from_secs(reset))?,
    })
}

/// Time from the response's `Date` (else our clock) until `at`; zero if past.
fn until(at: SystemTime, headers: &HeaderMap) -> Duration {
    let now = header_str(headers, "date")
        .and_then(|date| httpdate::parse_http_date(date).ok())
        .unwrap_or_else(SystemTime::now);
    at.duration_since(now).unwrap_or(Duration::ZERO)
}

/// How long a 429 or 503 asks to wait: `Retry-After`, else the reset of a used-up window.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(value) = header_str(headers, "retry-after") {
        if let Ok(secs) = value.parse() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(until(date, headers));
        }
    }
    let reading = read_rate_limit(headers)?;
    (reading.remaining == 0).then(|| until(reading.reset, headers))
}

/// The most read of an error body, of an export status and of any other answer.
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;
pub(crate) const MAX_STATUS_BODY: usize = 1024 * 1024;
pub(crate) const MAX_API_BODY: usize = 64 * 1024 * 1024;

/// Reads at most `limit` bytes of a body (none if it declares more), and whether more followed.
pub(crate) async fn read_prefix(
    mut response: reqwest::Response,
    limit: usize,
) -> reqwest::Result<(Bytes, bool)> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((Bytes::new(), true));
    }
    let mut out = Vec::new();
    let more = read_into(&mut response, limit, &mut out).await?;
    Ok((out.into(), more))
}

/// Appends the body to `out` until it holds `limit` (kept if this fails): whether more followed.
pub(crate) async fn read_into(
    response: &mut reqwest::Response,
    limit: usize,
    out: &mut Vec<u8>,
) -> reqwest::Result<bool> {
    while let Some(chunk) = response.chunk().await? {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if chunk.len() > room {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn retry_after_in_seconds() {
        let h = headers(&[("retry-after", " 7 ")]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[test]
    fn retry_after_as_a_date_counts_from_the_servers_date() {
        let h = headers(&[
            ("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT"),
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        // A date in the past asks for no wait at all, not a negative one.
        let h = headers(&[
            ("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT"),
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]);
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
    }

    #[test]
    fn a_used_up_rate_limit_window_asks_to_wait_for_its_reset() {
        let h = headers(&[
            ("ratelimit-limit", "100"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1445412510"),
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"), // 1445412480
        ]);
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        // Requests left in the window: this is not a rate-limit wait.
        let h = headers(&[
            ("ratelimit-limit", "100"),
            ("ratelimit-remaining", "3"),
            ("ratelimit-reset", "1445412510"),
        ]);
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn garbage_headers_ask_for_nothing() {
        for value in ["soon", "-1", "1.5", ""] {
            assert_eq!(
                retry_after(&headers(&[("retry-after", value)])),
                None,
                "{value:?}"
            );
        }
        let h = headers(&[
            ("ratelimit-limit", "x"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "1"),
        ]);
        assert_eq!(read_rate_limit(&h), None);
        // A reset too far in the future to be a time is no reading, not a panic.
        let h = headers(&[
            ("ratelimit-limit", "1"),
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "18446744073709551615"),
        ]);
        let _ = read_rate_limit(&h);
    }
}
