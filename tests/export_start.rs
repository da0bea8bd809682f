//! Starting an export is never repeated blindly (issue 14, part 1).
//!
//! `GET …?response_mode=summary_with_export` and `POST /exports` both start an export. A start is
//! sent again only when it provably never reached the server (the connection could not be
//! opened) or the server refused it with a 429; any other failure is
//! `ExportError::StartUncertain`, after exactly one request.

#[path = "common/fake.rs"]
mod fake;

use mangrove::__wire::ResponseModeQuery;
use mangrove::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mangrove::testing::{FakeMangrove, Fault, TokenKind};
use mangrove::{Client, ExportError, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Retries on (4 attempts, short backoff): whatever is not retried is not retried by design.
fn retrying() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(4)
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
}

fn client_for(fake: &FakeMangrove) -> Client {
    fake.client_builder(TokenKind::Account)
        .retry_policy(retrying())
        .poll_policy(fake::quick())
        .build()
        .unwrap()
}

/// Requests that start an export (either path).
fn starts(fake: &FakeMangrove) -> usize {
    fake.journal()
        .requests
        .iter()
        .filter(|r| {
            (r.method == "POST" && r.path.ends_with("/exports"))
                || r.query_param("response_mode").as_deref() == Some("summary_with_export")
        })
        .count()
}

async fn start_summary(client: &Client) -> Result<(), ExportError> {
    client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .map(drop)
}

async fn start_post(client: &Client) -> Result<(), ExportError> {
    client
        .export_resource(mangrove::ResourceType::Delivery)
        .send()
        .await
        .map(drop)
}

fn uncertain_status(err: &ExportError) -> Option<Option<u16>> {
    match err {
        ExportError::StartUncertain { status, .. } => Some(status.map(|s| s.as_u16())),
        _ => None,
    }
}

#[tokio::test]
async fn gateway_504_after_the_export_was_created_is_uncertain_and_not_repeated() {
    for post in [false, true] {
        let fake = FakeMangrove::builder()
            .inject(Fault::start_lost())
            .start()
            .await;
        let client = client_for(&fake);
        let err = if post {
            start_post(&client).await
        } else {
            start_summary(&client).await
        }
        .unwrap_err();
        assert_eq!(uncertain_status(&err), Some(Some(504)), "{err:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(504));
        assert_eq!(starts(&fake), 1, "exactly one start request (post: {post})");
        assert_eq!(
            fake.journal().max_exports_in_flight,
            1,
            "the fake did create the export"
        );
        let text = err.to_string();
        for needle in [
            "MAY have been started",
            "no export id to attach to",
            "limit of 5 concurrent exports",
        ] {
            assert!(text.contains(needle), "{needle:?} missing in: {text}");
        }
    }
}

#[tokio::test]
async fn a_503_or_502_on_a_start_is_uncertain_after_one_request() {
    for (target, status, post) in [
        ("GET /projects", 503, false),
        ("GET /projects", 502, false),
        ("POST /exports", 503, true),
        ("POST /exports", 500, true),
    ] {
        let fake = FakeMangrove::builder()
            .inject(Fault::on(target).status(status).html_body().times(5))
            .start()
            .await;
        let client = client_for(&fake);
        let err = if post {
            start_post(&client).await
        } else {
            start_summary(&client).await
        }
        .unwrap_err();
        assert_eq!(
            uncertain_status(&err),
            Some(Some(status)),
            "{target}: {err:?}"
        );
        assert_eq!(starts(&fake), 1, "{target} {status}: one request");
    }
}

#[tokio::test]
async fn a_time_out_on_a_start_is_uncertain_after_one_request() {
    let fake = FakeMangrove::builder()
        .inject(Fault::start_lost().delay(Duration::from_millis(1500)))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .retry_policy(retrying())
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = start_summary(&client).await.unwrap_err();
    assert_eq!(uncertain_status(&err), Some(None), "{err:?}");
    assert!(
        err.to_string().contains("no answer within the time limit"),
        "{err}"
    );
    // The journal entry is written when the fake answers (after its delay).
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(starts(&fake), 1);
}

/// A raw server that reads each request and answers with `answer(n)` (n = 0-based request
/// number); `None` resets the connection without answering.
async fn raw_server(
    answer: impl Fn(usize) -> Option<&'static str> + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let n = seen.fetch_add(1, Ordering::SeqCst);
            match answer(n) {
                Some(body) => {
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                }
                None => {
                    // RST instead of FIN: the request was sent, no answer comes.
                    let _ = socket.set_zero_linger();
                }
            }
            drop(socket);
        }
    });
    (base, count)
}

const STARTED: &str = r#"{"count":1,"samples":[],"response_mode":"summary_with_export","export":{"id":"exp_1","status":"pending","status_url":null}}"#;

fn raw_client(base: &str) -> Client {
    Client::builder()
        .token("tok_test")
        .base_url(base)
        .retry_policy(retrying())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_connection_reset_after_sending_is_uncertain_after_one_request() {
    let (base, count) = raw_server(|_| None).await;
    let client = raw_client(&base);
    let err = start_summary(&client).await.unwrap_err();
    assert_eq!(uncertain_status(&err), Some(None), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "not repeated");
    let err = start_post(&client).await.unwrap_err();
    assert_eq!(uncertain_status(&err), Some(None), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 2, "POST not repeated either");
}

#[tokio::test]
async fn a_reset_on_an_ordinary_list_call_is_still_retried() {
    // The same failure on a request that starts nothing is repeated: the rule is per request.
    let (base, count) =
        raw_server(|n| (n > 0).then_some(r#"{"count":3,"samples":[],"response_mode":"summary"}"#))
            .await;
    let client = raw_client(&base);
    let summary = client.list_projects().summary().await.unwrap();
    assert_eq!(summary.count, 3);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_generated_call_with_summary_with_export_is_not_repeated_either() {
    // The rule lives in the request pipeline: a caller who sets the response mode on the
    // generated builder directly is protected too.
    let fake = FakeMangrove::builder()
        .inject(Fault::start_lost().status(503))
        .start()
        .await;
    let client = client_for(&fake);
    let err = client
        .list_projects()
        .response_mode(mangrove::types::ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(starts(&fake), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_for_both_start_paths() {
    for post in [false, true] {
        // A port nobody listens on yet: the first attempts are refused.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let base = format!("http://127.0.0.1:{port}/api/v1");
        let client = Client::builder()
            .token("tok_test")
            .base_url(&base)
            .retry_policy(
                RetryPolicy::default()
                    .max_attempts(10)
                    .backoff(Duration::from_millis(100), Duration::from_millis(100)),
            )
            .build()
            .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        let server = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(120)).await;
            let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 16 * 1024];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            seen.fetch_add(1, Ordering::SeqCst);
            let body = if post {
                r#"{"id":"exp_2","status":"pending","status_url":null}"#
            } else {
                STARTED
            };
            let reply = format!(
                "HTTP/1.1 {} OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                if post { 201 } else { 200 },
                body.len()
            );
            socket.write_all(reply.as_bytes()).await.unwrap();
        });
        let result = if post {
            client
                .export_resource(mangrove::ResourceType::Delivery)
                .send()
                .await
                .map(|e| e.id().to_string())
        } else {
            client
                .list_projects()
                .summary_with_export()
                .send()
                .await
                .map(|(_, e)| e.id().to_string())
        };
        let id = result.unwrap_or_else(|e| panic!("post {post}: {e:?}"));
        assert_eq!(id, if post { "exp_2" } else { "exp_1" });
        assert_eq!(count.load(Ordering::SeqCst), 1, "one request reached it");
        server.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_is_waited_out_and_retried() {
    for (target, post) in [("GET /projects", false), ("POST /exports", true)] {
        let fake = FakeMangrove::builder()
            .inject(Fault::on(target).status(429).header("retry-after", "7"))
            .start()
            .await;
        let client = client_for(&fake);
        let started = tokio::time::Instant::now();
        if post {
            start_post(&client).await
        } else {
            start_summary(&client).await
        }
        .unwrap_or_else(|e| panic!("{target}: {e:?}"));
        assert!(
            started.elapsed() >= Duration::from_secs(7),
            "waited the Retry-After: {:?}",
            started.elapsed()
        );
        assert_eq!(starts(&fake), 2, "{target}: refused once, then started");
        assert_eq!(fake.journal().max_exports_in_flight, 1);
    }
}

#[tokio::test]
async fn other_4xx_keep_their_own_errors() {
    for (status, want) in [(401u16, "Api"), (403, "Forbidden"), (422, "Api")] {
        let fake = FakeMangrove::builder()
            .inject(Fault::on("GET /projects").status(status).times(5))
            .start()
            .await;
        let client = client_for(&fake);
        let err = start_summary(&client).await.unwrap_err();
        let got = match &err {
            ExportError::Api(_) => "Api",
            ExportError::Forbidden { .. } => "Forbidden",
            _ => "other",
        };
        assert_eq!(got, want, "{status}: {err:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(starts(&fake), 1);
    }
}

#[tokio::test]
async fn a_redirect_on_a_start_is_not_followed() {
    // A followed 307 would send the start a second time (to wherever `Location` points).
    let fake = FakeMangrove::builder()
        .inject(Fault::on("GET /projects").status(307).header(
            "location",
            "/api/v1/projects?response_mode=summary_with_export",
        ))
        .start()
        .await;
    let client = client_for(&fake);
    let err = start_summary(&client).await.unwrap_err();
    assert_eq!(uncertain_status(&err), Some(Some(307)), "{err:?}");
    assert_eq!(starts(&fake), 1);
}
