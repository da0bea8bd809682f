//! The fault matrix: faults injected through the fake server, each with its expected outcome.
//!
//! Every case runs the whole main job — start an export, await it, download it to a file — and
//! then checks the invariants that hold whatever the fault:
//! * the run ended in success or one typed error (a panic fails the test);
//! * no file exists under the final name unless the run succeeded, and then it is complete:
//!   its size equals `file_size_bytes` and its bytes equal the rows the fake serves (0 bytes lost);
//! * the directory holds no stray temporary file;
//! * no request reached the storage origin with an `Authorization` header (0 tokens leaked).
//!
//! The test prints the matrix as a table (`cargo test --test fault_matrix -- --nocapture`).

use mangrove::prelude::*;
use std::path::Path;
use std::time::Duration;

use mangrove::testing::{
    data, Collection, FakeMangrove, FakeMangroveBuilder, Fault, Schedule, StorageFault, TokenKind,
};
use mangrove::{Client, DownloadPolicy, ExportError, PollPolicy, RetryPolicy};

const ROWS: u64 = 400;

/// What a case is expected to end in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Completed,
    Error(&'static str),
}

struct Case {
    fault: &'static str,
    expect: Expect,
    builder: fn(FakeMangroveBuilder) -> FakeMangroveBuilder,
    /// Armed after the export started (API and storage faults), before awaiting it.
    arm: fn(&FakeMangrove),
    token: TokenKind,
}

fn none(b: FakeMangroveBuilder) -> FakeMangroveBuilder {
    b
}
fn nothing(_: &FakeMangrove) {}

fn cases() -> Vec<Case> {
    let c = |fault, expect, arm: fn(&FakeMangrove)| Case {
        fault,
        expect,
        builder: none,
        arm,
        token: TokenKind::Account,
    };
    vec![
        c("no fault", Expect::Completed, nothing),
        c("500 while polling", Expect::Completed, |f| {
            f.inject(Fault::on("GET /exports").status(500))
        }),
        c("502 twice while polling", Expect::Completed, |f| {
            f.inject(Fault::on("GET /exports").times(2).status(502))
        }),
        c("503 x3 while polling", Expect::Completed, |f| {
            f.inject(Fault::on("GET /exports").times(3).status(503))
        }),
        c("504 while polling (HTML body)", Expect::Completed, |f| {
            f.inject(Fault::on("GET /exports").status(504).html_body())
        }),
        c("429 + Retry-After while polling", Expect::Completed, |f| {
            f.inject(
                Fault::on("GET /exports")
                    .status(429)
                    .header("retry-after", "3"),
            )
        }),
        Case {
            fault: "rate-limit window used up (limit 3/min)",
            expect: Expect::Completed,
            builder: |b| b.rate_limit(3),
            arm: nothing,
            token: TokenKind::Account,
        },
        c("HTML 403 on status", Expect::Error("Api(403)"), |f| {
            f.inject(Fault::on("GET /exports").times(50).status(403).html_body())
        }),
        c("empty 401 on status", Expect::Error("Api(401)"), |f| {
            f.inject(Fault::on("GET /exports").times(50).status(401).empty_body())
        }),
        c("unknown status value \"expired\"", Expect::Completed, |f| {
            f.inject(Fault::export_status("expired"))
        }),
        c("malformed status JSON", Expect::Completed, |f| {
            f.inject(Fault::on("GET /exports").malformed_json())
        }),
        c("status answer delayed 150 ms", Expect::Completed, |f| {
            f.inject(Fault::on("GET /exports").delay(Duration::from_millis(150)))
        }),
        c("connection reset mid-download", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::DropAfter(20_000)))
        }),
        c("truncated body", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::TruncateAfter(30_000)))
        }),
        c("truncated body x3", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::TruncateAfter(10_000)).times(3))
        }),
        c(
            "truncated body x10 (more than max_resumes)",
            Expect::Error("Download(Interrupted)"),
            |f| f.inject(Fault::storage(StorageFault::TruncateAfter(1_000)).times(10)),
        ),
        c(
            "Content-Length larger than the body",
            Expect::Completed,
            |f| f.inject(Fault::storage(StorageFault::WrongContentLength(5_000))),
        ),
        c(
            "Content-Length smaller than the body",
            Expect::Error("Download(SizeMismatch)"),
            |f| f.inject(Fault::storage(StorageFault::WrongContentLength(-5_000))),
        ),
        c("stalled body", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::Stall { after: 25_000 }))
        }),
        c("expired download URL (403)", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::Expired))
        }),
        c("download_url redirects", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::Redirect))
        }),
        c("storage ignores Range on resume", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::TruncateAfter(15_000)));
            f.inject(Fault::storage(StorageFault::IgnoreRange));
        }),
        c("storage 500 once", Expect::Completed, |f| {
            f.inject(Fault::storage(StorageFault::Status {
                status: 500,
                body: mangrove::testing::FaultBody::Html,
            }))
        }),
        c("storage 404", Expect::Error("Download(Status 404)"), |f| {
            f.inject(
                Fault::storage(StorageFault::Status {
                    status: 404,
                    body: mangrove::testing::FaultBody::Xml("NoSuchKey".into()),
                })
                .times(20),
            )
        }),
        c(
            "storage redirects in a loop",
            Expect::Error("Download(Interrupted)"),
            |f| f.inject(Fault::storage(StorageFault::Redirect).times(200)),
        ),
        c(
            "storage 404 body echoes a signed URL",
            Expect::Error("Download(Status 404)"),
            |f| {
                let url = f
                    .storage()
                    .presign("exports/echo.csv", Duration::from_secs(60));
                f.inject(
                    Fault::storage(StorageFault::Status {
                        status: 404,
                        body: mangrove::testing::FaultBody::Xml(format!(
                            "<Error><Code>NoSuchKey</Code><Message>No such key: {url}</Message></Error>"
                        )),
                    })
                    .times(2),
                )
            },
        ),
        c(
            "storage 503 x10 with HTML",
            Expect::Error("Download(Interrupted)"),
            |f| {
                f.inject(
                    Fault::storage(StorageFault::Status {
                        status: 503,
                        body: mangrove::testing::FaultBody::Html,
                    })
                    .times(10),
                )
            },
        ),
        c(
            "fresh download URL refused too (403 x2)",
            Expect::Error("Download(Status 403)"),
            |f| f.inject(Fault::storage(StorageFault::Expired).times(2)),
        ),
        c(
            "giant file_size_bytes (2^62)",
            Expect::Error("Download(SizeMismatch)"),
            |f| f.inject(Fault::file_size(1 << 62)),
        ),
        c(
            "file_size_bytes smaller than the file",
            Expect::Error("Download(SizeMismatch)"),
            |f| f.inject(Fault::file_size(10)),
        ),
        c("status_url on a foreign origin", Expect::Completed, |f| {
            f.inject(Fault::foreign_status_url("http://127.0.0.2:9"))
        }),
        c(
            "404 after the 7-day cleanup",
            Expect::Error("Expired"),
            |f| f.advance(Duration::from_secs(8 * 24 * 3600)),
        ),
        Case {
            fault: "export fails on the server",
            expect: Expect::Error("Failed"),
            builder: |b| {
                b.schedule(Schedule::FailAfterPolls {
                    polls: 2,
                    message: "model run crashed".into(),
                })
            },
            arm: nothing,
            token: TokenKind::Account,
        },
        Case {
            fault: "customer token",
            expect: Expect::Error("Forbidden"),
            builder: none,
            arm: nothing,
            token: TokenKind::Customer,
        },
        Case {
            fault: "partner token",
            expect: Expect::Error("Forbidden"),
            builder: none,
            arm: nothing,
            token: TokenKind::Partner,
        },
        Case {
            fault: "6th concurrent export (server limit 0)",
            expect: Expect::Error("ConcurrencyLimit"),
            builder: |b| b.export_limit(Some(0)),
            arm: nothing,
            token: TokenKind::Account,
        },
        Case {
            fault: "start: export created, then 504 (not repeated)",
            expect: Expect::Error("StartUncertain(504)"),
            builder: |b| b.inject(Fault::start_lost()),
            arm: nothing,
            token: TokenKind::Account,
        },
        Case {
            fault: "start: 503 HTML from a gateway (not repeated)",
            expect: Expect::Error("StartUncertain(503)"),
            builder: |b| b.inject(Fault::on("GET /projects").status(503).html_body()),
            arm: nothing,
            token: TokenKind::Account,
        },
        Case {
            fault: "start: 429 + Retry-After, then started",
            expect: Expect::Completed,
            builder: |b| {
                b.inject(
                    Fault::on("GET /projects")
                        .status(429)
                        .header("retry-after", "2"),
                )
            },
            arm: nothing,
            token: TokenKind::Account,
        },
        c(
            "429 with a Retry-After of 10^11 s while polling",
            Expect::Error("Api(429)"),
            |f| {
                f.inject(
                    Fault::on("GET /exports")
                        .status(429)
                        .header("retry-after", "100000000000"),
                )
            },
        ),
        Case {
            fault: "0-row export",
            expect: Expect::Completed,
            builder: |b| b.rows(Collection::Projects, 0),
            arm: nothing,
            token: TokenKind::Account,
        },
    ]
}

fn outcome(result: &Result<u64, ExportError>) -> String {
    match result {
        Ok(_) => "Completed".into(),
        Err(ExportError::Api(e)) => format!(
            "Api({})",
            e.status()
                .map(|s| s.as_u16().to_string())
                .unwrap_or("-".into())
        ),
        Err(ExportError::DownloadStatus { status, .. }) => {
            format!("Download(Status {})", status.as_u16())
        }
        Err(ExportError::SizeMismatch { .. }) => "Download(SizeMismatch)".into(),
        Err(ExportError::Interrupted { .. }) => "Download(Interrupted)".into(),
        Err(ExportError::Changed { .. }) => "Download(Changed)".into(),
        Err(ExportError::Forbidden { .. }) => "Forbidden".into(),
        Err(ExportError::NotSupported { .. }) => "NotSupported".into(),
        Err(ExportError::Failed { .. }) => "Failed".into(),
        Err(ExportError::TimedOut { .. }) => "TimedOut".into(),
        Err(ExportError::Expired { .. }) => "Expired".into(),
        Err(ExportError::ConcurrencyLimit { .. }) => "ConcurrencyLimit".into(),
        Err(ExportError::StartUncertain { status, .. }) => format!(
            "StartUncertain({})",
            status.map(|s| s.as_u16().to_string()).unwrap_or("-".into())
        ),
        Err(other) => format!("{other:?}"),
    }
}

fn client(fake: &FakeMangrove, kind: TokenKind) -> Client {
    fake.client_builder(kind)
        .poll_policy(PollPolicy::default().time_limit(Duration::from_secs(120)))
        .retry_policy(RetryPolicy::default())
        .download_policy(
            DownloadPolicy::default()
                .read_timeout(Duration::from_secs(5))
                .max_resumes(5)
                .resume_backoff(Duration::from_millis(100)),
        )
        .build()
        .expect("client")
}

async fn run_case(case: &Case, dir: &Path) -> (Result<u64, ExportError>, FakeMangrove) {
    let fake = (case.builder)(FakeMangrove::builder().rows(Collection::Projects, ROWS))
        .start()
        .await;
    let client = client(&fake, case.token);
    let target = dir.join("projects.csv");
    let result = async {
        let (_, export) = client.list_projects().summary_with_export().send().await?;
        (case.arm)(&fake);
        let done = export.await?;
        let file = done.download_to(&target).await?;
        assert_eq!(
            Some(file.bytes),
            done.file_size_bytes(),
            "size checked against file_size_bytes"
        );
        Ok::<u64, ExportError>(file.bytes)
    }
    .await;
    (result, fake)
}

#[tokio::test(start_paused = true)]
async fn fault_matrix() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    let (mut bytes_lost, mut tokens_leaked) = (0u64, 0usize);
    for case in &cases {
        let dir = tempfile::tempdir().unwrap();
        let (result, fake) = run_case(case, dir.path()).await;
        let got = outcome(&result);
        let want = match case.expect {
            Expect::Completed => "Completed".to_string(),
            Expect::Error(e) => e.to_string(),
        };
        // Invariant: a file under the final name only on success, and then byte-exact.
        let target = dir.path().join("projects.csv");
        match &result {
            Ok(bytes) => {
                let mut expected = Vec::new();
                data::render(
                    Collection::Projects,
                    fake.rows(Collection::Projects),
                    mangrove::ExportFormat::Csv,
                    &mut expected,
                )
                .unwrap();
                let written = std::fs::read(&target).unwrap_or_default();
                if written != expected {
                    bytes_lost += expected.len().abs_diff(written.len()).max(1) as u64;
                    failures.push(format!("{}: file differs from the served rows", case.fault));
                }
                assert_eq!(*bytes, written.len() as u64);
            }
            Err(_) => {
                if target.exists() {
                    failures.push(format!(
                        "{}: a file exists under the final name after an error",
                        case.fault
                    ));
                }
            }
        }
        let stray: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "projects.csv")
            .collect();
        if !stray.is_empty() {
            failures.push(format!("{}: stray files {stray:?}", case.fault));
        }
        let journal = fake.journal();
        // Invariant: no error text shows a pre-signed URL's query (its signature).
        if let Err(e) = &result {
            let mut text = format!("{e} {e:?}");
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(&format!(" {s} {s:?}"));
                source = s.source();
            }
            if text.contains("signature=") {
                failures.push(format!(
                    "{}: the error shows a signed URL: {text}",
                    case.fault
                ));
            }
        }
        let leaked = journal.requests_to_storage_with_authorization().len();
        tokens_leaked += leaked;
        if got != want {
            failures.push(format!(
                "{}: expected {want}, got {got} ({:?})",
                case.fault,
                result.as_ref().err()
            ));
        }
        let resumes = journal.downloads().len().saturating_sub(1);
        rows.push((
            case.fault,
            want,
            got,
            journal.polls.values().sum::<u32>(),
            resumes,
        ));
    }

    println!("\n| # | fault | expected | outcome | polls | extra storage GETs |");
    println!("|---|---|---|---|---|---|");
    for (i, (fault, want, got, polls, resumes)) in rows.iter().enumerate() {
        let mark = if want == got { "" } else { " ✗" };
        println!(
            "| {} | {fault} | {want} | {got}{mark} | {polls} | {resumes} |",
            i + 1
        );
    }
    let completed = rows.iter().filter(|r| r.2 == "Completed").count();
    println!(
        "\nfaults tried: {}, completed: {completed}, typed errors: {}, bytes lost: {bytes_lost}, tokens leaked: {tokens_leaked}",
        rows.len(),
        rows.len() - completed
    );
    assert_eq!(tokens_leaked, 0, "the token reached the storage origin");
    assert_eq!(bytes_lost, 0);
    assert!(failures.is_empty(), "{failures:#?}");
}
