//! The token stays secret: never in Debug/Display output, never in tracing fields, never sent to
//! any origin but the API; http:// only for loopback unless explicitly allowed.

use mangrove::prelude::*;

use mangrove::testing::{FakeMangrove, Fault, Schedule, TokenKind};
use mangrove::{Client, ExportError};

#[path = "common/fake.rs"]
mod fake;
use fake::{fake_with, start_projects};

#[path = "common/capture.rs"]
mod capture;
use capture::Captured;

// Debug of the client, its builder and its handles never shows the token.
#[test]
fn debug_output_never_shows_the_token() {
    let secret = "sk_live_DO_NOT_LEAK_42";
    let builder = Client::builder().token(secret);
    let client = builder.clone().build().unwrap();
    let export = mangrove::Export::attach(&client, "exp_1");
    for text in [
        format!("{builder:?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{export:?}"),
    ] {
        assert!(!text.contains(secret), "leaked in: {text}");
        assert!(!text.contains("DO_NOT_LEAK"), "partially leaked in: {text}");
    }
    assert!(format!("{builder:?}").contains("redacted"));
}

// Every tracing field and message of a whole export run (with retries and errors) at TRACE level
// is free of the token; so is every error's Display and Debug.
#[tokio::test(start_paused = true)]
async fn tracing_and_errors_never_show_the_token() {
    let buffer = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(buffer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = fake_with(Schedule::AfterPolls(3)).await;
    let token = fake.token(TokenKind::Account);
    let client = fake.client(TokenKind::Account);
    fake.inject(Fault::on("GET /exports").times(2).status(503));
    let export = start_projects(&client).await;
    let done = export.await.unwrap();
    fake.inject(Fault::on("get_project").status(401).html_body());
    let err = client.get_project().project_id(1).send().await.unwrap_err();
    let err = mangrove::Error::from(err);
    let forbidden: ExportError = fake
        .client(TokenKind::Customer)
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap_err();

    let logs = buffer.text();
    assert!(
        logs.contains("mangrove.request"),
        "the capture works: {logs}"
    );
    assert!(
        logs.contains("mangrove.export"),
        "export spans are recorded"
    );
    for text in [
        logs,
        format!("{err} {err:?}"),
        format!("{forbidden} {forbidden:?}"),
        format!("{done:?}"),
    ] {
        assert!(!text.contains(token), "token leaked");
        assert!(
            !text.contains(fake.token(TokenKind::Customer)),
            "customer token leaked"
        );
    }
    // The pre-signed download URL's signature is a credential too: Debug hides it.
    assert!(!format!("{done:?}").contains("signature="));
}

// The API token never reaches the storage origin: its journal shows no Authorization header.
#[tokio::test]
async fn token_never_reaches_the_storage_origin() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    let done = export
        .with_policy(
            mangrove::PollPolicy::default().initial_delay(std::time::Duration::from_millis(1)),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    done.download_to(dir.path().join("p.csv")).await.unwrap();
    let journal = fake.journal();
    assert!(
        !journal.downloads().is_empty(),
        "the file was fetched from storage"
    );
    assert!(journal.requests_to_storage_with_authorization().is_empty());
    // ... while every API request carried it.
    assert!(journal.requests.iter().all(|r| r.authorization().is_some()));
}

// http:// is refused for non-loopback hosts unless explicitly allowed.
#[test]
fn plain_http_only_for_loopback_or_opt_in() {
    let build = |url: &str| Client::builder().token("t").base_url(url).build();
    for refused in [
        "http://api.example.com/api/v1",
        "http://10.0.0.5",
        "http://localhost.example.com",
    ] {
        let err = build(refused).unwrap_err();
        assert!(matches!(err, mangrove::Error::Config(_)), "{refused}");
        assert!(
            err.to_string().contains("allow_insecure_http"),
            "says what to do: {err}"
        );
    }
    for accepted in [
        "http://127.0.0.1:8080/api/v1",
        "http://localhost:3000",
        "http://[::1]:9",
        "https://example.com",
    ] {
        assert!(build(accepted).is_ok(), "{accepted}");
    }
    let opted_in = Client::builder()
        .token("t")
        .base_url("http://api.example.com")
        .allow_insecure_http(true)
        .build();
    assert!(opted_in.is_ok());
    assert!(build("ftp://example.com").is_err());
    assert!(build("not a url").is_err());
}

// A token that cannot be an HTTP header value is a configuration error that does not echo it.
#[test]
fn invalid_token_error_does_not_echo_it() {
    let err = Client::builder()
        .token("bad\ntoken-xyz")
        .build()
        .unwrap_err();
    assert!(!err.to_string().contains("token-xyz"));
}

/// The generated status type and its builder print a `download_url` without its signature, so
/// `{:?}` of `client.get_export().send()`'s answer cannot leak it to a log.
#[test]
fn generated_export_types_redact_the_download_url_in_debug() {
    let raw: mangrove::types::ExportJob = serde_json::from_value(serde_json::json!({
        "id": "exp_1",
        "status": "completed",
        "download_url": "https://storage.example/f.csv?X-Amz-Signature=sekret&X-Amz-Expires=86400",
    }))
    .unwrap();
    let shown = format!("{raw:?} {:?}", mangrove::ExportSnapshot::from(raw.clone()));
    assert!(!shown.contains("sekret"), "{shown}");
    assert!(
        shown.contains("https://storage.example/f.csv?<redacted>"),
        "{shown}"
    );
    let builder = mangrove::types::ExportJob::builder()
        .id("exp_1")
        .download_url(Some(raw.download_url.clone().unwrap()));
    let shown = format!("{builder:?}");
    assert!(!shown.contains("sekret"), "{shown}");
    assert_eq!(
        raw.download_url.as_deref(),
        Some("https://storage.example/f.csv?X-Amz-Signature=sekret&X-Amz-Expires=86400"),
        "the field itself keeps the URL"
    );
    // User info is a credential too; a URL without a query is shown as it is.
    for (url, shown) in [
        (
            "https://u:pw0rd@storage.example/f.csv#sekret",
            "https://storage.example/f.csv?<redacted>",
        ),
        (
            "https://storage.example/f.csv",
            "https://storage.example/f.csv",
        ),
    ] {
        let raw: mangrove::types::ExportJob = serde_json::from_value(serde_json::json!({
            "id": "exp_1",
            "status": "completed",
            "download_url": url,
        }))
        .unwrap();
        let debug = format!("{raw:?}");
        assert!(debug.contains(&format!("{shown:?}")), "{debug}");
        assert!(
            !debug.contains("pw0rd") && !debug.contains("sekret"),
            "{debug}"
        );
    }
}
