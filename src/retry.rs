//! The hook every API request goes through (rate-limit waits, retries, bounded reads, error
//! bodies), in a `mangrove.request` tracing span (operation, method, path, status, attempts).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{AsHeaderName, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::Inner;
// Re-exported here too: first published at `mangrove::retry::RetryPolicy`.
use crate::settings::Backoff;
pub use crate::settings::RetryPolicy;
use crate::Client;

/// A reading of the `RateLimit-*` response headers ([`Client::rate_limit`]).
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

fn read_rate_limit(headers: &HeaderMap) -> Option<RateLimit> {
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

impl ClientHooks<Inner> for Client {
    async fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        execute(self, request, info.operation_id).await
    }
}

/// Sends an API request with the client's retry policy and error-body rewriting.
#[tracing::instrument(
    name = "mangrove.request",
    level = "debug",
    skip_all,
    fields(
        operation = operation,
        method = %request.method(),
        path = %request.url().path(),
        status = tracing::field::Empty,
        attempts = tracing::field::Empty,
    )
)]
pub(crate) async fn execute(
    client: &Client,
    request: reqwest::Request,
    operation: &'static str,
) -> reqwest::Result<reqwest::Response> {
    let state = client.state();
    let policy = &state.retry_policy;
    let cap = policy.max_rate_limit_wait;
    let repeatable = repeatable(&request);
    let schedule = Backoff {
        initial: policy.initial_backoff,
        factor: 2.0,
        max: policy.max_backoff,
        jitter: true,
    };
    let span = tracing::Span::current();
    let mut current = request;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        span.record("attempts", attempt);
        let spare = (attempt < policy.max_attempts)
            .then(|| current.try_clone())
            .flatten();
        let result = client.client().execute(current).await;
        let mut too_long = None;
        let wait = match &result {
            // Only a connection that could not be opened proves the server never saw the request.
            Err(err) => (err.is_connect()
                || (repeatable && (err.is_timeout() || err.is_request() || err.is_body())))
            .then(|| schedule.delay(attempt)),
            Ok(response) => {
                let reading = read_rate_limit(response.headers());
                if reading.is_some() {
                    *state.rate_limit.lock().unwrap_or_else(|e| e.into_inner()) = reading;
                }
                let status = response.status();
                span.record("status", status.as_u16());
                let asked = retry_after(response.headers());
                // With requests left in the window, a 429 is the concurrent-export limit.
                if status == StatusCode::TOO_MANY_REQUESTS
                    && reading.is_none_or(|r| r.remaining == 0)
                {
                    too_long = asked.filter(|asked| *asked > cap);
                    asked
                        .filter(|asked| *asked <= cap)
                        .map(|asked| schedule.wait(attempt, Some(asked)))
                } else if repeatable
                    && (matches!(status.as_u16(), 502..=504)
                        || (policy.retry_server_errors && status.as_u16() == 500))
                {
                    Some(schedule.wait(attempt, asked).min(cap))
                } else {
                    None
                }
            }
        };
        if let (Some(wait), Some(spare)) = (wait, spare) {
            let error = result.as_ref().err().map(tracing::field::display);
            let wait_ms = wait.as_millis() as u64;
            tracing::debug!(attempt, wait_ms, error, "retrying");
            tokio::time::sleep(wait).await;
            current = spare;
            continue;
        }
        let response = result?;
        let status = response.status();
        if !(status.is_client_error() || status.is_server_error()) {
            return Ok(response);
        }
        let note = too_long.map(|asked| {
            format!(
                "the server asked to wait {} s, more than the retry policy's \
                 max_rate_limit_wait of {} s",
                asked.as_secs(),
                cap.as_secs()
            )
        });
        return Ok(normalize_error_body(response, note).await);
    }
}

/// Whether a request that may have reached the server may be resent: safe, starting no export.
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

/// The most read of an error body, of an export status and of any other answer.
const MAX_ERROR_BODY: usize = 64 * 1024;
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

/// Rewrites an error body that is not `{"message": "<string>", …}` into that shape (quoting at
/// most 512 characters of it), keeping the status and headers; `note` is added to the message.
async fn normalize_error_body(
    response: reqwest::Response,
    note: Option<String>,
) -> reqwest::Response {
    let (mut parts, body) = http::Response::from(response).into_parts();
    let status = parts.status;
    let body = reqwest::Response::from(http::Response::new(body));
    let (bytes, cut) = read_prefix(body, MAX_ERROR_BODY).await.unwrap_or_else(|e| {
        let text = format!("(error body could not be read: {})", e.without_url());
        (Bytes::from(text), false)
    });
    let documented = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(|v| !cut && v.get("message").is_some_and(Value::is_string));
    let mut value = documented.unwrap_or_else(|| {
        let reason = status.canonical_reason().unwrap_or("error");
        let text = String::from_utf8_lossy(&bytes);
        let snippet: String = text.trim().chars().take(512).collect();
        let detail = match (snippet.is_empty(), cut) {
            (true, _) => "empty body".to_string(),
            (false, true) => format!("large body: {snippet}"),
            (false, false) => format!("non-JSON body: {snippet}"),
        };
        serde_json::json!({ "message": format!("{} {reason} ({detail})", status.as_u16()) })
    });
    if let Some(note) = note {
        let message = value["message"].as_str().unwrap_or_default();
        value["message"] = format!("{message} ({note})").into();
    }
    let json = reqwest::header::HeaderValue::from_static("application/json");
    parts.headers.insert(reqwest::header::CONTENT_TYPE, json);
    parts.headers.remove(reqwest::header::CONTENT_LENGTH);
    parts.headers.remove(reqwest::header::CONTENT_ENCODING);
    http::Response::from_parts(parts, reqwest::Body::from(value.to_string())).into()
}
