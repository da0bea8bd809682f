//! Storage answers are hostile input. A property test serves every download request from a tiny
//! hostile server on 127.0.0.1 (status × `Content-Length` × `Content-Range` × `ETag` × `Location`
//! × `Content-Type` × body × how the connection ends, one to three answers in a row) and runs
//! `download_to`, `bytes_stream` and `records::<serde_json::Value>()` against it. Each call must
//! end in `Ok` or a typed error — never a panic — within [`BOUND`]; a file exists under the final
//! name only after an `Ok` whose size equals `file_size_bytes`; no temporary file is left; and the
//! URL's signature appears in no error text.
//!
//! 256 cases by default; `PROPTEST_CASES=10000 cargo test --release --test hostile_download --
//! --nocapture` for a long run. The outcome counts per error kind are printed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use mangrove::testing::TokenKind;
use mangrove::{
    Client, CompletedExport, DownloadPolicy, Export, ExportError, PollPolicy, RetryPolicy,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

#[path = "common/hostile.rs"]
mod hostile;
use hostile::{Answer, End, Script, SIGNATURE};

#[path = "common/fake.rs"]
mod fake;

/// Longest any one call may take (wall time; the policy's time-outs are tiny).
const BOUND: Duration = Duration::from_secs(10);

/// The file the "storage host" is supposed to serve.
const CSV: &[u8] = b"id,name\n1,alpha\n2,beta\n3,gamma\n";

fn policy() -> DownloadPolicy {
    DownloadPolicy::default()
        .connect_timeout(Duration::from_millis(500))
        .read_timeout(Duration::from_millis(50))
        .max_resumes(2)
        .resume_backoff(Duration::from_millis(1))
}

fn client(server: &hostile::HostileServer) -> Client {
    client_with(server, policy())
}

fn client_with(server: &hostile::HostileServer, policy: DownloadPolicy) -> Client {
    Client::builder()
        .token("tok_hostile")
        .base_url(server.api())
        .retry_policy(RetryPolicy::none())
        .poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(5))
                .time_limit(Duration::from_secs(5)),
        )
        .download_policy(policy)
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(200u16),
        3 => Just(206u16),
        1 => Just(416u16),
        1 => prop::sample::select(vec![301u16, 302, 303, 307, 308]),
        1 => prop::sample::select(vec![204u16, 304, 400, 401, 403, 404, 408, 410, 429]),
        1 => prop::sample::select(vec![500u16, 502, 503, 504]),
        1 => 200u16..=599,
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..64).prop_map(|n| n.to_string()),
        Just(u64::MAX.to_string()),
        Just((1u64 << 63).to_string()),
        Just("18446744073709551616".to_string()),
        Just("-5".to_string()),
        Just("abc".to_string()),
        Just("1e3".to_string()),
        Just(String::new()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn content_length() -> impl Strategy<Value = Option<String>> {
    let len = CSV.len() as u64;
    prop_oneof![
        2 => Just(None),
        3 => Just(Some(len.to_string())),
        1 => (0..len).prop_map(|n| Some(n.to_string())),
        1 => (len + 1..len + 100).prop_map(|n| Some(n.to_string())),
        1 => number().prop_map(Some),
        1 => Just(Some(format!("{len}, {}", len + 1))),
    ]
}

fn content_range() -> impl Strategy<Value = Option<String>> {
    let len = CSV.len() as u64;
    prop_oneof![
        2 => Just(None),
        2 => Just(Some(format!("bytes 0-{}/{len}", len - 1))),
        1 => (0..len).prop_map(move |first| Some(format!("bytes {first}-{}/{len}", len - 1))),
        1 => (number(), number(), number()).prop_map(|(a, b, c)| Some(format!("bytes {a}-{b}/{c}"))),
        1 => number().prop_map(|n| Some(format!("bytes */{n}"))),
        1 => Just(Some(format!("bytes */{len}"))),
        1 => Just(Some("bytes 5-2/10".into())),
        1 => Just(Some(format!("bytes 0-{}/{}", u64::MAX - 1, u64::MAX))),
        1 => Just(Some("bytes=0-1/2".into())),
        1 => Just(Some("items 0-1/*".into())),
        1 => "[ -~]{0,30}".prop_map(Some),
    ]
}

fn etag() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        2 => Just(Some("\"v1\"".into())),
        1 => Just(Some("\"v2\"".into())),
        1 => Just(Some("W/\"v1\"".into())),
        1 => Just(Some("\"".into())),
        1 => Just(Some("\"\"".into())),
        1 => "[ -~]{0,20}".prop_map(Some),
    ]
}

fn location() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some("@URL@".into())),
        1 => Just(Some(format!("/files/export.csv?expires=4102444800&signature={SIGNATURE}"))),
        1 => Just(Some("relative/elsewhere.csv".into())),
        1 => Just(Some("http://127.0.0.1:1/closed".into())),
        1 => Just(Some("http://[::1".into())),
        1 => Just(Some("ftp://example.com/x".into())),
        1 => Just(Some("//".into())),
        1 => Just(Some(String::new())),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("text/csv".into())),
        Just(Some("application/json".into())),
        Just(Some("text/html; charset=utf-8".into())),
        Just(Some("application/octet-stream".into())),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        4 => Just(CSV.to_vec()),
        1 => (0..CSV.len()).prop_map(|n| CSV[..n].to_vec()),
        1 => (1usize..8).prop_map(|k| CSV[CSV.len() / 2..].repeat(k)),
        1 => (1usize..2000).prop_map(|k| CSV.repeat(k)),
        1 => Just(b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>".to_vec()),
        1 => Just(
            b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Denied for @URL@</Message></Error>"
                .to_vec()
        ),
        1 => Just(b"<html><body>Your link @URL@ is not valid. Signature S1GhostileSecret0123456789abcdef</body></html>".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
    ]
}

fn end() -> impl Strategy<Value = End> {
    prop_oneof![16 => Just(End::Close), 2 => Just(End::Reset), 1 => Just(End::Hang)]
}

fn answer() -> impl Strategy<Value = Answer> {
    (
        status(),
        content_length(),
        content_range(),
        etag(),
        location(),
        content_type(),
        body(),
        end(),
    )
        .prop_map(
            |(status, length, range, etag, location, content_type, body, end)| {
                let mut headers = Vec::new();
                let named = [
                    ("content-length", length),
                    ("content-range", range),
                    ("etag", etag),
                    ("location", location),
                    ("content-type", content_type),
                ];
                for (name, value) in named {
                    if let Some(value) = value {
                        headers.push((name.to_string(), value));
                    }
                }
                Answer {
                    status,
                    headers,
                    body,
                    end,
                }
            },
        )
}

fn script() -> impl Strategy<Value = Script> {
    let len = CSV.len() as i64;
    (
        prop::collection::vec(answer(), 1..=3),
        prop_oneof![
            6 => Just(Some(len)),
            1 => Just(None),
            1 => Just(Some(0i64)),
            1 => Just(Some(i64::MAX)),
            1 => (0..len * 3).prop_map(Some),
        ],
        prop::sample::select(vec![Some("csv"), Some("json"), None]),
        prop::sample::select(vec!["csv", "json", "bin"]),
    )
        .prop_map(|(answers, file_size, format, ext)| Script {
            answers,
            file_size,
            format,
            ext,
        })
}

// ---------------------------------------------------------------------------------------------
// Outcomes.

fn kind(e: &ExportError) -> String {
    match e {
        ExportError::DownloadStatus { status, .. } => match status.as_u16() {
            code @ (403 | 404 | 416) => format!("Download(Status {code})"),
            code => format!("Download(Status {}xx)", code / 100),
        },
        ExportError::SizeMismatch { .. } => "Download(SizeMismatch)".into(),
        ExportError::FileTooLarge { .. } => "Download(FileTooLarge)".into(),
        ExportError::Interrupted { .. } => "Download(Interrupted)".into(),
        ExportError::Changed { .. } => "Download(Changed)".into(),
        ExportError::UnknownFormat { .. } => "Download(UnknownFormat)".into(),
        ExportError::InvalidDownload { .. } => "Download(InvalidResponse)".into(),
        ExportError::Io { .. } => "Download(Io)".into(),
        ExportError::Api(a) => format!(
            "Api({})",
            a.status().map_or("-".into(), |s| s.as_u16().to_string())
        ),
        ExportError::InvalidResponse { .. } => "InvalidResponse".into(),
        ExportError::Expired { .. } => "Expired".into(),
        other => format!("other: {other}"),
    }
}

/// Display, Debug and the whole source chain of an error.
fn all_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{e} {e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(" | {s} {s:?}"));
        source = s.source();
    }
    text
}

#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<String, u64>,
    calls: u64,
    longest: Duration,
}

static TALLY: Mutex<Option<Tally>> = Mutex::new(None);

fn record(call: &str, outcome: String, took: Duration) {
    let mut tally = TALLY.lock().unwrap();
    let tally = tally.get_or_insert_with(Tally::default);
    *tally
        .outcomes
        .entry(format!("{call}: {outcome}"))
        .or_default() += 1;
    tally.calls += 1;
    tally.longest = tally.longest.max(took);
}

fn check_secret(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!text.contains(SIGNATURE), "the signature leaked: {text}");
    Ok(())
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

async fn run(
    server: &hostile::HostileServer,
    client: &Client,
    script: Script,
) -> Result<(), TestCaseError> {
    let file_size = script.file_size;
    server.set_script(script);
    let completed: CompletedExport = match Export::attach(client, "exp_1").await {
        Ok(c) => c,
        Err(e) => {
            check_secret(&all_text(&e))?;
            record("attach", kind(&e), Duration::ZERO);
            return Ok(());
        }
    };
    let expected = completed.file_size_bytes();
    prop_assert_eq!(expected, file_size.and_then(|n| u64::try_from(n).ok()));

    // download_to
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.csv");
    let started = Instant::now();
    let result = tokio::time::timeout(BOUND, completed.download_to(&target)).await;
    let took = started.elapsed();
    let Ok(result) = result else {
        return Err(TestCaseError::fail(format!(
            "download_to took over {BOUND:?}"
        )));
    };
    match &result {
        Ok(done) => {
            let len = std::fs::metadata(&target).map(|m| m.len());
            prop_assert_eq!(len.ok(), Some(done.bytes));
            if let Some(expected) = expected {
                prop_assert_eq!(done.bytes, expected, "size checked");
            }
            prop_assert_eq!(entries(dir.path()), vec!["out.csv".to_string()]);
            record("download_to", "Ok".into(), took);
        }
        Err(e) => {
            check_secret(&all_text(e))?;
            prop_assert!(!target.exists(), "a final file after {e}");
            prop_assert!(
                entries(dir.path()).is_empty(),
                "stray files: {:?}",
                entries(dir.path())
            );
            record("download_to", kind(e), took);
        }
    }

    // bytes_stream
    let started = Instant::now();
    let streamed = tokio::time::timeout(BOUND, async {
        let mut stream = completed.bytes_stream();
        let mut total = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            total += chunk.len() as u64;
        }
        Ok::<u64, ExportError>(total)
    })
    .await;
    let took = started.elapsed();
    let Ok(streamed) = streamed else {
        return Err(TestCaseError::fail(format!(
            "bytes_stream took over {BOUND:?}"
        )));
    };
    match streamed {
        Ok(total) => {
            if let Some(expected) = expected {
                prop_assert_eq!(total, expected);
            }
            record("bytes_stream", "Ok".into(), took);
        }
        Err(e) => {
            check_secret(&all_text(&e))?;
            record("bytes_stream", kind(&e), took);
        }
    }

    // records
    let started = Instant::now();
    let records = tokio::time::timeout(BOUND, async {
        let mut records = completed.records::<serde_json::Value>().await?;
        let mut outcome = "Ok".to_string();
        loop {
            match records.try_next().await {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    let text = all_text(&e);
                    if text.contains(SIGNATURE) {
                        outcome = format!("LEAK {text}");
                    } else if e.is_fatal() {
                        outcome = format!("Record({})", record_kind(&e));
                        break;
                    }
                }
            }
        }
        Ok::<String, ExportError>(outcome)
    })
    .await;
    let took = started.elapsed();
    let Ok(records) = records else {
        return Err(TestCaseError::fail(format!("records took over {BOUND:?}")));
    };
    match records {
        Ok(outcome) => {
            check_secret(&outcome)?;
            record("records", outcome, took);
        }
        Err(e) => {
            check_secret(&all_text(&e))?;
            record("records", kind(&e), took);
        }
    }
    Ok(())
}

fn record_kind(e: &mangrove::records::RecordError) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("?")
        .to_string()
}

#[test]
fn hostile_storage_answers_end_in_ok_or_a_typed_error() {
    let config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let started = Instant::now();
    // One runtime, one server and one client for all cases (building a client per case would
    // dominate the run time); each case sets the server's script.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server, client) = runtime.block_on(async {
        let server = hostile::start(Script {
            answers: vec![],
            file_size: None,
            format: None,
            ext: "csv",
        })
        .await;
        let client = client(&server);
        (server, client)
    });
    runner
        .run(&script(), |script| {
            runtime.block_on(run(&server, &client, script))
        })
        .unwrap();
    let tally = TALLY.lock().unwrap().take().unwrap_or_default();
    println!(
        "\n{cases} cases, {} calls in {:.1?}; panics: 0; longest call {:?} (bound {BOUND:?})",
        tally.calls,
        started.elapsed(),
        tally.longest
    );
    for (outcome, n) in &tally.outcomes {
        println!("{n:>7}  {outcome}");
    }
    assert!(tally.longest < BOUND);
}

// A missing target directory is found before the storage host is asked for anything.
#[tokio::test]
async fn missing_directory_is_refused_before_any_storage_request() {
    let (fake, completed) =
        fake::completed_projects(5, mangrove::ExportFormat::Csv, fake::tiny()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/p.csv");
    match completed.download_to(&path).await {
        Err(ExportError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Io, got {other:?}"),
    }
    assert_eq!(fake.journal().downloads().len(), 0, "storage was asked");
    // A path under a regular file: the same, before any request.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    assert!(completed.download_to(file.join("p.csv")).await.is_err());
    assert_eq!(fake.journal().downloads().len(), 0, "storage was asked");
    // A directory that exists: one request.
    completed
        .download_to(dir.path().join("p.csv"))
        .await
        .unwrap();
    assert_eq!(fake.journal().downloads().len(), 1);
    let _ = TokenKind::Account;
}

// A storage error page far larger than the message needs is not buffered: the error arrives
// while the page is still being sent, and its message is short.
#[tokio::test]
async fn huge_storage_error_pages_are_not_buffered() {
    let page = vec![b'x'; 50 * 1024 * 1024];
    let server = hostile::start(Script {
        answers: vec![Answer {
            status: 400,
            headers: vec![("content-length".into(), page.len().to_string())],
            body: page,
            end: End::Close,
        }],
        file_size: Some(CSV.len() as i64),
        format: Some("csv"),
        ext: "csv",
    })
    .await;
    let completed = Export::attach(
        &client_with(&server, policy().read_timeout(Duration::from_secs(2))),
        "exp_1",
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let err = completed
        .download_to(dir.path().join("out.csv"))
        .await
        .unwrap_err();
    match &err {
        ExportError::DownloadStatus { status, message } => {
            assert_eq!(status.as_u16(), 400);
            assert!(message.len() < 1024, "{} bytes of message", message.len());
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert!(started.elapsed() < BOUND);
}

// An error page sent a byte every 20 ms (never idle for the 50 ms read time-out) is read for at
// most the read time-out in all, not until its 2 KiB prefix has trickled in (41 s).
#[tokio::test]
async fn trickling_error_pages_are_bounded() {
    let server = hostile::start(Script {
        answers: vec![Answer {
            status: 400,
            headers: vec![("content-length".into(), "100000".into())],
            body: b"<Error><Message>slow".to_vec(),
            end: End::Trickle,
        }],
        file_size: Some(CSV.len() as i64),
        format: Some("csv"),
        ext: "csv",
    })
    .await;
    let completed = Export::attach(&client(&server), "exp_1").await.unwrap();
    let started = Instant::now();
    let err = completed.bytes_stream().try_next().await.unwrap_err();
    assert!(matches!(err, ExportError::DownloadStatus { .. }));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// A 206 whose Content-Range breaks HTTP's rules cannot place its bytes: InvalidDownload.
#[tokio::test]
async fn impossible_content_ranges_are_invalid() {
    let body = b"0123456789abcdefghij".to_vec();
    let server = hostile::start(Script {
        answers: vec![],
        file_size: Some(20),
        format: None,
        ext: "csv",
    })
    .await;
    let client = client(&server);
    for (range, valid) in [
        ("bytes 0-19/20", true),
        ("bytes 0-19/*", true),
        ("bytes 0-20/20", false),
        ("bytes 5-4/20", false),
        ("bytes 0-19", false),
        ("items 0-19/20", false),
        ("bytes a-b/c", false),
    ] {
        server.set_script(Script {
            answers: vec![Answer {
                status: 206,
                headers: vec![("content-range".into(), range.into())],
                body: body.clone(),
                end: End::Close,
            }],
            file_size: Some(20),
            format: None,
            ext: "csv",
        });
        let completed = mangrove::Export::attach(&client, "exp_1").await.unwrap();
        let got: Result<Vec<_>, _> = completed.bytes_stream().try_collect().await;
        match got {
            Ok(chunks) => assert!(valid && chunks.concat() == body, "{range}"),
            Err(ExportError::InvalidDownload { .. }) => assert!(!valid, "{range}"),
            Err(e) => panic!("{range}: {e:?}"),
        }
    }
}

/// A CSV file of `len` bytes or a little more: a header and numbered rows.
fn csv_of(len: usize) -> Vec<u8> {
    let mut csv = b"id,name\n".to_vec();
    let mut i = 0;
    while csv.len() < len {
        i += 1;
        csv.extend_from_slice(format!("{i},row {i}\n").as_bytes());
    }
    csv
}

// A storage host that declares no size (no `file_size_bytes`, no `Content-Length`) cannot
// stream without end: `download_to`, `bytes_stream` and a record stream all stop at the policy's
// `max_file_bytes` with `FileTooLarge`, no byte past it is handed out, and no file is kept.
#[tokio::test]
async fn a_file_of_no_declared_size_stops_at_the_size_limit() {
    let server = hostile::start(Script {
        answers: vec![Answer {
            status: 200,
            headers: vec![("content-type".into(), "text/csv".into())],
            body: csv_of(64 * 1024),
            end: End::Close,
        }],
        file_size: None,
        format: Some("csv"),
        ext: "csv",
    })
    .await;
    let client = client_with(&server, policy().max_file_bytes(1000));
    let completed = Export::attach(&client, "exp_1").await.unwrap();
    let too_large = |e: &ExportError| matches!(e, ExportError::FileTooLarge { limit: 1000, size } if *size > 1000);

    let dir = tempfile::tempdir().unwrap();
    let err = completed
        .download_to(dir.path().join("out.csv"))
        .await
        .unwrap_err();
    assert!(too_large(&err), "{err:?}");
    assert!(err.to_string().contains("1000"), "{err}");
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));

    let mut stream = completed.bytes_stream();
    let mut handed_out = 0;
    let err = loop {
        match stream.try_next().await {
            Ok(Some(chunk)) => handed_out += chunk.len(),
            Ok(None) => panic!("the stream ended after {handed_out} bytes"),
            Err(e) => break e,
        }
    };
    assert!(too_large(&err), "{err:?}");
    assert!(handed_out <= 1000, "{handed_out} bytes handed out");

    let mut records = completed.records::<serde_json::Value>().await.unwrap();
    let err = loop {
        match records.try_next().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the records ended"),
            Err(e) => break e,
        }
    };
    match &err {
        mangrove::records::RecordError::Download(e) => assert!(too_large(e), "{e:?}"),
        other => panic!("expected Download(FileTooLarge), got {other:?}"),
    }
}

// A size over the limit that the export or the storage host declares stops the download at
// once: the export's `file_size_bytes` before any storage request, a `Content-Length` before
// any byte of the body.
#[tokio::test]
async fn a_declared_size_over_the_limit_is_refused_up_front() {
    let body = csv_of(5000);
    let server = hostile::start(Script {
        answers: vec![Answer {
            status: 200,
            headers: vec![("content-length".into(), body.len().to_string())],
            body: body.clone(),
            end: End::Close,
        }],
        file_size: Some(body.len() as i64),
        format: Some("csv"),
        ext: "csv",
    })
    .await;
    let client = client_with(&server, policy().max_file_bytes(1000));
    let completed = Export::attach(&client, "exp_1").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = completed
        .download_to(dir.path().join("out.csv"))
        .await
        .unwrap_err();
    let size = body.len() as u64;
    assert!(
        matches!(err, ExportError::FileTooLarge { limit: 1000, size: s } if s == size),
        "{err:?}"
    );
    assert_eq!(server.storage_requests(), 0, "the storage host was asked");

    // No `file_size_bytes`: the storage host's `Content-Length` is over the limit.
    server.set_script(Script {
        answers: vec![Answer {
            status: 200,
            headers: vec![("content-length".into(), body.len().to_string())],
            body,
            end: End::Close,
        }],
        file_size: None,
        format: Some("csv"),
        ext: "csv",
    });
    let completed = Export::attach(&client, "exp_1").await.unwrap();
    let mut stream = completed.bytes_stream();
    let err = stream.try_next().await.unwrap_err();
    assert!(
        matches!(err, ExportError::FileTooLarge { limit: 1000, size: s } if s == size),
        "{err:?}"
    );
}

// A busy storage host's `Retry-After` is honoured on resumes, as on API retries (not our own
// 1 ms backoff), and capped at a minute, however long it asks: on tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn storage_retry_after_is_honoured_and_capped() {
    for (asked, waited) in [("2", 2), ("3600", 60)] {
        let server = hostile::start(Script {
            answers: vec![
                Answer {
                    status: 503,
                    headers: vec![
                        ("retry-after".into(), asked.into()),
                        ("content-length".into(), "0".into()),
                    ],
                    body: Vec::new(),
                    end: End::Close,
                },
                Answer {
                    status: 200,
                    headers: vec![("content-length".into(), CSV.len().to_string())],
                    body: CSV.to_vec(),
                    end: End::Close,
                },
            ],
            file_size: Some(CSV.len() as i64),
            format: Some("csv"),
            ext: "csv",
        })
        .await;
        // Long time-outs: on the paused clock, only the resume wait may move time.
        let policy = policy()
            .read_timeout(Duration::from_secs(600))
            .connect_timeout(Duration::from_secs(600));
        let completed = Export::attach(&client_with(&server, policy), "exp_1")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let started = tokio::time::Instant::now();
        let done = completed
            .download_to(dir.path().join("out.csv"))
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!((done.bytes, done.resumes), (CSV.len() as u64, 1));
        let waited = Duration::from_secs(waited);
        assert!(
            elapsed >= waited && elapsed < waited + Duration::from_secs(1),
            "Retry-After: {asked}: resumed after {elapsed:?}"
        );
    }
}
