//! The one place every API request goes through: rate limits, retries, error bodies, tracing.
//!
//! [`Client`] implements progenitor's `ClientHooks::exec`, so every generated call — and the
//! export layer, which uses the generated calls — shares this behaviour:
//!
//! * **Rate limits.** `RateLimit-Limit/Remaining/Reset` are read from every response
//!   ([`Client::rate_limit`]). A 429 waits until `Retry-After` or `RateLimit-Reset` (measured
//!   against the response's `Date`, so client clock skew does not matter) and is retried, for any
//!   method: a 429 was not processed. With pacing on (default), requests are held once the window
//!   is used up, so a bulk job does not run into 429s at all.
//! * **Transient failures.** Repeatable requests are retried with exponential backoff on
//!   502/503/504 (and 500 if [`RetryPolicy::retry_server_errors`]) and on connection errors and
//!   time-outs. A request is repeatable when it is a GET/HEAD/OPTIONS that does not start an
//!   export (`response_mode=summary_with_export`). Others — POST, PATCH and every export
//!   start — are repeated only when the connection could not be opened (the request cannot have
//!   reached the server) or on a rate-limit 429.
//! * **Bounded waits.** Every wait is capped by [`RetryPolicy::max_rate_limit_wait`]: a server
//!   asking for longer (a reset in milliseconds instead of seconds, a date far ahead) is not
//!   waited for; its 429 is returned with a message saying what it asked for. Header values
//!   meet the clock only through checked arithmetic.
//! * **Bounded bodies.** An error body is read up to 64 KiB, a status answer up to 1 MiB, any
//!   other answer without a trustworthy length up to 64 MiB; beyond that the call fails with a
//!   body error instead of buffering.
//! * **Error bodies.** A 4xx/5xx whose body is not the documented `{"message": …}` (an HTML page
//!   from a proxy, an empty body) is rewritten into that shape with the body's first bytes as the
//!   message, so the generated client reports it as an error *with its HTTP status*.
//! * **Tracing.** A `mangrove.request` span per call with operation, method, path, status and
//!   attempts. Headers are never recorded, so the token never reaches a log.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::{Method, StatusCode};
use tracing::Instrument;

use crate::client::Inner;
use crate::Client;

/// Retry policy for API requests. See the [module docs](self) for what is retried.
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
    /// Longest wait for a rate-limit window to reset before giving up with the 429 (default 65 s).
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

    /// Retries idempotent requests on 500 too.
    pub fn retry_server_errors(mut self, on: bool) -> Self {
        self.retry_server_errors = on;
        self
    }

    /// Sets the longest wait for a rate-limit reset.
    pub fn max_rate_limit_wait(mut self, wait: Duration) -> Self {
        self.max_rate_limit_wait = wait;
        self
    }

    /// The backoff between attempts: doubling, capped, jittered.
    fn schedule(&self) -> Backoff {
        Backoff {
            initial: self.initial_backoff,
            factor: 2.0,
            max: self.max_backoff,
            jitter: true,
        }
    }
}

/// The crate's one backoff schedule: `initial × factor^(n-1)` before try `n` (from 1), capped at
/// `max`, optionally jittered. API retries, download resumes, status polls, export starts and the
/// export limiter's checks all wait by it (each policy says how it is set).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    /// Values below 1 (and NaN, infinities) count as 1.
    pub(crate) factor: f64,
    pub(crate) max: Duration,
    /// 50–100 % of the delay, so clients that failed together do not retry together.
    pub(crate) jitter: bool,
}

impl Backoff {
    /// The delay before try `n` (from 1). Never panics, whatever the numbers.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let factor = if self.factor.is_finite() {
            self.factor.max(1.0)
        } else {
            1.0
        };
        let exp = i32::try_from(n.saturating_sub(1))
            .unwrap_or(i32::MAX)
            .min(64);
        let secs = self.initial.as_secs_f64() * factor.powi(exp);
        let delay = if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        };
        if self.jitter {
            jittered(delay)
        } else {
            delay
        }
    }

    /// The wait before try `n` when the server asked for `asked` (`Retry-After`): the longer of
    /// the two, so a `Retry-After: 0` (or a date in the past) never turns a loop into a burst.
    pub(crate) fn wait(&self, n: u32, asked: Option<Duration>) -> Duration {
        let delay = self.delay(n);
        asked.map_or(delay, |asked| asked.max(delay))
    }
}

/// Whether waiting `wait` more after `elapsed` stays within `limit` (checked: a server's value
/// may be anything).
pub(crate) fn within(elapsed: Duration, wait: Duration, limit: Duration) -> bool {
    elapsed.checked_add(wait).is_some_and(|end| end <= limit)
}

/// A rate-limit reading from the `RateLimit-*` response headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per 60-second window (`RateLimit-Limit`).
    pub limit: u64,
    /// Requests left in the current window (`RateLimit-Remaining`).
    pub remaining: u64,
    /// When the window resets (`RateLimit-Reset`, a Unix timestamp).
    pub reset: SystemTime,
}

/// Client-side view of the server's rate-limit window, shared by all requests of a client.
pub(crate) struct RateLimiter {
    pacing: bool,
    state: Mutex<RateState>,
}

#[derive(Default)]
struct RateState {
    last: Option<RateLimit>,
    /// Requests we may still send in this window (server's remaining minus what we sent since).
    budget: Option<i64>,
    /// When the current window ends, on tokio's clock.
    resets_at: Option<tokio::time::Instant>,
}

impl RateLimiter {
    pub(crate) fn new(pacing: bool) -> Self {
        RateLimiter {
            pacing,
            state: Mutex::new(RateState::default()),
        }
    }

    pub(crate) fn last(&self) -> Option<RateLimit> {
        self.lock().last
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits while the window is known to be used up, then takes one request from the budget.
    ///
    /// Never waits longer than `cap`: pacing is the client's own forecast, so when the window
    /// resets further ahead than the retry policy allows waiting (a reset in milliseconds, a
    /// clock far off), the forecast is dropped and the request is sent; the server's answer
    /// (a 429 that says how long, reported as such) decides.
    async fn acquire(&self, cap: Duration) {
        if !self.pacing {
            return;
        }
        loop {
            let wait = {
                let mut s = self.lock();
                let now = tokio::time::Instant::now();
                if s.resets_at.is_some_and(|at| at <= now) {
                    // A new window: the budget is unknown until the next response says.
                    s.budget = None;
                    s.resets_at = None;
                }
                match (s.budget, s.resets_at) {
                    (Some(b), Some(at)) if b <= 0 && at.saturating_duration_since(now) > cap => {
                        tracing::warn!(
                            reset_in_s = at.saturating_duration_since(now).as_secs(),
                            cap_s = cap.as_secs(),
                            "pacing: the rate-limit window resets later than max_rate_limit_wait; not waiting"
                        );
                        s.budget = None;
                        s.resets_at = None;
                        None
                    }
                    (Some(b), Some(at)) if b <= 0 => Some(at.saturating_duration_since(now)),
                    _ => {
                        if let Some(b) = s.budget.as_mut() {
                            *b -= 1;
                        }
                        None
                    }
                }
            };
            match wait {
                Some(w) => {
                    tracing::debug!(
                        wait_ms = w.as_millis() as u64,
                        "pacing: rate-limit window used up"
                    );
                    tokio::time::sleep(w).await;
                }
                None => return,
            }
        }
    }

    /// Records the `RateLimit-*` headers of a response.
    fn observe(&self, headers: &reqwest::header::HeaderMap) {
        let Some(reading) = read_rate_limit(headers) else {
            return;
        };
        let reset_in = until(reading.reset, headers);
        let mut s = self.lock();
        s.last = Some(reading);
        // Checked: a reset far in the future must not overflow the clock (then: no known reset).
        s.resets_at = tokio::time::Instant::now().checked_add(reset_in);
        let remaining = i64::try_from(reading.remaining).unwrap_or(i64::MAX);
        // Keep the smaller of what the server says and what we counted down (in-flight requests).
        s.budget = Some(match s.budget {
            Some(b) if b < remaining => b,
            _ => remaining,
        });
    }
}

/// A header's value as trimmed text (`None` if absent or not visible ASCII).
pub(crate) fn header_str(
    headers: &reqwest::header::HeaderMap,
    name: impl reqwest::header::AsHeaderName,
) -> Option<&str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn read_rate_limit(headers: &reqwest::header::HeaderMap) -> Option<RateLimit> {
    let limit = header_str(headers, "ratelimit-limit")?.parse().ok()?;
    let remaining = header_str(headers, "ratelimit-remaining")?.parse().ok()?;
    let reset: u64 = header_str(headers, "ratelimit-reset")?.parse().ok()?;
    Some(RateLimit {
        limit,
        remaining,
        // Checked: a huge value is a reading we cannot use, not a panic.
        reset: UNIX_EPOCH.checked_add(Duration::from_secs(reset))?,
    })
}

/// The server's idea of "now": its `Date` header, else our clock.
fn server_now(headers: &reqwest::header::HeaderMap) -> SystemTime {
    header_str(headers, "date")
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
        .map(SystemTime::from)
        .unwrap_or_else(SystemTime::now)
}

/// Time from the response's "now" until `at` (zero if past; `SystemTime` subtraction is checked).
fn until(at: SystemTime, headers: &reqwest::header::HeaderMap) -> Duration {
    at.duration_since(server_now(headers))
        .unwrap_or(Duration::ZERO)
}

/// How long a 429 (or 503) asks us to wait: `Retry-After` (seconds or HTTP date), else the
/// rate-limit reset when the window is used up.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(v) = header_str(headers, "retry-after") {
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(v) {
            return Some(until(SystemTime::from(date), headers));
        }
    }
    let reading = read_rate_limit(headers)?;
    (reading.remaining == 0).then(|| until(reading.reset, headers))
}

/// A cheap jitter source (no RNG crate needed): 50–100 % of `d`.
fn jittered(d: Duration) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut x = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    let frac = 0.5 + (x % 1000) as f64 / 2000.0;
    d.mul_f64(frac)
}

impl ClientHooks<Inner> for Client {
    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        execute(self, request, info.operation_id).await
    }
}

/// Sends an API request with the client's retry policy, rate limiting and error normalization.
pub(crate) async fn execute(
    client: &Client,
    request: reqwest::Request,
    operation: &'static str,
) -> reqwest::Result<reqwest::Response> {
    let span = tracing::debug_span!(
        "mangrove.request",
        operation,
        method = %request.method(),
        path = %request.url().path(),
        status = tracing::field::Empty,
        attempts = tracing::field::Empty,
    );
    run(client, request, operation).instrument(span).await
}

async fn run(
    client: &Client,
    request: reqwest::Request,
    operation: &'static str,
) -> reqwest::Result<reqwest::Response> {
    let state = client.state();
    let policy = &state.retry_policy;
    let repeatable = repeatable(&request);
    let schedule = policy.schedule();
    let mut current = request;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        // Keep a copy for a retry while retries are left (JSON bodies always clone).
        let spare = if attempt < policy.max_attempts {
            current.try_clone()
        } else {
            None
        };
        state.rate.acquire(policy.max_rate_limit_wait).await;
        let result = client.client().execute(current).await;
        let span = tracing::Span::current();
        span.record("attempts", attempt);
        match result {
            Ok(response) => {
                state.rate.observe(response.headers());
                let status = response.status();
                span.record("status", status.as_u16());
                let limit_wait = (status == StatusCode::TOO_MANY_REQUESTS)
                    .then(|| rate_limit_wait(response.headers(), policy));
                if let Some(spare) = spare {
                    let wait = if let Some(limit_wait) = &limit_wait {
                        match limit_wait {
                            LimitWait::Wait(wait) => Some(schedule.wait(attempt, Some(*wait))),
                            _ => None,
                        }
                    } else if repeatable && transient_status(status, policy) {
                        let asked = retry_after(response.headers());
                        Some(
                            schedule
                                .wait(attempt, asked)
                                .min(policy.max_rate_limit_wait),
                        )
                    } else {
                        None
                    };
                    if let Some(wait) = wait {
                        tracing::debug!(
                            status = status.as_u16(),
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            "retrying"
                        );
                        tokio::time::sleep(wait).await;
                        current = spare;
                        continue;
                    }
                }
                let note = match limit_wait {
                    Some(LimitWait::TooLong(asked)) => Some(format!(
                        "the server asked to wait {} s, more than the retry policy's \
                         max_rate_limit_wait of {} s",
                        asked.as_secs(),
                        policy.max_rate_limit_wait.as_secs()
                    )),
                    _ => None,
                };
                if status.is_client_error() || status.is_server_error() {
                    return Ok(normalize_error_body(response, note.as_deref()).await);
                }
                return Ok(limit_body(response, body_cap(operation)));
            }
            Err(err) => {
                // Only a connection that could not be opened proves the request never reached
                // the server; anything else may have been processed.
                let retryable = err.is_connect()
                    || (repeatable && (err.is_timeout() || err.is_request() || err.is_body()));
                match spare {
                    Some(spare) if retryable => {
                        let wait = schedule.delay(attempt);
                        tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying after transport error");
                        tokio::time::sleep(wait).await;
                        current = spare;
                    }
                    _ => return Err(err),
                }
            }
        }
    }
}

fn transient_status(status: StatusCode, policy: &RetryPolicy) -> bool {
    matches!(status.as_u16(), 502..=504) || (policy.retry_server_errors && status.as_u16() == 500)
}

/// Whether a request may be sent again after it may have reached the server.
///
/// One rule for every request, decided here because every request passes here: a request is
/// repeatable when its method is safe (GET, HEAD, OPTIONS) **and** it does not start an export.
/// `POST /exports` is excluded by its method; `GET …?response_mode=summary_with_export` starts
/// an export although it is a GET, and is recognised by that query parameter. Reading the marker
/// from the request itself (rather than a flag set by the SDK's start path) also protects a
/// caller who sets `.response_mode(SummaryWithExport)` on a generated list builder directly,
/// and needs no side channel through progenitor's builders, whose hooks see only the request.
pub(crate) fn repeatable(request: &reqwest::Request) -> bool {
    matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && !starts_export(request.url())
}

/// `response_mode=summary_with_export` in the query: this GET starts an export.
pub(crate) fn starts_export(url: &url::Url) -> bool {
    url.query_pairs()
        .any(|(k, v)| k == "response_mode" && v == "summary_with_export")
}

/// What a 429 asks for.
enum LimitWait {
    /// A rate limit we can wait out within the policy.
    Wait(Duration),
    /// A rate limit asking for longer than the policy's cap (what it asked for).
    TooLong(Duration),
    /// Not a rate limit we can wait out (no reset given, or requests remaining in the window:
    /// the export concurrency limit answers 429 too); left to the caller.
    No,
}

/// How long to wait before retrying a 429, if it is a rate limit we can wait out.
fn rate_limit_wait(headers: &reqwest::header::HeaderMap, policy: &RetryPolicy) -> LimitWait {
    if read_rate_limit(headers).is_some_and(|r| r.remaining > 0) {
        return LimitWait::No;
    }
    match retry_after(headers) {
        Some(wait) if wait <= policy.max_rate_limit_wait => LimitWait::Wait(wait),
        Some(wait) => LimitWait::TooLong(wait),
        None => LimitWait::No,
    }
}

/// The most of an error body kept in a synthesized message.
const ERROR_SNIPPET: usize = 512;

/// The most of an error body read (the rest is not read).
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// The most of an export status answer read.
pub(crate) const MAX_STATUS_BODY: usize = 1024 * 1024;

/// The most of any other API answer read (a page of 100 items is far below).
pub(crate) const MAX_API_BODY: usize = 64 * 1024 * 1024;

fn body_cap(operation: &str) -> usize {
    if operation == "get_export" {
        MAX_STATUS_BODY
    } else {
        MAX_API_BODY
    }
}

/// Reads at most `limit` bytes of a body: the bytes and whether more followed (then the rest
/// is left unread). A body declaring more than `limit` is not read at all.
pub(crate) async fn read_prefix(
    mut response: reqwest::Response,
    limit: usize,
) -> reqwest::Result<(bytes::Bytes, bool)> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((bytes::Bytes::new(), true));
    }
    let mut out = Vec::new();
    let more = read_into(&mut response, limit, &mut out).await?;
    Ok((out.into(), more))
}

/// Appends the body's bytes to `out` until it holds `limit`: whether more followed. What was
/// read stays in `out` when this fails or is cancelled half-way.
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

/// Makes reading a success body fail once it passes `limit` bytes, so a generated call never
/// buffers an unbounded answer. A body with a `Content-Length` within the limit is left as it is
/// (the HTTP layer holds it to that length).
fn limit_body(response: reqwest::Response, limit: usize) -> reqwest::Response {
    use futures::StreamExt;
    if response.content_length().is_some_and(|n| n <= limit as u64) {
        return response;
    }
    let headers = response.headers().clone();
    let (status, version) = (response.status(), response.version());
    let mut seen = 0usize;
    let stream = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| Box::new(e.without_url()) as BoxError)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            return Err(BoxError::from(format!(
                "the answer is larger than {limit} bytes; not read further"
            )));
        }
        Ok(chunk)
    });
    rebuilt(status, version, headers, reqwest::Body::wrap_stream(stream))
}

/// A response with the given parts and a new body.
fn rebuilt(
    status: StatusCode,
    version: http::Version,
    headers: reqwest::header::HeaderMap,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut response = http::Response::new(body.into());
    *response.status_mut() = status;
    *response.version_mut() = version;
    *response.headers_mut() = headers;
    reqwest::Response::from(response)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rewrites a 4xx/5xx body that is not `{"message": "<string>", …}` into that shape, keeping the
/// status and headers, so the generated client keeps the status instead of failing to decode.
/// Reads at most [`MAX_ERROR_BODY`] bytes. `note` (what a 429 asked for, when it was not waited
/// for) is added to the message.
async fn normalize_error_body(
    response: reqwest::Response,
    note: Option<&str>,
) -> reqwest::Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let mut headers = response.headers().clone();
    let version = response.version();
    let (bytes, cut) = match read_prefix(response, MAX_ERROR_BODY).await {
        Ok(read) => read,
        Err(e) => (
            bytes::Bytes::from(format!(
                "(error body could not be read: {})",
                e.without_url()
            )),
            false,
        ),
    };
    let documented = if cut {
        None
    } else {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .filter(|v| v.get("message").is_some_and(|m| m.is_string()))
    };
    let body = if let Some(mut value) = documented {
        match note {
            Some(note) => {
                let message = value["message"].as_str().unwrap_or_default().to_string();
                value["message"] = serde_json::Value::String(format!("{message} ({note})"));
                bytes::Bytes::from(value.to_string())
            }
            None => bytes,
        }
    } else {
        let reason = status.canonical_reason().unwrap_or("error");
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim();
        let mut message = if text.is_empty() {
            format!("{} {reason} (empty body)", status.as_u16())
        } else {
            let snippet: String = text.chars().take(ERROR_SNIPPET).collect();
            let kind = if cut { "large body" } else { "non-JSON body" };
            format!("{} {reason} ({kind}: {snippet})", status.as_u16())
        };
        if let Some(note) = note {
            message = format!("{message} ({note})");
        }
        bytes::Bytes::from(serde_json::json!({ "message": message }).to_string())
    };
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    headers.remove(reqwest::header::CONTENT_LENGTH);
    headers.remove(reqwest::header::CONTENT_ENCODING);
    rebuilt(status, version, headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p =
            RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_millis(350));
        let p = Backoff {
            jitter: false,
            ..p.schedule()
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(3), Duration::from_millis(350));
        assert_eq!(p.delay(40), Duration::from_millis(350));
        assert_eq!(p.delay(u32::MAX), Duration::from_millis(350));
        assert_eq!(p.wait(1, Some(Duration::ZERO)), Duration::from_millis(100));
        assert_eq!(
            p.wait(1, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_reset() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("date", "Sun, 22 Nov 2026 10:00:00 GMT".parse().unwrap());
        h.insert(
            "retry-after",
            "Sun, 22 Nov 2026 10:00:30 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(30)));
        let mut h = reqwest::header::HeaderMap::new();
        let date = chrono::DateTime::parse_from_rfc2822("Sun, 22 Nov 2026 10:00:00 GMT").unwrap();
        h.insert("date", "Sun, 22 Nov 2026 10:00:00 GMT".parse().unwrap());
        h.insert("ratelimit-limit", "1000".parse().unwrap());
        h.insert("ratelimit-remaining", "0".parse().unwrap());
        h.insert(
            "ratelimit-reset",
            (date.timestamp() + 42).to_string().parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(42)));
        h.insert("ratelimit-remaining", "3".parse().unwrap());
        assert_eq!(
            retry_after(&h),
            None,
            "a window with requests left is not a rate limit"
        );
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        for _ in 0..1000 {
            let j = jittered(Duration::from_millis(1000));
            assert!(
                j >= Duration::from_millis(500) && j <= Duration::from_millis(1000),
                "{j:?}"
            );
        }
    }

    fn normalized(status: u16, body: Vec<u8>) -> (u16, Vec<u8>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut response = http::Response::new(body);
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            let out = normalize_error_body(reqwest::Response::from(response), None).await;
            let status = out.status().as_u16();
            (status, out.bytes().await.unwrap().to_vec())
        })
    }

    #[test]
    fn html_and_empty_error_bodies_keep_status_and_gain_a_message() {
        let (status, body) = normalized(
            403,
            b"<html><body>Forbidden by proxy</body></html>".to_vec(),
        );
        assert_eq!(status, 403);
        let err: crate::types::ApiError = serde_json::from_slice(&body).unwrap();
        assert!(
            err.message.contains("403 Forbidden") && err.message.contains("Forbidden by proxy"),
            "{}",
            err.message
        );
        let (_, body) = normalized(401, Vec::new());
        let err: crate::types::ApiError = serde_json::from_slice(&body).unwrap();
        assert_eq!(err.message, "401 Unauthorized (empty body)");
        let documented = br#"{"message":"Record not found."}"#.to_vec();
        assert_eq!(
            normalized(404, documented.clone()).1,
            documented,
            "documented bodies pass through unchanged"
        );
        let ok = b"<html>not json</html>".to_vec();
        assert_eq!(
            normalized(200, ok.clone()).1,
            ok,
            "success bodies are never touched"
        );
    }

    proptest::proptest! {
        // Whatever bytes an error answer carries, the result decodes as ApiError with the status
        // unchanged (so the generated client reports an error with its status).
        #[test]
        fn any_error_body_normalizes(status in 400u16..600, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
            let (out_status, out) = normalized(status, body);
            proptest::prop_assert_eq!(out_status, status);
            let decoded: Result<crate::types::ApiError, _> = serde_json::from_slice(&out);
            proptest::prop_assert!(decoded.is_ok());
        }
    }
}
