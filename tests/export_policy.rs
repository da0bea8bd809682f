//! The export poller's behaviour: schedule, rate limits, transient and permanent failures,
//! credentials, resume after restart, open statuses. Time-based tests run on tokio's paused clock.

use mangrove::prelude::*;
use std::time::Duration;

use futures::StreamExt;
use mangrove::testing::{FakeMangrove, Fault, Schedule, TokenKind};
use mangrove::{Export, ExportError, ExportStatus, PollPolicy, SavedExport};

#[path = "common/fake.rs"]
mod fake;
use fake::{fake_with, start_projects};

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// The default policy polls after 1, 3, 7, 15, 25, 35 s (1 s doubling, capped at 10 s): read off
// the fake's journal in virtual time, with no real sleeping.
#[tokio::test(start_paused = true)]
async fn default_poll_schedule_on_a_paused_clock() {
    let fake = fake_with(Schedule::AfterPolls(6)).await;
    let client = fake.client(TokenKind::Account);
    let real = std::time::Instant::now();
    let export = start_projects(&client).await;
    let done = export.await.unwrap();
    assert_eq!(done.polls(), 6);
    let journal = fake.journal();
    let started = journal.requests_to("list_projects")[0].at;
    let polls: Vec<f64> = journal
        .requests_to("get_export")
        .iter()
        .map(|r| secs(r.at - started))
        .collect();
    assert_eq!(polls, vec![1.0, 3.0, 7.0, 15.0, 25.0, 35.0]);
    assert!(real.elapsed() < Duration::from_secs(5), "no real sleeping");
}

// A minute-long export (fake schedule by duration) takes 9 polls with the default policy.
#[tokio::test(start_paused = true)]
async fn sixty_second_export_takes_nine_polls() {
    let fake = fake_with(Schedule::After(Duration::from_secs(60))).await;
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_batches()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let done = export.await.unwrap();
    assert_eq!(done.polls(), 9);
}

// The time limit ends polling with TimedOut carrying id, elapsed and polls.
#[tokio::test(start_paused = true)]
async fn time_limit_gives_timed_out() {
    let fake = fake_with(Schedule::AfterPolls(10_000)).await;
    let client = fake.client(TokenKind::Account);
    let policy = PollPolicy::default().time_limit(Duration::from_secs(120));
    let (_, export) = client
        .list_ledgers()
        .summary_with_export()
        .poll_policy(policy)
        .send()
        .await
        .unwrap();
    let id = export.id().to_string();
    match export.await {
        Err(ExportError::TimedOut {
            id: timed_out,
            elapsed,
            polls,
        }) => {
            assert_eq!(timed_out, id);
            assert!(
                elapsed >= Duration::from_secs(120) && elapsed < Duration::from_secs(131),
                "{elapsed:?}"
            );
            assert_eq!(polls, fake.journal().polls_of(&id));
            assert!(polls >= 12, "{polls}");
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
}

// A 429 on a status poll (not a rate-limit window: requests remain) waits for Retry-After.
#[tokio::test(start_paused = true)]
async fn status_429_waits_for_retry_after() {
    let fake = fake_with(Schedule::AfterPolls(2)).await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    fake.inject(
        Fault::on("GET /exports")
            .status(429)
            .header("retry-after", "7"),
    );
    export.await.unwrap();
    let journal = fake.journal();
    let polls = journal.requests_to("get_export");
    assert_eq!(polls[0].status, 429);
    assert!(
        polls[1].at - polls[0].at >= Duration::from_secs(7),
        "{:?}",
        polls[1].at - polls[0].at
    );
}

// Real rate limiting: the window is used up, the 429 waits until RateLimit-Reset and retries.
#[tokio::test(start_paused = true)]
async fn rate_limit_window_is_waited_out() {
    let fake = FakeMangrove::builder()
        .rate_limit(3)
        .schedule(Schedule::AfterPolls(4))
        .start()
        .await;
    // Windows are Unix minutes: start at the beginning of one, so that the start and the first
    // polls (at 1, 3, 7 s) fall into the same window whatever the wall clock says.
    let into_window = fake.clock().unix_now() % 60;
    fake.advance(Duration::from_secs(60 - into_window));
    let client = fake.client_builder(TokenKind::Account).build().unwrap();
    let export = start_projects(&client).await;
    export.await.unwrap();
    let journal = fake.journal();
    let limited = journal.requests_with_status(429);
    assert!(!limited.is_empty(), "the test must hit the limit");
    // Every 429 was followed by a successful request in a later window.
    let last_429 = limited.last().unwrap().at;
    let after: Vec<_> = journal
        .requests
        .iter()
        .filter(|r| r.at > last_429)
        .collect();
    assert!(after.iter().any(|r| r.status == 200));
    assert!(client.rate_limit().is_some());
}

// Transient failures while polling (503 twice) are retried; the export completes.
#[tokio::test(start_paused = true)]
async fn transient_503_while_polling_is_retried() {
    let fake = fake_with(Schedule::AfterPolls(2)).await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    fake.inject(Fault::on("GET /exports").times(2).status(503));
    let done = export.await.unwrap();
    let journal = fake.journal();
    assert_eq!(
        journal
            .requests_to("get_export")
            .iter()
            .filter(|r| r.status == 503)
            .count(),
        2
    );
    assert!(done.download_url().starts_with("http://127.0.0.1"));
}

// 502/504 with HTML bodies (a proxy) and malformed JSON are transient too.
#[tokio::test(start_paused = true)]
async fn proxy_pages_and_malformed_status_are_transient() {
    let fake = fake_with(Schedule::AfterPolls(2)).await;
    let client = fake
        .client_builder(TokenKind::Account)
        .retry_policy(mangrove::RetryPolicy::none())
        .build()
        .unwrap();
    let export = start_projects(&client).await;
    fake.inject(Fault::on("GET /exports").status(502).html_body());
    fake.inject(Fault::on("GET /exports").status(504).empty_body());
    fake.inject(Fault::on("GET /exports").malformed_json());
    export.await.unwrap();
}

// Permanent failures (401) end polling at once, with the status kept.
#[tokio::test(start_paused = true)]
async fn permanent_failure_stops_at_once() {
    let fake = fake_with(Schedule::AfterPolls(5)).await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    fake.inject(Fault::on("GET /exports").times(100).status(401));
    let err = export.await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err:?}");
    assert_eq!(
        fake.journal().requests_to("get_export").len(),
        1,
        "no retry of a 401"
    );
}

// Too many transient failures in a row end polling with the last one.
#[tokio::test(start_paused = true)]
async fn endless_503_ends_after_max_consecutive_errors() {
    let fake = fake_with(Schedule::AfterPolls(5)).await;
    let client = fake
        .client_builder(TokenKind::Account)
        .retry_policy(mangrove::RetryPolicy::none())
        .build()
        .unwrap();
    let policy = PollPolicy::default().max_consecutive_errors(4);
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .poll_policy(policy)
        .send()
        .await
        .unwrap();
    fake.inject(Fault::on("GET /exports").times(1000).status(503));
    let err = export.await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(fake.journal().requests_to("get_export").len(), 4);
}

// A status_url on a foreign origin is not followed: the status is read by id from the API.
#[tokio::test(start_paused = true)]
async fn foreign_status_url_is_not_followed() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    fake.inject(Fault::foreign_status_url("http://127.0.0.2:9"));
    let export = start_projects(&client).await;
    assert!(export
        .status_url()
        .unwrap()
        .starts_with("http://127.0.0.2:9"));
    let done = export.await.unwrap();
    let journal = fake.journal();
    let polls = journal.requests_to("get_export");
    assert_eq!(polls.len(), 2);
    assert!(polls
        .iter()
        .all(|r| r.path == format!("/api/v1/exports/{}", done.id())));
}

// Same-origin status_url is followed as given.
#[tokio::test(start_paused = true)]
async fn same_origin_status_url_is_followed() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    let expected = export.status_url().unwrap().to_string();
    export.await.unwrap();
    for r in fake.journal().requests_to("get_export") {
        assert!(expected.ends_with(&r.path));
        assert!(r.authorization().is_some());
    }
}

// An export saved by one process (serde) is attached by another and completes.
#[tokio::test(start_paused = true)]
async fn attach_after_restart() {
    let fake = fake_with(Schedule::AfterPolls(3)).await;
    let stored = {
        let client = fake.client(TokenKind::Account);
        let export = start_projects(&client).await;
        serde_json::to_string(&export.saved()).unwrap()
    }; // client and handle dropped: the "process" ended
    let saved: SavedExport = serde_json::from_str(&stored).unwrap();
    let client = fake.client(TokenKind::Account);
    let done = Export::attach(&client, saved.clone()).await.unwrap();
    assert_eq!(done.id(), saved.id);
    assert_eq!(fake.journal().polls_of(&saved.id), 3);
    // Attaching by id alone works too.
    let again = Export::attach(&client, saved.id.as_str())
        .status()
        .await
        .unwrap();
    assert_eq!(again.status, ExportStatus::Completed);
}

// An unknown status value ("expired") does not break polling: it shows as Unknown and polling
// goes on.
#[tokio::test(start_paused = true)]
async fn unknown_status_value_is_kept_and_polling_goes_on() {
    let fake = fake_with(Schedule::AfterPolls(3)).await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    fake.inject(Fault::export_status("expired"));
    let seen: Vec<_> = export.statuses().collect().await;
    let statuses: Vec<ExportStatus> = seen
        .iter()
        .map(|s| s.as_ref().unwrap().status.clone())
        .collect();
    assert_eq!(
        statuses,
        vec![
            ExportStatus::Unknown("expired".into()),
            ExportStatus::Processing,
            ExportStatus::Completed
        ]
    );
}

// The status stream reports progress and the observer sees every status.
#[tokio::test(start_paused = true)]
async fn on_status_sees_every_status() {
    let fake = fake_with(Schedule::AfterPolls(4)).await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    export
        .on_status(move |s| sink.lock().unwrap().push((s.polls, s.status.clone())))
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen.last().unwrap(), &(4, ExportStatus::Completed));
}

// A failed export's message reaches the caller, and the stream ends with it.
#[tokio::test(start_paused = true)]
async fn failed_export_message_is_surfaced() {
    let fake = FakeMangrove::builder()
        .schedule(Schedule::FailAfterPolls {
            polls: 2,
            message: "model run crashed".into(),
        })
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    let items: Vec<_> = export.statuses().collect().await;
    assert_eq!(items.len(), 2);
    match &items[1] {
        Err(ExportError::Failed { message, .. }) => assert_eq!(message, "model run crashed"),
        other => panic!("{other:?}"),
    }
    let err = export.await.unwrap_err();
    assert!(err.to_string().contains("model run crashed"));
}

// The server's concurrent-export limit (429 with requests left) is waited out, then succeeds;
// with the client limiter off so the server limit is reached.
#[tokio::test(start_paused = true)]
async fn server_concurrency_limit_is_waited_out() {
    let fake = FakeMangrove::builder()
        .export_limit(Some(2))
        .schedule(Schedule::AfterPolls(2))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .export_concurrency(None)
        .build()
        .unwrap();
    let a = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap()
        .1;
    let b = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap()
        .1;
    let third = {
        let client = client.clone();
        tokio::spawn(async move { client.list_projects().summary_with_export().send().await })
    };
    let (a, b) = tokio::join!(a, b);
    a.unwrap();
    b.unwrap();
    let (_, c) = third.await.unwrap().unwrap();
    c.await.unwrap();
    assert!(
        !fake.journal().requests_with_status(429).is_empty(),
        "the limit was hit"
    );
}

// When the limit does not clear within the time limit: ConcurrencyLimit.
#[tokio::test(start_paused = true)]
async fn server_concurrency_limit_gives_typed_error() {
    let fake = FakeMangrove::builder()
        .export_limit(Some(1))
        .schedule(Schedule::AfterPolls(1000))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .export_concurrency(None)
        .build()
        .unwrap();
    let _first = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let policy = PollPolicy::default().time_limit(Duration::from_secs(30));
    let err = client
        .list_projects()
        .summary_with_export()
        .poll_policy(policy)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::ConcurrencyLimit {
                retry_after: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

// Exports are Send + 'static: they can be spawned and kept in maps.
#[test]
fn exports_are_send_and_static() {
    fn assert_send_static<T: Send + 'static>() {}
    assert_send_static::<Export>();
    assert_send_static::<mangrove::export::ExportFuture>();
    assert_send_static::<mangrove::CompletedExport>();
    assert_send_static::<ExportError>();
}
