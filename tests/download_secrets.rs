//! A pre-signed `download_url` is a credential (anyone holding it can read the file for 24 h):
//! its query string never appears in an error (Display, Debug, any source in the chain, wrapped in
//! `ExportError` or an `io::Error`), in `Debug` output, or in a tracing event at any level (the
//! `log` records of reqwest included), whatever the storage host does.
//!
//! Everything is captured by one global TRACE subscriber; each test checks what it produced and
//! the whole capture so far.

use std::sync::OnceLock;
use std::time::Duration;

use futures::TryStreamExt;
use mangrove::testing::{FakeMangrove, FaultBody, StorageFault};
use mangrove::{CompletedExport, DownloadPolicy, ExportError, ExportFormat};

#[path = "common/fake.rs"]
mod fake;
#[path = "common/hostile.rs"]
mod hostile;

#[path = "common/capture.rs"]
mod capture;
use capture::Captured;

/// The global capture (installed once: a TRACE subscriber plus the `log` bridge).
fn logs() -> String {
    static CAPTURE: OnceLock<Captured> = OnceLock::new();
    let captured = CAPTURE.get_or_init(|| {
        let buffer = Captured::default();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(buffer.clone())
            .with_ansi(false)
            .try_init()
            .expect("the only global subscriber of this test binary");
        buffer
    });
    captured.text()
}

/// Display, Debug and the whole source chain of an error.
fn all_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{e}\n{e:?}");
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!("\n  caused by: {s}\n  {s:?}"));
        source = s.source();
    }
    text
}

/// Every text an `ExportError` can show: its own and wrapped in an `io::Error` as `reader()`
/// and `records()` hand it out.
fn error_texts(e: ExportError) -> String {
    let mut text = all_text(&e);
    let io = std::io::Error::other(e);
    text.push('\n');
    text.push_str(&all_text(&io));
    text
}

/// The credentials of every URL the storage origin was asked for: each `signature` value.
fn signatures(fake: &FakeMangrove, completed: &CompletedExport) -> Vec<String> {
    let mut urls: Vec<String> = fake
        .journal()
        .storage
        .iter()
        .map(|r| r.path_and_query.clone())
        .collect();
    urls.push(completed.download_url().to_string());
    let mut found: Vec<String> = urls
        .iter()
        .filter_map(|u| u.split_once("signature=").map(|(_, s)| s.to_string()))
        .map(|s| s.split('&').next().unwrap_or_default().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    found.sort();
    found.dedup();
    found
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what}: the URL's signature {secret} leaked in:\n{text}"
        );
    }
    assert!(
        !text.contains("signature="),
        "{what}: a signed query leaked in:\n{text}"
    );
}

fn policy() -> DownloadPolicy {
    DownloadPolicy::default()
        .read_timeout(Duration::from_secs(2))
        .max_resumes(2)
        .resume_backoff(Duration::from_millis(10))
}

/// What one scenario ended in, for the table.
fn label(result: &Result<(), ExportError>) -> String {
    match result {
        Ok(()) => "Ok".into(),
        Err(ExportError::DownloadStatus { status, .. }) => format!("Status {}", status.as_u16()),
        Err(ExportError::InvalidDownload { .. }) => "InvalidResponse".into(),
        Err(
            d @ (ExportError::SizeMismatch { .. }
            | ExportError::Interrupted { .. }
            | ExportError::Changed { .. }
            | ExportError::UnknownFormat { .. }
            | ExportError::Io { .. }),
        ) => format!("{d:?}")
            .split([' ', '(', '{'])
            .next()
            .unwrap_or("?")
            .to_string(),
        Err(other) => format!("{other:?}"),
    }
}

// The download faults of the fault matrix, and storage bodies that echo the URL: no error and no
// log line shows the URL's query.
#[tokio::test(start_paused = true)]
async fn download_faults_never_show_the_urls_signature() {
    logs();
    let (fake, completed) = fake::completed_projects(300, ExportFormat::Csv, policy()).await;
    let url = completed.download_url().to_string();
    let (_, query) = url.split_once('?').expect("a signed URL");
    let signature = query
        .split('&')
        .find_map(|p| p.strip_prefix("signature="))
        .expect("the fake signs with `signature=`")
        .to_string();
    let path_and_query = url.splitn(4, '/').nth(3).unwrap_or_default().to_string();
    let echo_xml = format!(
        "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>No such key: {url}</Message>\
         <Resource>/{path_and_query}</Resource></Error>"
    );
    let echo_json =
        format!("{{\"message\": \"upstream failed for {url}\", \"signature\": \"{signature}\"}}");
    let echo_html =
        format!("<html><body>Bad gateway for <a href=\"{url}\">{url}</a></body></html>");

    type Arm = Box<dyn Fn(&FakeMangrove)>;
    let storage = |fault: StorageFault, times: u32| -> Arm {
        Box::new(move |f: &FakeMangrove| f.storage().inject(fault.clone(), times))
    };
    let status = |code: u16, body: FaultBody, times: u32| {
        storage(StorageFault::Status { status: code, body }, times)
    };
    // Each fault is armed for exactly the requests one run makes (3 = every attempt under
    // max_resumes 2), so nothing is left for the next run.
    let scenarios: Vec<(&str, Arm)> = vec![
        (
            "stall once",
            storage(StorageFault::Stall { after: 1000 }, 1),
        ),
        (
            "stall always",
            storage(StorageFault::Stall { after: 1000 }, 3),
        ),
        ("reset once", storage(StorageFault::DropAfter(2000), 1)),
        ("reset always", storage(StorageFault::DropAfter(2000), 3)),
        (
            "truncated always",
            storage(StorageFault::TruncateAfter(500), 3),
        ),
        (
            "Content-Length too small",
            storage(StorageFault::WrongContentLength(-500), 1),
        ),
        ("expired once", storage(StorageFault::Expired, 1)),
        ("expired always", storage(StorageFault::Expired, 2)),
        ("redirect", storage(StorageFault::Redirect, 1)),
        // 11 answers per request (reqwest follows 10 redirects), 3 requests (max_resumes 2).
        ("redirect loop", storage(StorageFault::Redirect, 33)),
        ("5xx once", status(503, FaultBody::Html, 1)),
        (
            "5xx always, body echoes the URL",
            status(500, FaultBody::Json(echo_json.clone()), 3),
        ),
        (
            "502 HTML echoing the URL",
            status(502, FaultBody::Xml(echo_html.clone()), 3),
        ),
        (
            "404 echoing the URL",
            status(404, FaultBody::Xml(echo_xml.clone()), 2),
        ),
        (
            "403 echoing the URL",
            status(403, FaultBody::Xml(echo_xml.clone()), 2),
        ),
        (
            "400 echoing the URL",
            status(400, FaultBody::Xml(echo_html.clone()), 1),
        ),
        (
            "410 JSON echoing the URL",
            status(410, FaultBody::Json(echo_json.clone()), 1),
        ),
    ];

    let mut texts = Vec::new();
    let mut table = Vec::new();
    for (name, arm) in &scenarios {
        for streamed in [false, true] {
            arm(&fake);
            let result = if streamed {
                let mut stream = completed.bytes_stream();
                async {
                    while stream.try_next().await?.is_some() {}
                    Ok(())
                }
                .await
            } else {
                let dir = tempfile::tempdir().unwrap();
                completed
                    .download_to(dir.path().join("p.csv"))
                    .await
                    .map(|_| ())
            };
            table.push(format!(
                "{name} ({}): {}",
                if streamed { "stream" } else { "file" },
                label(&result)
            ));
            if let Err(e) = result {
                texts.push((format!("{name}: error"), error_texts(e)));
            }
        }
    }

    // A changed file mid-stream, and a missing directory.
    fake.storage().inject(StorageFault::TruncateAfter(1000), 1);
    let mut stream = completed.bytes_stream();
    stream.try_next().await.unwrap();
    let size = completed.file_size_bytes().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("v2");
    std::fs::write(&v2, vec![b'x'; size as usize]).unwrap();
    fake.storage()
        .put(&format!("exports/{}.csv", completed.id()), v2, "text/csv");
    let mut changed = None;
    while let Some(item) = stream.try_next().await.transpose() {
        if let Err(e) = item {
            changed = Some(e);
            break;
        }
    }
    let changed = changed.expect("the stream ends with Changed");
    assert!(matches!(changed, ExportError::Changed { .. }));
    texts.push(("changed".into(), error_texts(changed)));
    let missing = completed
        .download_to(dir.path().join("missing/p.csv"))
        .await
        .unwrap_err();
    texts.push(("missing directory".into(), error_texts(missing)));

    println!("{}", table.join("\n"));
    let seen: Vec<&String> = table.iter().collect();
    for kind in [
        "Interrupted",
        "Status 403",
        "Status 404",
        "Status 400",
        "SizeMismatch",
        "Ok",
    ] {
        assert!(
            seen.iter().any(|row| row.ends_with(kind)),
            "no scenario ended in {kind}: {table:#?}"
        );
    }

    let secrets = signatures(&fake, &completed);
    for (what, text) in &texts {
        assert_clean(what, text, &secrets);
    }
    // Debug output of every handle that holds the URL.
    let snapshot = completed.export().status().await.unwrap();
    assert!(snapshot.raw.download_url.is_some());
    for (what, text) in [
        ("ExportSnapshot", format!("{snapshot:?} {snapshot:#?}")),
        ("CompletedExport", format!("{completed:?} {completed:#?}")),
        ("Export", format!("{:?}", completed.export())),
        ("DownloadTo", format!("{:?}", completed.download_to("x"))),
    ] {
        assert_clean(what, &text, &signatures(&fake, &completed));
    }
    assert!(
        format!("{snapshot:?}").contains("?<redacted>"),
        "the redacted URL is still shown: {snapshot:?}"
    );
    // ... while the URL itself is still there for whoever asks.
    assert!(completed.download_url().contains("signature="));
    assert!(snapshot
        .raw
        .download_url
        .as_deref()
        .is_some_and(|u| u.contains("signature=")));

    let logs = logs();
    assert!(
        logs.contains("download interrupted") && logs.contains("fresh one"),
        "the capture sees the download's events: {logs}"
    );
    assert_clean("tracing", &logs, &signatures(&fake, &completed));
}

// The variants only a hostile storage host produces (InvalidResponse, UnknownFormat), and
// a redirect to a URL with its own query: no error text and no log line shows the signature.
#[tokio::test]
async fn hostile_answers_never_show_the_urls_signature() {
    logs();
    use hostile::{Answer, End, Script, SIGNATURE};
    let answer = |status: u16, headers: &[(&str, &str)], body: &[u8]| Answer {
        status,
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
        end: End::Close,
    };
    let scripts = vec![
        // 206 without a usable Content-Range that echoes the URL.
        vec![answer(206, &[("content-range", "bytes @URL@")], b"abc")],
        // Neither format, extension nor Content-Type tells the layout; the type echoes the URL.
        vec![answer(
            200,
            &[("content-type", "x/@URL@"), ("content-length", "3")],
            b"abc",
        )],
        // A redirect loop to a signed URL of its own.
        vec![answer(302, &[("location", "@URL@&again=1")], b"")],
        // A redirect to a closed port with a signed query.
        vec![answer(
            307,
            &[(
                "location",
                "http://127.0.0.1:1/x?signature=S1GhostileSecret0123456789abcdef",
            )],
            b"",
        )],
        // Garbage Content-Length.
        vec![answer(200, &[("content-length", "@URL@")], b"abc")],
        // 418 with the URL as the body.
        vec![answer(418, &[], b"@URL@")],
    ];
    let server = hostile::start(Script {
        answers: vec![],
        file_size: Some(3),
        format: None,
        ext: "bin",
    })
    .await;
    let client = mangrove::Client::builder()
        .token("tok")
        .base_url(server.api())
        .retry_policy(mangrove::RetryPolicy::none())
        .download_policy(
            DownloadPolicy::default()
                .read_timeout(Duration::from_millis(200))
                .max_resumes(1)
                .resume_backoff(Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    let mut kinds = Vec::new();
    for answers in scripts {
        server.set_script(Script {
            answers,
            file_size: Some(3),
            format: None,
            ext: "bin",
        });
        let completed = mangrove::Export::attach(&client, "exp_1").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = completed.download_to(dir.path().join("f")).await;
        let records = completed.records::<serde_json::Value>().await.map(|_| ());
        for result in [file.map(|_| ()), records] {
            kinds.push(label(&result));
            if let Err(e) = result {
                let text = error_texts(e);
                assert!(!text.contains(SIGNATURE), "leaked in:\n{text}");
            }
        }
    }
    println!("{kinds:?}");
    for kind in [
        "InvalidResponse",
        "UnknownFormat",
        "Interrupted",
        "Status 418",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    assert!(!logs().contains(SIGNATURE), "the signature is in the logs");
}

// A storage host that redirects to a URL of its own signing and echoes that URL's credential
// percent-decoded, or as a `path?name=value` word without a scheme: none of it reaches the error.
#[tokio::test]
async fn echoed_credentials_of_a_redirect_target_are_blanked() {
    use hostile::{Answer, End, Script};
    let answer = |status: u16, headers: Vec<(String, String)>, body: &str| Answer {
        status,
        headers,
        body: body.as_bytes().to_vec(),
        end: End::Close,
    };
    let secret = "S3cr3t/Value+0123";
    let answers = vec![
        answer(
            302,
            vec![(
                "location".into(),
                "/files/moved.csv?sig=S3cr3t%2FValue%2B0123".into(),
            )],
            "",
        ),
        answer(
            418,
            vec![],
            "decoded S3cr3t/Value+0123, relative /files/moved.csv?token=Xyz98765432 end",
        ),
    ];
    let script = || Script {
        answers: answers.clone(),
        file_size: Some(3),
        format: Some("csv"),
        ext: "csv",
    };
    let server = hostile::start(script()).await;
    let client = mangrove::Client::builder()
        .token("tok")
        .base_url(server.api())
        .retry_policy(mangrove::RetryPolicy::none())
        .build()
        .unwrap();
    let completed = mangrove::Export::attach(&client, "exp_1").await.unwrap();
    let err = completed.bytes_stream().try_next().await.unwrap_err();
    assert!(matches!(err, ExportError::DownloadStatus { .. }), "{err:?}");
    let text = error_texts(err);
    for leaked in [secret, "S3cr3t%2FValue", "Xyz98765432", hostile::SIGNATURE] {
        assert!(!text.contains(leaked), "{leaked} leaked in:\n{text}");
    }
    assert!(
        text.contains("decoded"),
        "the host's words are kept: {text}"
    );
}
