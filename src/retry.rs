//! The hook every API request goes through (rate-limit waits, retries, bounded reads, error
//! bodies), in a `mangrove.request` tracing span (operation, method, path, status, attempts).

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::Inner;
// Re-exported here too: first published at `mangrove::retry::RateLimit`.
pub use crate::wire::RateLimit;
use crate::wire::{read_prefix, read_rate_limit, retry_after, MAX_ERROR_BODY};
// Re-exported here too: first published at `mangrove::retry::RetryPolicy`.
use crate::settings::Backoff;
pub use crate::settings::RetryPolicy;
use crate::Client;

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
