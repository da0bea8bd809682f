//! How long the retry layer waits, on tokio's paused clock against wiremock: `Retry-After` as an
//! HTTP date and `RateLimit-Reset` are measured against the response's `Date`; a longer ask than
//! `max_rate_limit_wait` is not waited for and says so; the backoff doubles and is capped.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{api, base_url, TOKEN};
use mangrove::{Client, Error, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The response `Date` of every 429 here: far from the test machine's clock on purpose.
const DATE: &str = "Sun, 22 Nov 2026 10:00:00 GMT";

fn date_secs() -> u64 {
    httpdate::parse_http_date(DATE)
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Answers `GET /projects/1` with `first` `times` times, then with a project.
async fn server(first: ResponseTemplate, times: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(first)
        .up_to_n_times(times)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&server)
        .await;
    server
}

/// A client without time-outs (the clock is paused while the server answers on its thread).
fn client(server: &MockServer, policy: RetryPolicy) -> Client {
    Client::builder()
        .token(TOKEN)
        .base_url(base_url(server))
        .retry_policy(policy)
        .timeout(None)
        .connect_timeout(None)
        .pool_idle_timeout(None)
        .build()
        .unwrap()
}

/// The time `GET /projects/1` took on the paused clock, and its result.
async fn timed(client: &Client) -> (Duration, Result<(), Error>) {
    let started = tokio::time::Instant::now();
    let result = client.get_project().project_id(1).send().await;
    (started.elapsed(), result.map(|_| ()).map_err(Error::from))
}

fn too_many() -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("date", DATE)
        .set_body_json(json!({"message": "Too many requests"}))
}

// Proves: a `Retry-After` HTTP date is waited for relative to the response's `Date`.
#[tokio::test(start_paused = true)]
async fn retry_after_date_is_measured_against_the_response_date() {
    let ask = "Sun, 22 Nov 2026 10:00:30 GMT";
    let server = server(too_many().insert_header("retry-after", ask), 1).await;
    let (took, result) = timed(&client(&server, RetryPolicy::default())).await;
    result.unwrap();
    assert!(
        took >= Duration::from_secs(30) && took < Duration::from_secs(31),
        "{took:?}"
    );
}

// Proves: a used-up window waits for `RateLimit-Reset` relative to `Date`, and the reading is kept.
#[tokio::test(start_paused = true)]
async fn a_used_up_window_waits_for_the_reset() {
    let reset = date_secs() + 42;
    let answer = too_many()
        .insert_header("ratelimit-limit", "10")
        .insert_header("ratelimit-remaining", "0")
        .insert_header("ratelimit-reset", reset.to_string().as_str());
    let server = server(answer, 1).await;
    let client = client(&server, RetryPolicy::default());
    let (took, result) = timed(&client).await;
    result.unwrap();
    assert!(
        took >= Duration::from_secs(42) && took < Duration::from_secs(43),
        "{took:?}"
    );
    let reading = client.rate_limit().expect("a reading");
    assert_eq!((reading.limit, reading.remaining), (10, 0));
    assert_eq!(reading.reset, UNIX_EPOCH + Duration::from_secs(reset));
}

// Proves: a 429 with requests left in the window (the concurrent-export limit) is not waited out.
#[tokio::test(start_paused = true)]
async fn a_429_with_requests_left_is_returned() {
    let answer = too_many()
        .insert_header("retry-after", "5")
        .insert_header("ratelimit-limit", "10")
        .insert_header("ratelimit-remaining", "3")
        .insert_header("ratelimit-reset", (date_secs() + 5).to_string().as_str());
    let server = server(answer, 1).await;
    let (took, result) = timed(&client(&server, RetryPolicy::default())).await;
    assert!(result.unwrap_err().is_rate_limited());
    assert_eq!(took, Duration::ZERO);
}

// Proves: an ask longer than `max_rate_limit_wait` is not waited for; the message says what was
// asked, after the server's own.
#[tokio::test(start_paused = true)]
async fn a_longer_ask_is_returned_with_what_it_asked() {
    let server = server(too_many().insert_header("retry-after", "600"), 1).await;
    let policy = RetryPolicy::default().max_rate_limit_wait(Duration::from_secs(60));
    let (took, result) = timed(&client(&server, policy)).await;
    let err = result.unwrap_err();
    assert_eq!(took, Duration::ZERO);
    assert_eq!(
        err.message(),
        Some(
            "Too many requests (the server asked to wait 600 s, more than the retry policy's \
             max_rate_limit_wait of 60 s)"
        )
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

// Proves: the backoff between retries doubles (100, 200, 400 ms, each jittered to 50-100 %) ...
#[tokio::test(start_paused = true)]
async fn backoff_doubles() {
    let server = server(ResponseTemplate::new(503), 3).await;
    let policy =
        RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_secs(10));
    let (took, result) = timed(&client(&server, policy)).await;
    result.unwrap();
    assert!(
        took >= Duration::from_millis(350) && took <= Duration::from_millis(700),
        "{took:?}"
    );
}

// ... and stops growing at its cap (100 ms three times).
#[tokio::test(start_paused = true)]
async fn backoff_is_capped() {
    let server = server(ResponseTemplate::new(503), 3).await;
    let policy =
        RetryPolicy::default().backoff(Duration::from_millis(100), Duration::from_millis(100));
    let (took, result) = timed(&client(&server, policy)).await;
    result.unwrap();
    assert!(
        took >= Duration::from_millis(150) && took <= Duration::from_millis(300),
        "{took:?}"
    );
}
