//! `cargo run --example doctor`: does this SDK agree with your Mangrove account?
//!
//! A read-only tour to run once with a real token. It checks that the base URL answers, which
//! `Authorization` style the server accepts (`Bearer <token>` or the bare token) and whether the
//! rate-limit headers are there; then it calls every `GET` operation of `openapi.yaml`: each list
//! on page 1 (a small page) and in `summary` mode, and each single-object `GET` with the first id
//! its list returned (nested endpoints use the first project's, batch's, ledger's or model's id).
//! For every answer it says whether the SDK's type decodes it (and where not, by JSON path) and
//! how the raw JSON drifts from the spec: fields the spec does not know, `null` where the spec
//! does not allow it, type mismatches, enum values outside the documented set, required fields
//! missing. It compares with the spec itself, embedded as JSON by `build.rs`, not with the
//! SDK's tolerant types.
//!
//! It only sends `GET`s and never `response_mode=summary_with_export`: it starts no export and
//! changes nothing.
//!
//! ```text
//! MANGROVE_API_TOKEN=... cargo run --example doctor -- [--json FILE|-] [--page-size N]
//! ```
//!
//! In the SDK's repository the `testing` feature (the embedded fake) is on for examples; from the
//! crate's source package (e.g. `~/.cargo/registry/src/*/mangrove-*/`) add `--features testing`.
//!
//! `--json FILE` also writes the findings as JSON (`-`: to stdout, and the table to stderr), to
//! attach to a bug report or to correct `openapi.yaml` with. The report holds operation ids, path
//! templates, statuses, JSON paths, drift kinds and JSON types only: never the token, the base
//! URL, a query string, an id or any other value of your data.
//!
//! Without `MANGROVE_API_TOKEN` it tours the embedded fake server, which must show no drift.
//!
//! Exit status: 0 no drift and every body decoded; 1 drift or a body the SDK cannot decode;
//! 2 bad arguments, base URL unreachable, or the token refused in both styles.

mod drift;
mod report;
mod spec;
mod tour;

use std::process::ExitCode;

use mangrove::client::{BASE_URL_ENV, DEFAULT_BASE_URL, TOKEN_ENV};
use mangrove::testing::{FakeMangrove, TokenKind};
use mangrove::ClientBuilder;

const USAGE: &str = "usage: cargo run --example doctor -- [--json FILE|-] [--page-size N]
  --json FILE     also write the report as JSON to FILE (`-`: stdout)
  --page-size N   items per list page, 1..=100 (default 5)
With MANGROVE_API_TOKEN (and MANGROVE_BASE_URL) set it tours your account; without, the
embedded fake server.";

const DEFAULT_PAGE_SIZE: u32 = 5;

struct Args {
    json: Option<String>,
    page_size: u32,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        json: None,
        page_size: DEFAULT_PAGE_SIZE,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => parsed.json = Some(args.next().ok_or("--json needs a file name or -")?),
            "--page-size" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n @ 1..=100) => parsed.page_size = n,
                _ => return Err("--page-size needs a number from 1 to 100".into()),
            },
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let spec = match spec::Spec::embedded() {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Keep the fake (if any) alive until the end.
    let (builder, target, _fake) = match connect().await {
        Ok(connected) => connected,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match tour::run(&spec, builder, target, args.page_size).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let table = report.render();
    match args.json.as_deref() {
        Some("-") => {
            eprint!("{table}");
            match serde_json::to_string_pretty(&report) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("error: cannot write the report: {e}"),
            }
        }
        Some(file) => {
            print!("{table}");
            let written = serde_json::to_vec_pretty(&report)
                .map_err(|e| e.to_string())
                .and_then(|json| std::fs::write(file, json).map_err(|e| e.to_string()));
            match written {
                Ok(()) => println!("report written to {file}"),
                Err(e) => {
                    eprintln!("error: cannot write {file}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => print!("{table}"),
    }
    exit_code(&report)
}

fn exit_code(report: &report::Report) -> ExitCode {
    if !report.checks.reachable || report.checks.auth_scheme.is_none() {
        ExitCode::from(2)
    } else if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A client builder for your account when `MANGROVE_API_TOKEN` is set, else for a fresh
/// embedded fake (returned, to keep it alive); and the report's `target`.
async fn connect() -> Result<(ClientBuilder, &'static str, Option<FakeMangrove>), String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if set(TOKEN_ENV).is_some() {
        let target = match set(BASE_URL_ENV) {
            Some(url) if url.trim_end_matches('/') != DEFAULT_BASE_URL => "custom",
            _ => "default",
        };
        let builder = mangrove::Client::builder().from_env();
        return Ok((builder, target, None));
    }
    let fake = FakeMangrove::builder()
        .try_start()
        .await
        .map_err(|e| format!("cannot start the embedded fake: {e}"))?;
    eprintln!(
        "{TOKEN_ENV} is not set: touring the embedded fake server at {}",
        fake.base_url()
    );
    Ok((
        fake.client_builder(TokenKind::Account),
        "embedded_fake",
        Some(fake),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use drift::Kind;
    use mangrove::testing::Fault;
    use report::Outcome;
    use serde_json::json;

    async fn tour(fake: &FakeMangrove) -> report::Report {
        let spec = spec::Spec::embedded().unwrap();
        tour::run(
            &spec,
            fake.client_builder(TokenKind::Account),
            "embedded_fake",
            5,
        )
        .await
        .unwrap()
    }

    /// `(operation, mode, path, kind, found)` of every drift of a report.
    fn drifts(report: &report::Report) -> Vec<(String, String, String, Kind, String)> {
        let mut all: Vec<_> = report
            .calls
            .iter()
            .flat_map(|c| {
                c.drift.iter().map(|g| {
                    (
                        c.operation.clone(),
                        c.mode.clone(),
                        g.first_path.clone(),
                        g.kind,
                        g.found.clone(),
                    )
                })
            })
            .collect();
        all.sort();
        all
    }

    #[tokio::test]
    async fn the_fake_agrees_with_the_spec() {
        let fake = FakeMangrove::start().await;
        let report = tour(&fake).await;
        let c = &report.checks;
        assert!(c.reachable);
        assert_eq!(c.bearer_status, Some(200));
        assert_eq!(c.bare_status, Some(200));
        assert_eq!(c.auth_scheme.as_deref(), Some("bearer"));
        assert!(c.sdk_rate_limit_headers_present);
        assert_eq!(drifts(&report), vec![], "{}", report.render());
        assert_eq!(report.summary.decode_failures, 0, "{}", report.render());
        let s = &report.summary;
        assert_eq!((s.http_errors, s.failed), (0, 0), "{}", report.render());
        // 15 lists twice, every other GET once, only get_export skipped.
        assert_eq!(s.skipped, 1, "{}", report.render());
        assert!(s.calls >= 40, "{}", report.render());
        assert_eq!(s.decoded, s.calls);
        // Read-only: GETs only, never an export.
        let journal = fake.journal();
        assert!(journal.requests.iter().all(|r| r.method == "GET"));
        assert!(journal.requests.iter().all(|r| !r
            .query
            .as_deref()
            .unwrap_or("")
            .contains("summary_with_export")));
        assert!(journal.polls.is_empty());
    }

    #[tokio::test]
    async fn drifted_bodies_are_reported_by_path_and_nothing_else() {
        let fake = FakeMangrove::start().await;
        // The first matching answer of each operation (page mode for lists) drifts.
        fake.inject(
            Fault::on("list_batches")
                .set_json("data[0].surprise", json!({"a": 1}))
                .set_json("data[2].feedstocks", json!(null)),
        );
        fake.inject(Fault::on("list_orders").set_json("data[1].id", json!("17")));
        fake.inject(Fault::on("get_report").set_json("status", json!("archived")));
        fake.inject(Fault::on("list_events").set_json("data[0].data_points[0].extra", json!(true)));
        let report = tour(&fake).await;
        let s = |x: &str| x.to_string();
        assert_eq!(
            drifts(&report),
            vec![
                (
                    s("get_report"),
                    s("item"),
                    s("status"),
                    Kind::EnumOutsideSet,
                    s("string")
                ),
                (
                    s("list_batches"),
                    s("page"),
                    s("data[0].surprise"),
                    Kind::UnknownField,
                    s("object")
                ),
                (
                    s("list_batches"),
                    s("page"),
                    s("data[2].feedstocks"),
                    Kind::NullNotAllowed,
                    s("null")
                ),
                (
                    s("list_events"),
                    s("page"),
                    s("data[0].data_points[0].extra"),
                    Kind::UnknownField,
                    s("boolean")
                ),
                (
                    s("list_orders"),
                    s("page"),
                    s("data[1].id"),
                    Kind::TypeMismatch,
                    s("string")
                ),
            ],
            "{}",
            report.render()
        );
        assert!(!report.is_clean());
        // A body the SDK cannot decode names a path where the doctor found drift.
        let orders = report
            .calls
            .iter()
            .find(|c| c.operation == "list_orders" && c.mode == "page")
            .unwrap();
        assert_eq!(orders.decoded, Some(false));
        assert_eq!(orders.decode_error.as_ref().unwrap().path, "data[1].id");
        for call in &report.calls {
            if let Some(e) = &call.decode_error {
                assert!(
                    call.drift.iter().any(|g| g.first_path == e.path),
                    "{} {}: decode error at {} without drift there",
                    call.operation,
                    call.mode,
                    e.path
                );
            }
        }
        // The report holds no values: not the string id, not the enum value, no token.
        let json = serde_json::to_string(&report).unwrap();
        for value in [
            "17",
            "archived",
            TokenKind::Account.token(),
            fake.base_url(),
        ] {
            assert!(!json.contains(value), "report holds {value:?}");
        }
        assert_eq!(exit_code(&report), ExitCode::from(1));
    }

    #[tokio::test]
    async fn a_refused_token_and_an_unreachable_url_stop_the_tour() {
        let fake = FakeMangrove::start().await;
        let spec = spec::Spec::embedded().unwrap();
        let builder = fake.client_builder(TokenKind::Account).token("not-a-token");
        let report = tour::run(&spec, builder, "custom", 5).await.unwrap();
        assert_eq!(report.checks.bearer_status, Some(401));
        assert_eq!(report.checks.bare_status, Some(401));
        assert_eq!(report.checks.auth_scheme, None);
        assert!(report.calls.is_empty());
        assert_eq!(exit_code(&report), ExitCode::from(2));

        // A closed port on loopback.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let builder = mangrove::Client::builder()
            .token("t")
            .base_url(format!("http://127.0.0.1:{port}/api/v1"));
        let report = tour::run(&spec, builder, "custom", 5).await.unwrap();
        assert!(!report.checks.reachable);
        assert_eq!(
            report.checks.unreachable_reason.as_deref(),
            Some("cannot connect")
        );
        assert_eq!(exit_code(&report), ExitCode::from(2));
    }

    #[tokio::test]
    async fn only_the_bare_token_accepted_is_found() {
        let fake = FakeMangrove::start().await;
        // The fake accepts both styles; a fault refuses the first request (the Bearer probe).
        fake.inject(Fault::on("list_projects").status(401));
        let report = tour(&fake).await;
        assert_eq!(report.checks.bearer_status, Some(401));
        assert_eq!(report.checks.bare_status, Some(200));
        assert_eq!(report.checks.auth_scheme.as_deref(), Some("bare"));
        assert_eq!(drifts(&report), vec![], "{}", report.render());
        let authorization: Vec<String> = fake
            .journal()
            .requests
            .iter()
            .skip(2)
            .filter_map(|r| {
                r.headers
                    .iter()
                    .find(|(n, _)| n == "authorization")
                    .map(|(_, v)| v.clone())
            })
            .collect();
        assert!(!authorization.is_empty());
        assert!(authorization
            .iter()
            .all(|v| v == TokenKind::Account.token()));
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        let parsed = args(&["--json", "r.json", "--page-size", "7"]).unwrap();
        assert_eq!(parsed.json.as_deref(), Some("r.json"));
        assert_eq!(parsed.page_size, 7);
        assert!(args(&["--page-size", "0"]).is_err());
        assert!(args(&["--json"]).is_err());
        assert!(args(&["x"]).is_err());
        assert_eq!(args(&["--help"]).err().as_deref(), Some(""));
    }

    #[test]
    fn outcome_counts() {
        let mut r = report::Report::default();
        r.calls.push(report::Call {
            operation: "x".into(),
            path: "/x".into(),
            mode: "item".into(),
            outcome: Outcome::Skipped,
            status: None,
            decoded: None,
            decode_error: None,
            drift: vec![],
            note: None,
        });
        r.finish();
        assert_eq!((r.summary.calls, r.summary.skipped), (0, 1));
        assert!(r.is_clean());
    }
}
