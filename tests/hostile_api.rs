//! A hostile API server (issue 14, part 4): whatever status, headers and body the server sends,
//! every API-side call of the SDK ends with `Ok` or a typed error — never a panic — within a
//! stated bound of (virtual) time.
//!
//! A tiny HTTP/1.1 server on 127.0.0.1, running in the test's own tokio runtime (paused clock, so
//! waits cost no real time), answers every request with the generated response. Properties, one
//! per call the SDK makes on the API side:
//! * list page (`client.list_projects().send()`),
//! * summary (`.summary()`),
//! * export start (`.summary_with_export().send()`),
//! * status poll (`export.status()`, then `export.await` under a small poll policy).
//!
//! Strategies: status (all classes, weighted to the interesting ones) × headers (`Retry-After` as
//! seconds / HTTP-date / garbage / huge; `RateLimit-*` huge, negative, millisecond-scale;
//! `Date` odd; `Location`, `ETag`, `Content-Type` odd) × framing (`Content-Length` right,
//! missing, larger or smaller than the body, or claiming 100 MB) × body (empty, HTML, huge,
//! malformed, random bytes, valid for the call).
//!
//! Bound: every call must end within [`BOUND`] of virtual time (the policies below allow at
//! most a few seconds of waiting). 256 cases per property by default; `PROPTEST_CASES=N`
//! overrides. Outcomes are counted by kind and printed (`-- --nocapture`).

use mangrove::prelude::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mangrove::{Client, Export, ExportError, PollPolicy, RetryPolicy};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Longest a call may take (virtual time).
const BOUND: Duration = Duration::from_secs(120);

/// The generated answer.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    framing: Framing,
    body: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum Framing {
    /// `Content-Length` equal to the body.
    Exact,
    /// No `Content-Length`: the body ends when the connection closes.
    CloseDelimited,
    /// `Content-Length` larger than the body by this much (then the connection closes).
    Larger(u64),
    /// `Content-Length` smaller than the body by this much.
    Smaller(u64),
}

#[derive(Clone, Copy, Debug)]
enum Call {
    ListPage,
    Summary,
    ExportStart,
    StatusPoll,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header_value() -> impl Strategy<Value = String> {
    let now = now_secs();
    prop_oneof![
        (0u64..5).prop_map(|n| n.to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999999".to_string()),
        Just(((now + 3) * 1000).to_string()), // a reset in milliseconds
        Just((now + 2).to_string()),
        Just((now + 365 * 24 * 3600).to_string()),
        Just("1.5".to_string()),
        Just("abc".to_string()),
        Just(String::new()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
        Just("Thu, 01 Jan 1970 00:00:00 GMT".to_string()),
        "[ -~]{0,24}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("retry-after"),
        Just("ratelimit-limit"),
        Just("ratelimit-remaining"),
        Just("ratelimit-reset"),
        Just("date"),
        Just("location"),
        Just("etag"),
        Just("content-type"),
        Just("content-range"),
        Just("content-encoding"),
    ];
    let odd_location = prop_oneof![
        Just("/api/v1/projects".to_string()),
        Just("http://127.0.0.1:1/elsewhere".to_string()),
        Just("http://[::1".to_string()),
        Just("::::".to_string()),
        Just(String::new()),
    ];
    let pair = (name, header_value(), odd_location).prop_map(|(name, value, location)| {
        let value = match name {
            "location" => location,
            "content-type" if value.len() % 2 == 0 => "text/html".to_string(),
            "content-type" => "application/json".to_string(),
            _ => value,
        };
        (name.to_string(), value)
    });
    // The full rate-limit triple often, so readings are actually taken.
    let triple = header_value().prop_flat_map(|reset| {
        (header_value(), header_value()).prop_map(move |(limit, remaining)| {
            vec![
                ("ratelimit-limit".to_string(), limit),
                ("ratelimit-remaining".to_string(), remaining),
                ("ratelimit-reset".to_string(), reset.clone()),
            ]
        })
    });
    (
        proptest::collection::vec(pair, 0..6),
        proptest::option::of(triple),
    )
        .prop_map(|(mut pairs, triple)| {
            pairs.extend(triple.unwrap_or_default());
            pairs
        })
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(200u16),
        1 => Just(201u16),
        1 => Just(202u16),
        1 => Just(204u16),
        1 => prop::sample::select(vec![301u16, 302, 303, 304, 307, 308]),
        1 => prop::sample::select(vec![400u16, 401, 403, 404, 408, 409, 410, 422]),
        3 => Just(429u16),
        1 => Just(500u16),
        2 => prop::sample::select(vec![502u16, 503, 504]),
        1 => 100u16..600,
    ]
}

fn valid_body(call: Call, completed: bool) -> Vec<u8> {
    let text = match call {
        Call::ListPage => r#"{"data":[{"id":1,"name":"P"}],"info":{"current_page":1,"page_size":25,"items":1}}"#.to_string(),
        Call::Summary => r#"{"count":3,"samples":[{"id":1}],"response_mode":"summary"}"#.to_string(),
        Call::ExportStart => r#"{"count":1,"samples":[],"response_mode":"summary_with_export","export":{"id":"exp_1","status":"pending","status_url":null}}"#.to_string(),
        Call::StatusPoll if completed => r#"{"id":"exp_1","status":"completed","download_url":"http://127.0.0.1:1/f.csv?sig=SECRET","file_size_bytes":10,"format":"csv"}"#.to_string(),
        Call::StatusPoll => r#"{"id":"exp_1","status":"processing"}"#.to_string(),
    };
    text.into_bytes()
}

fn body(call: Call) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => Just(Vec::new()),
        1 => Just(b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec()),
        // Huge: past the status (1 MiB) and error (64 KiB) caps.
        1 => Just(vec![b'x'; 1_100_000]),
        1 => Just(br#"{"data": [{"id": 1, "name": "Trunc"#.to_vec()),
        1 => Just(br#"{"message": 12}"#.to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        4 => any::<bool>().prop_map(move |c| valid_body(call, c)),
    ]
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        6 => Just(Framing::Exact),
        1 => Just(Framing::CloseDelimited),
        1 => prop_oneof![Just(1u64), Just(1000), Just(100_000_000)].prop_map(Framing::Larger),
        1 => (1u64..20).prop_map(Framing::Smaller),
    ]
}

fn answer(call: Call) -> impl Strategy<Value = Answer> {
    (status(), headers(), framing(), body(call)).prop_map(|(status, headers, framing, body)| {
        Answer {
            status,
            headers,
            framing,
            body,
        }
    })
}

/// Serves `answer` to every request until the listener is dropped.
async fn serve(listener: TcpListener, answer: Arc<Mutex<Option<Answer>>>) {
    while let Ok((mut socket, _)) = listener.accept().await {
        let answer = answer.lock().unwrap().clone();
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let Some(a) = answer else { return };
            let reason = match a.status {
                200 => "OK",
                _ => "X",
            };
            let mut out = format!("HTTP/1.1 {} {reason}\r\n", a.status).into_bytes();
            let len = a.body.len() as u64;
            match a.framing {
                Framing::Exact => out.extend(format!("content-length: {len}\r\n").bytes()),
                Framing::CloseDelimited => {}
                Framing::Larger(n) => {
                    out.extend(format!("content-length: {}\r\n", len + n).bytes())
                }
                Framing::Smaller(n) => {
                    out.extend(format!("content-length: {}\r\n", len.saturating_sub(n)).bytes())
                }
            }
            for (name, value) in &a.headers {
                if name == "content-length" || value.contains(['\r', '\n']) {
                    continue;
                }
                out.extend(format!("{name}: {value}\r\n").bytes());
            }
            out.extend(b"connection: close\r\n\r\n");
            out.extend(&a.body);
            let _ = socket.write_all(&out).await;
            let _ = socket.shutdown().await;
        });
    }
}

fn kind(result: &Result<(), ExportError>) -> String {
    match result {
        Ok(()) => "Ok".into(),
        Err(ExportError::Api(e)) => {
            use std::error::Error as _;
            match e.status() {
                Some(s) => match s.as_u16() {
                    n @ (401 | 403 | 404 | 429 | 500 | 502 | 503 | 504) => format!("Api(HTTP {n})"),
                    n => format!("Api(HTTP other {}xx)", n / 100),
                },
                None => {
                    let source = e.source().map(|s| s.to_string()).unwrap_or_default();
                    let what =
                        if source.contains("timed out") || e.to_string().contains("timed out") {
                            "time-out"
                        } else if e.to_string().contains("cannot decode") {
                            "undecodable body"
                        } else if e.to_string().contains("reading the response body") {
                            "body read failed"
                        } else if e.to_string().contains("could not reach") {
                            "transport"
                        } else {
                            "other"
                        };
                    format!("Api({what})")
                }
            }
        }
        Err(ExportError::StartUncertain { status, .. }) => match status.map(|s| s.as_u16()) {
            Some(n @ (500 | 502 | 503 | 504)) => format!("StartUncertain({n})"),
            Some(n) => format!("StartUncertain(other {}xx)", n / 100),
            None => "StartUncertain(no status)".into(),
        },
        Err(e) => {
            let debug = format!("{e:?}");
            debug
                .split([' ', '{', '('])
                .next()
                .unwrap_or("?")
                .to_string()
        }
    }
}

struct Tally {
    outcomes: BTreeMap<String, u64>,
    longest: Duration,
    cases: u64,
}

async fn call(client: &Client, which: Call) -> Result<(), ExportError> {
    match which {
        Call::ListPage => client
            .list_projects()
            .send()
            .await
            .map(drop)
            .map_err(|e| ExportError::Api(e.into())),
        Call::Summary => client
            .list_projects()
            .summary()
            .await
            .map(drop)
            .map_err(ExportError::Api),
        Call::ExportStart => client
            .list_projects()
            .summary_with_export()
            .send()
            .await
            .map(drop),
        Call::StatusPoll => {
            let export = Export::attach(client, "exp_1");
            export.status().await?;
            export.await.map(drop)
        }
    }
}

fn run_property(which: Call) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let current = Arc::new(Mutex::new(None::<Answer>));
    let client = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, Arc::clone(&current)));
        Client::builder()
            .token("tok_hostile")
            .base_url(base)
            .timeout(Duration::from_secs(30))
            .retry_policy(
                RetryPolicy::default()
                    .max_attempts(3)
                    .backoff(Duration::from_millis(10), Duration::from_millis(50))
                    .max_rate_limit_wait(Duration::from_secs(2)),
            )
            .poll_policy(
                PollPolicy::default()
                    .initial_delay(Duration::from_millis(250))
                    .max_delay(Duration::from_secs(1))
                    .time_limit(Duration::from_secs(5))
                    .max_consecutive_errors(3),
            )
            .export_slot_wait(Duration::from_secs(5))
            .build()
            .unwrap()
    });
    let tally = Mutex::new(Tally {
        outcomes: BTreeMap::new(),
        longest: Duration::ZERO,
        cases: 0,
    });
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    let result = runner.run(&answer(which), |a| {
        *current.lock().unwrap() = Some(a.clone());
        let real = std::time::Instant::now();
        let (outcome, took) = rt.block_on(async {
            let t = tokio::time::Instant::now();
            let outcome = tokio::time::timeout(BOUND, call(&client, which)).await;
            (outcome, t.elapsed())
        });
        let Ok(outcome) = outcome else {
            return Err(TestCaseError::fail(format!(
                "{which:?} did not end within {BOUND:?}"
            )));
        };
        if std::env::var("HOSTILE_SLOW").is_ok() && real.elapsed() > Duration::from_millis(100) {
            let mut shown = a.clone();
            shown.body.truncate(80);
            println!(
                "slow ({:?} real): {shown:?} -> {}",
                real.elapsed(),
                kind(&outcome)
            );
        }
        let mut t = tally.lock().unwrap();
        *t.outcomes.entry(kind(&outcome)).or_default() += 1;
        t.longest = t.longest.max(took);
        t.cases += 1;
        Ok(())
    });
    let t = tally.into_inner().unwrap();
    println!(
        "\n{which:?}: {} cases, panics 0, longest call {:?} (virtual), real time {:.1?}",
        t.cases,
        t.longest,
        started.elapsed()
    );
    for (kind, n) in &t.outcomes {
        println!("  {n:>7}  {kind}");
    }
    if let Err(e) = result {
        panic!("{which:?}: {e}");
    }
    assert!(t.longest <= BOUND);
}

#[test]
fn list_page_survives_any_answer() {
    run_property(Call::ListPage);
}

#[test]
fn summary_survives_any_answer() {
    run_property(Call::Summary);
}

#[test]
fn export_start_survives_any_answer() {
    run_property(Call::ExportStart);
}

#[test]
fn status_poll_survives_any_answer() {
    run_property(Call::StatusPoll);
}
