//! Rate limits and retries for every call: RateLimit-* headers read and exposed, 429 waited out,
//! idempotent-only retries.

use mangrove::prelude::*;
use std::time::Duration;

use futures::TryStreamExt;
use mangrove::testing::{Collection, FakeMangrove, Fault, TokenKind};
use mangrove::types::Project;

#[path = "common/fake.rs"]
mod fake;
use fake::fake_rows;

// Every response's RateLimit-* headers are read: client.rate_limit() shows the last reading.
#[tokio::test]
async fn rate_limit_headers_are_exposed() {
    let fake = FakeMangrove::builder().rate_limit(1000).start().await;
    let client = fake.client(TokenKind::Account);
    assert!(client.rate_limit().is_none());
    client.list_projects().send().await.unwrap();
    client.list_projects().send().await.unwrap();
    let reading = client.rate_limit().expect("a reading");
    assert_eq!(reading.limit, 1000);
    assert_eq!(reading.remaining, 998);
    assert!(reading.reset > std::time::SystemTime::UNIX_EPOCH);
}

// A 429 in the middle of a stream waits until the window resets and the stream goes on.
#[tokio::test(start_paused = true)]
async fn rate_limited_mid_stream_waits_for_reset() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Projects, 100)
        .rate_limit(4)
        .start()
        .await;
    let client = fake.client_builder(TokenKind::Account).build().unwrap();
    let items: Vec<Project> = client
        .list_projects()
        .page_size(10)
        .items()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(items.len(), 100);
    let journal = fake.journal();
    let limited = journal.requests_with_status(429);
    assert!(!limited.is_empty(), "the limit was hit");
    // Each 429 was retried once its window had reset (windows are Unix minutes on the fake's
    // clock), not hammered within the same window.
    let epoch = fake.clock().unix_at(Duration::ZERO);
    for r in &limited {
        let next = journal
            .requests
            .iter()
            .find(|x| x.at > r.at)
            .expect("a retry");
        let window = |at: Duration| (epoch + at.as_secs()) / 60;
        assert!(
            window(next.at) > window(r.at),
            "retried at {:?}, 429 at {:?}",
            next.at,
            r.at
        );
        assert_eq!(next.status, 200);
    }
    assert_eq!(
        journal
            .requests_to("list_projects")
            .iter()
            .filter(|r| r.status == 200)
            .count(),
        10
    );
}

// A bulk run past the limit hits 429s, waits each window out and completes.
#[tokio::test(start_paused = true)]
async fn a_bulk_run_past_the_limit_hits_429_and_recovers() {
    let fake = fake_rows(Collection::Projects, 5).await;
    let client = fake.client_builder(TokenKind::Account).build().unwrap();
    for _ in 0..1_050 {
        client.get_project().project_id(1).send().await.unwrap();
    }
    assert!(!fake.journal().requests_with_status(429).is_empty());
}

// POST is not retried after a 503 (it may have been processed) ...
#[tokio::test(start_paused = true)]
async fn post_is_not_retried_after_503() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    fake.inject(Fault::on("POST /exports").status(503));
    let err = client
        .export_resource(mangrove::ResourceType::Delivery)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(fake.journal().requests_to("create_export").len(), 1);

    fake.inject(Fault::on("create_event").status(503));
    let body = mangrove::types::EventRequest {
        event: Default::default(),
    };
    let err = client
        .create_event()
        .project_id(1)
        .body(body)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(fake.journal().requests_to("create_event").len(), 1);
}

// ... but GET is (503 twice, then OK).
#[tokio::test(start_paused = true)]
async fn get_is_retried_after_503() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    fake.inject(Fault::on("get_project").times(2).status(503));
    let project = client.get_project().project_id(1).send().await.unwrap();
    assert_eq!(project.id, 1);
    assert_eq!(fake.journal().requests_to("get_project").len(), 3);
}

// A POST whose connection could not be opened is retried (it cannot have reached the server).
#[tokio::test(start_paused = true)]
async fn post_is_retried_when_the_connection_never_opened() {
    // Nothing listens on this port: every attempt fails to connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = mangrove::Client::builder()
        .token("t")
        .base_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(mangrove::RetryPolicy::default().max_attempts(3))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = client
        .export_resource(mangrove::ResourceType::Delivery)
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not reach"), "{err}");
    // Two backoffs were slept (250 ms and 500 ms, jittered to 50-100 %).
    assert!(
        started.elapsed() >= Duration::from_millis(375),
        "{:?}",
        started.elapsed()
    );
}
