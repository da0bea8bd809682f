//! The fake's rate limiting: headers on every answer, 429 past the limit, windows on the fake's
//! clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mangrove::testing::{FakeMangrove, TokenKind};
use mangrove::types::ApiError;
use reqwest::header::HeaderMap;

#[path = "common/fake.rs"]
mod fake;
use fake::plain;

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

fn unix(headers: &HeaderMap) -> (u64, u64) {
    let date = chrono::DateTime::parse_from_rfc2822(&header(headers, "date")).unwrap();
    let reset: u64 = header(headers, "ratelimit-reset").parse().unwrap();
    (date.timestamp() as u64, reset)
}

fn error_headers<T: std::fmt::Debug>(
    r: Result<T, progenitor_client::Error<ApiError>>,
) -> (u16, HeaderMap, String) {
    match r {
        Err(progenitor_client::Error::ErrorResponse(e)) => (
            e.status().as_u16(),
            e.headers().clone(),
            e.into_inner().message,
        ),
        other => panic!("expected an error response, got {other:?}"),
    }
}

#[tokio::test]
async fn every_answer_carries_rate_limit_headers_and_a_date() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let ok = client.list_projects().send().await.unwrap();
    assert_eq!(header(ok.headers(), "ratelimit-limit"), "1000");
    assert_eq!(header(ok.headers(), "ratelimit-remaining"), "999");
    let (date, reset) = unix(ok.headers());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        date.abs_diff(now) <= 2,
        "Date follows the fake's clock, which starts at the wall clock"
    );
    assert!(
        reset > date && reset - date <= 60,
        "reset {reset} date {date}"
    );
    assert_eq!(reset % 60, 0, "windows are aligned to Unix minutes");

    let (code, headers, _) = error_headers(client.get_project().project_id(10_000).send().await);
    assert_eq!(code, 404);
    assert_eq!(header(&headers, "ratelimit-remaining"), "998");

    let stranger = reqwest::get(format!("{}/projects", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(stranger.status().as_u16(), 401);
    assert_eq!(
        header(stranger.headers(), "ratelimit-remaining"),
        "999",
        "counted per token"
    );
    assert!(stranger.headers().contains_key("date"));
}

#[tokio::test]
async fn past_the_limit_429_with_retry_after_until_the_window_resets() {
    let fake = FakeMangrove::builder().rate_limit(3).start().await;
    let client = plain(&fake, TokenKind::Account);
    for remaining in ["2", "1", "0"] {
        let ok = client.list_projects().send().await.unwrap();
        assert_eq!(header(ok.headers(), "ratelimit-remaining"), remaining);
    }
    let (code, headers, message) = error_headers(client.list_projects().send().await);
    assert_eq!((code, message.as_str()), (429, "Too Many Requests"));
    assert_eq!(header(&headers, "ratelimit-remaining"), "0");
    let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
    let (date, reset) = unix(&headers);
    assert!((1..=60).contains(&retry_after));
    assert!(
        reset - date >= retry_after - 1 && reset - date <= retry_after,
        "{date} {reset} {retry_after}"
    );

    // Another token has its own window.
    plain(&fake, TokenKind::Partner)
        .list_projects()
        .send()
        .await
        .unwrap();

    // A new window on the fake's clock.
    fake.advance(Duration::from_secs(retry_after));
    let ok = client.list_projects().send().await.unwrap();
    assert_eq!(header(ok.headers(), "ratelimit-remaining"), "2");
    let (later, next_reset) = unix(ok.headers());
    assert!(later >= date + retry_after, "Date follows the fake's clock");
    assert_eq!(next_reset, reset + 60);
    assert_eq!(fake.journal().requests_with_status(429).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn windows_follow_the_paused_tokio_clock() {
    let fake = FakeMangrove::builder().rate_limit(1).start().await;
    let client = plain(&fake, TokenKind::Account);
    client.list_models().send().await.unwrap();
    let (code, headers, _) = error_headers(client.list_models().send().await);
    assert_eq!(code, 429);
    let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    client.list_models().send().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_sdk_waits_out_a_429_under_the_paused_clock() {
    // The default client retries a 429 after the advertised wait; the fake's Date and
    // RateLimit-Reset make that wait consistent with the fake's clock.
    let fake = FakeMangrove::builder().rate_limit(2).start().await;
    let client = fake.client_builder(TokenKind::Account).build().unwrap();
    for _ in 0..3 {
        client.list_orders().send().await.unwrap();
    }
    let journal = fake.journal();
    assert_eq!(journal.requests_with_status(429).len(), 1);
    assert_eq!(journal.requests.len(), 4);
    assert!(journal.requests[3].at >= journal.requests[2].at + Duration::from_secs(1));
}
