//! Error surfacing: every documented error status with a JSON, an HTML and an empty body keeps its
//! status and a useful message; retries on 503; and client configuration (token never in `Debug`,
//! http:// refused off loopback, `Client::from_env`).

mod common;

use std::time::Duration;

use common::{api, base_url, client, user_agent, TOKEN};
use mangrove::client::DEFAULT_BASE_URL;
use mangrove::prelude::*;
use mangrove::{types, AuthScheme, Client, Error, RetryPolicy};
use reqwest::StatusCode;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the failing response carries.
#[derive(Clone, Copy, Debug)]
enum Body {
    /// The documented `{"message": ...}` (plus an undocumented extra key).
    Json,
    /// An HTML page, as a proxy or load balancer would send.
    Html,
    /// Nothing.
    Empty,
}

/// The documented message used for `status` in the JSON case.
fn documented_message(status: u16) -> String {
    match status {
        404 => "Record not found.".to_string(),
        403 => "403 Rules engine feature is not enabled".to_string(),
        other => format!("documented message for {other}"),
    }
}

fn respond(status: u16, body: Body) -> ResponseTemplate {
    let template = ResponseTemplate::new(status);
    match body {
        Body::Json => {
            template.set_body_json(json!({"message": documented_message(status), "details": ["x"]}))
        }
        Body::Html => template.set_body_raw(
            format!("<html><body><h1>{status} from the edge proxy</h1></body></html>"),
            "text/html",
        ),
        Body::Empty => template,
    }
}

/// Sends a GET and a POST that both fail with `status`/`body`, and checks both errors.
async fn check(status: u16, body: Body) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(respond(status, body))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(api("/projects/1/rule_results/bulk_dismiss")))
        .respond_with(respond(status, body))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server); // RetryPolicy::none(): 429 and 5xx reach us on the first answer.

    let get = client
        .get_project()
        .project_id(1)
        .send()
        .await
        .map(|_| ())
        .expect_err("GET must fail");
    let dismiss = types::BulkDismissRequest::builder()
        .result_ids(vec!["dpres_1".to_string()])
        .reason("r".to_string());
    let post = client
        .bulk_dismiss_rule_results()
        .project_id(1)
        .body(dismiss)
        .send()
        .await
        .map(|_| ())
        .expect_err("POST must fail");
    for err in [get, post] {
        assert_error(err, status, body);
    }
    server.verify().await;
}

fn assert_error(err: progenitor_client::Error<types::ApiError>, status: u16, body: Body) {
    let expected = StatusCode::from_u16(status).unwrap();
    assert_eq!(
        err.status(),
        Some(expected),
        "progenitor error lost the status: {err:?}"
    );
    let message = match &err {
        progenitor_client::Error::ErrorResponse(rv) => {
            assert_eq!(rv.status(), expected);
            rv.message.clone()
        }
        other => panic!("expected ErrorResponse for {status} {body:?}, got {other:?}"),
    };
    match body {
        Body::Json => assert_eq!(
            message,
            documented_message(status),
            "the server's message is kept verbatim"
        ),
        Body::Html => {
            assert!(message.starts_with(&status.to_string()), "{message}");
            assert!(message.contains("non-JSON body"), "{message}");
            assert!(
                message.contains("from the edge proxy"),
                "the body's start is kept: {message}"
            );
        }
        Body::Empty => {
            assert!(message.starts_with(&status.to_string()), "{message}");
            assert!(message.contains("empty body"), "{message}");
        }
    }
    let err = Error::from(err);
    assert_eq!(err.status(), Some(expected));
    assert_eq!(err.message(), Some(message.as_str()));
    let shown = err.to_string();
    assert!(
        shown.contains(&status.to_string()) && shown.contains(&message),
        "{shown}"
    );
}

macro_rules! error_cases {
    ($($(#[$doc:meta])* $name:ident: $status:literal, $body:ident;)+) => {$(
        $(#[$doc])*
        #[tokio::test]
        async fn $name() {
            check($status, Body::$body).await;
        }
    )+};
}

error_cases! {
    // Proves: 401 with the documented JSON body keeps status 401 and the message.
    e401_json: 401, Json;
    // Proves: 401 with an HTML body keeps status 401 and says so in the message.
    e401_html: 401, Html;
    // Proves: 401 with an empty body keeps status 401.
    e401_empty: 401, Empty;
    // Proves: 403 with the documented JSON body keeps status 403 and the message.
    e403_json: 403, Json;
    // Proves: 403 with an HTML body keeps status 403.
    e403_html: 403, Html;
    // Proves: 403 with an empty body keeps status 403.
    e403_empty: 403, Empty;
    // Proves: 404 `{"message": "Record not found."}` keeps status 404 and the message.
    e404_json: 404, Json;
    // Proves: 404 with an HTML body keeps status 404.
    e404_html: 404, Html;
    // Proves: 404 with an empty body keeps status 404.
    e404_empty: 404, Empty;
    // Proves: 422 with the documented JSON body keeps status 422 and the message.
    e422_json: 422, Json;
    // Proves: 422 with an HTML body keeps status 422.
    e422_html: 422, Html;
    // Proves: 422 with an empty body keeps status 422.
    e422_empty: 422, Empty;
    // Proves: 429 with the documented JSON body keeps status 429 (not retried with RetryPolicy::none()).
    e429_json: 429, Json;
    // Proves: 429 with an HTML body keeps status 429.
    e429_html: 429, Html;
    // Proves: 429 with an empty body keeps status 429.
    e429_empty: 429, Empty;
    // Proves: 500 with the documented JSON body keeps status 500 and the message.
    e500_json: 500, Json;
    // Proves: 500 with an HTML body keeps status 500.
    e500_html: 500, Html;
    // Proves: 500 with an empty body keeps status 500.
    e500_empty: 500, Empty;
}

// Proves: a JSON error body without a string `message` is rewritten too (status and body text kept).
#[tokio::test]
async fn json_error_without_message_is_rewritten() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/orders/7")))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"error": "gone", "message": 5}))
                .insert_header("x-request-id", "req_42"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_order()
        .order_id(7)
        .send()
        .await
        .expect_err("404");
    let progenitor_client::Error::ErrorResponse(rv) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(rv.status(), StatusCode::NOT_FOUND);
    assert!(
        rv.message.starts_with("404 Not Found (non-JSON body: "),
        "{}",
        rv.message
    );
    assert!(rv.message.contains("\"error\":\"gone\""), "{}", rv.message);
    assert_eq!(
        rv.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap()),
        Some("req_42"),
        "headers are kept"
    );
    server.verify().await;
}

// Proves: by default a 503 on a GET is retried (then succeeds), while a 503 on a POST is not retried.
#[tokio::test]
async fn default_policy_retries_get_503_but_not_post_503() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 1, "name": "after retry"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(api("/models/mdl_1/simulate")))
        .respond_with(
            ResponseTemplate::new(503).set_body_json(json!({"message": "Service Unavailable"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    // Default retry policy (no `.retry_policy(..)`).
    let client = Client::builder()
        .token(TOKEN)
        .base_url(base_url(&server))
        .build()
        .unwrap();

    let project = client
        .get_project()
        .project_id(1)
        .send()
        .await
        .expect("retried GET succeeds");
    assert_eq!(project.name.as_deref(), Some("after retry"));

    let err = common::simulate(&client)
        .await
        .expect_err("POST 503 is not retried");
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    let requests = server.received_requests().await.unwrap();
    let posts = requests
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    let gets = requests
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .count();
    assert_eq!((gets, posts), (2, 1));
    server.verify().await;
}

// Proves: with RetryPolicy::none() even an idempotent GET 503 is sent exactly once.
#[tokio::test]
async fn retry_policy_none_does_not_retry_get_503() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .get_project()
        .project_id(1)
        .send()
        .await
        .expect_err("503");
    assert_eq!(
        Error::from(err).status(),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    server.verify().await;
}

// Proves: neither `Debug` of a `Client` nor of a `ClientBuilder` (either auth scheme) shows the token.
#[test]
fn debug_never_contains_the_token() {
    for scheme in [AuthScheme::Bearer, AuthScheme::Bare] {
        let builder = Client::builder()
            .token(TOKEN)
            .auth_scheme(scheme)
            .base_url("https://app.gomangrove.com/api/v1");
        for shown in [format!("{builder:?}"), format!("{builder:#?}")] {
            assert!(shown.contains("ClientBuilder"), "{shown}");
            assert!(
                !shown.contains(TOKEN) && !shown.contains("S3cret"),
                "token leaked: {shown}"
            );
        }
        let client = builder.build().unwrap();
        for shown in [format!("{client:?}"), format!("{client:#?}")] {
            assert!(shown.contains("app.gomangrove.com"), "{shown}");
            assert!(
                !shown.contains(TOKEN) && !shown.contains("S3cret"),
                "token leaked: {shown}"
            );
        }
    }
}

// Proves: a blank token is refused at build, and surrounding whitespace is not part of a token.
#[tokio::test]
async fn blank_tokens_are_refused_and_tokens_are_trimmed() {
    for blank in ["", " ", "\t\n  "] {
        let err = Client::builder().token(blank).build().unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("no API token")),
            "{blank:?}: {err:?}"
        );
    }
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .token(format!(" {TOKEN}\n"))
        .base_url(base_url(&server))
        .build()
        .unwrap();
    client.get_project().project_id(1).send().await.unwrap();
}

// Proves: an answer larger than its cap (1 MiB for an export status) fails without being decoded.
#[tokio::test]
async fn an_answer_past_its_cap_is_not_read() {
    let server = MockServer::start().await;
    let pad = "p".repeat(1024 * 1024);
    Mock::given(method("GET"))
        .and(path(api("/exports/exp_1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "exp_1", "pad": pad})))
        .mount(&server)
        .await;
    let err = client(&server)
        .get_export()
        .export_id("exp_1")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("larger than 1048576 bytes"),
        "{err}"
    );
    assert!(!Error::from(err).is_decode());
}

// Proves: an http:// base URL is refused off loopback (Error::Config) and accepted on loopback or when opted in.
#[test]
fn insecure_base_urls() {
    // Every refusal must be `Error::Config`; the message is returned for inspection.
    let build = |url: &str| {
        Client::builder()
            .token(TOKEN)
            .base_url(url)
            .build()
            .map_err(|e| match e {
                Error::Config(msg) => msg,
                other => panic!("{url}: expected Error::Config, got {other:?}"),
            })
    };
    let msg = build("http://example.com").expect_err("http://example.com must be refused");
    assert!(msg.contains("http://"), "{msg}");
    assert!(build("http://example.com/api/v1").is_err());
    assert!(build("ftp://127.0.0.1/").is_err());
    assert!(build("not a url").is_err());
    for ok in [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:9/api/v1",
        "http://localhost:3000",
        "http://[::1]:1",
        "https://example.com",
    ] {
        let client = build(ok).unwrap_or_else(|e| panic!("{ok} must be accepted: {e}"));
        assert_eq!(client.base_url(), ok);
    }
    let opted_in = Client::builder()
        .token(TOKEN)
        .base_url("http://example.com")
        .allow_insecure_http(true)
        .build();
    assert!(opted_in.is_ok());
    assert!(
        matches!(Client::builder().build(), Err(Error::Config(_))),
        "a token is required"
    );
}

// Proves: Client::from_env reads MANGROVE_API_TOKEN and MANGROVE_BASE_URL (the only test touching the environment).
#[tokio::test]
async fn from_env_reads_token_and_base_url() {
    const TOKEN_VAR: &str = "MANGROVE_API_TOKEN";
    const URL_VAR: &str = "MANGROVE_BASE_URL";
    let saved = (std::env::var_os(TOKEN_VAR), std::env::var_os(URL_VAR));

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/exports/exp_env")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("user-agent", user_agent().as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "exp_env"})))
        .expect(1)
        .mount(&server)
        .await;

    std::env::set_var(TOKEN_VAR, format!("  {TOKEN}\n"));
    std::env::set_var(URL_VAR, base_url(&server));
    let client = Client::from_env().expect("token and URL from the environment");
    assert_eq!(client.base_url(), base_url(&server));
    let export = client
        .get_export()
        .export_id("exp_env")
        .send()
        .await
        .expect("request with the env token");
    assert_eq!(export.id, "exp_env");

    std::env::remove_var(URL_VAR);
    assert_eq!(Client::from_env().unwrap().base_url(), DEFAULT_BASE_URL);

    std::env::set_var(URL_VAR, "http://example.com");
    assert!(
        matches!(Client::from_env(), Err(Error::Config(_))),
        "insecure URL from env is refused too"
    );

    std::env::remove_var(URL_VAR);
    std::env::remove_var(TOKEN_VAR);
    assert!(
        matches!(Client::from_env(), Err(Error::Config(_))),
        "no token"
    );
    std::env::set_var(TOKEN_VAR, "   ");
    assert!(
        matches!(Client::from_env(), Err(Error::Config(_))),
        "a blank token is no token"
    );

    for (var, value) in [(TOKEN_VAR, saved.0), (URL_VAR, saved.1)] {
        match value {
            Some(v) => std::env::set_var(var, v),
            None => std::env::remove_var(var),
        }
    }
    server.verify().await;
}

// Proves: a request that cannot connect surfaces as an error without a status (nothing listens on the port).
#[tokio::test]
async fn connection_refused_has_no_status() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = Client::builder()
        .token(TOKEN)
        .base_url(format!("http://127.0.0.1:{port}/api/v1"))
        .retry_policy(RetryPolicy::none())
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = client
        .get_project()
        .project_id(1)
        .send()
        .await
        .expect_err("nothing listens");
    assert!(
        matches!(err, progenitor_client::Error::CommunicationError(_)),
        "{err:?}"
    );
    let err = Error::from(err);
    assert_eq!(err.status(), None);
    assert!(
        err.to_string().contains("could not reach Mangrove"),
        "{err}"
    );
}

/// One `?` target for everything a user calls on the way to an export: a generated call, a
/// `.summary()` and a `.summary_with_export()`; the same failure reads the same through
/// `status()` and the predicates whichever call it came from.
#[tokio::test]
async fn one_question_mark_target_and_the_same_predicates() {
    use mangrove::{ExportError, PollPolicy};

    async fn project(client: &Client) -> Result<(), ExportError> {
        client.get_project().project_id(1).send().await?;
        Ok(())
    }
    async fn summary(client: &Client) -> Result<(), ExportError> {
        client.list_projects().summary().await?;
        Ok(())
    }
    async fn export(client: &Client) -> Result<(), ExportError> {
        let policy = PollPolicy::default().time_limit(Duration::ZERO);
        let _started = client
            .list_projects()
            .summary_with_export()
            .poll_policy(policy)
            .send()
            .await?;
        Ok(())
    }

    for status in [403u16, 404, 429, 503] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(respond(status, Body::Json))
            .mount(&server)
            .await;
        let client = client(&server);
        let errors = [
            project(&client).await.unwrap_err(),
            summary(&client).await.unwrap_err(),
            export(&client).await.unwrap_err(),
        ];
        for (i, e) in errors.iter().enumerate() {
            let what = format!("HTTP {status}, call {i}: {e}");
            assert_eq!(e.status().map(|s| s.as_u16()), Some(status), "{what}");
            assert_eq!(e.is_forbidden(), status == 403, "{what}");
            assert_eq!(e.is_not_found(), status == 404, "{what}");
            assert_eq!(e.is_rate_limited(), status == 429, "{what}");
            assert_eq!(e.is_server_error(), status == 503, "{what}");
            assert!(!e.is_timeout() && !e.is_decode(), "{what}");
        }
        // The API error itself answers the same.
        let api = client.get_project().project_id(1).send().await.unwrap_err();
        let api = Error::from(api);
        assert_eq!(api.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(api.is_forbidden(), status == 403);
        assert_eq!(api.is_rate_limited(), status == 429);
    }
}

#[tokio::test]
async fn decode_and_timeout_predicates() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/projects/1")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "not a number"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("/projects/2")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({}))
                .set_delay(Duration::from_secs(2)),
        )
        .mount(&server)
        .await;
    let client = common::client(&server);
    let decode = Error::from(client.get_project().project_id(1).send().await.unwrap_err());
    assert!(decode.is_decode() && !decode.is_timeout(), "{decode}");
    assert!(decode.decode_error().is_some());
    assert!(mangrove::ExportError::from(decode).is_decode());

    let slow = Client::builder()
        .token(TOKEN)
        .base_url(base_url(&server))
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let timeout = Error::from(slow.get_project().project_id(2).send().await.unwrap_err());
    assert!(timeout.is_timeout() && !timeout.is_decode(), "{timeout}");
    assert_eq!(timeout.status(), None);
    assert!(mangrove::ExportError::from(timeout).is_timeout());
}
