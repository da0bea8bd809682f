//! Helpers shared by the `api_*` test files: a client wired to a local wiremock server, JSON
//! comparison that ignores only representation details, and an exact query matcher.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use mangrove::{Client, RetryPolicy};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use wiremock::{Match, MockServer, Request};

/// The token every test client sends (distinctive, so a leak is easy to spot).
pub const TOKEN: &str = "tok_Sup3rS3cret-9f8e7d";

/// The path prefix of the base URL used in tests (like the real `/api/v1`).
pub const PREFIX: &str = "/api/v1";

/// The `User-Agent` the SDK must send, computed here independently of the SDK.
pub fn user_agent() -> String {
    format!("mangrove-rust/{}", env!("CARGO_PKG_VERSION"))
}

/// The base URL of `server` with the API prefix.
pub fn base_url(server: &MockServer) -> String {
    format!("{}{PREFIX}", server.uri())
}

/// A path under the API prefix.
pub fn api(path: &str) -> String {
    format!("{PREFIX}{path}")
}

/// A client for `server` that never retries (each request reaches the server exactly once).
pub fn client(server: &MockServer) -> Client {
    Client::builder()
        .token(TOKEN)
        .base_url(base_url(server))
        .retry_policy(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client for a loopback wiremock server")
}

/// A started wiremock server (127.0.0.1) and a non-retrying client for it.
pub async fn setup() -> (MockServer, Client) {
    let server = MockServer::start().await;
    let client = client(&server);
    (server, client)
}

/// An RFC 3339 timestamp.
pub fn t(s: &str) -> DateTime<Utc> {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
}

/// `POST /models/mdl_1/simulate` over the first quarter of 2025, no inputs.
#[allow(dead_code)]
pub async fn simulate(
    client: &mangrove::Client,
) -> Result<
    mangrove::ResponseValue<mangrove::types::SimulationResult>,
    mangrove::error::GeneratedError,
> {
    let body = mangrove::types::SimulationRequest::builder()
        .inputs(std::collections::HashMap::<String, f64>::new())
        .start_time(t("2025-01-01T00:00:00Z"))
        .end_time(t("2025-03-31T23:59:59Z"));
    client
        .simulate_model()
        .model_id("mdl_1")
        .body(body)
        .send()
        .await
}

/// Parses a JSON literal (panics with the text on error).
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON in test: {e}\n{text}"))
}

/// Normalizes what is only representation: every number becomes an `f64` (`1000` == `1000.0`)
/// and every RFC 3339 timestamp string is rewritten in one form (`…00.000Z` == `…00Z`).
pub fn canon(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| value.clone()),
        Value::String(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(ts) => Value::String(
                ts.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::Millis, true),
            ),
            Err(_) => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(canon).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), canon(v))).collect())
        }
        other => other.clone(),
    }
}

/// Drops object keys whose value is `null` or `[]`: the generated types skip `None` and empty
/// lists when serializing, so these are the only keys a lossless re-encoding may omit.
pub fn prune(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(prune).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k.clone(), prune(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Decodes `text` into `T` and checks that nothing was lost: re-encoding gives the same JSON
/// (up to `null`/`[]` keys and number/timestamp representation), and decoding the re-encoding
/// gives the same value.
pub fn decode_lossless<T>(text: &str) -> T
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let value: T = serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "example does not decode into {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let encoded = serde_json::to_value(&value).expect("re-encode");
    let expected = prune(&canon(&json(text)));
    let actual = prune(&canon(&encoded));
    assert_eq!(
        actual,
        expected,
        "{} dropped or changed fields of the example",
        std::any::type_name::<T>()
    );
    let again: T = serde_json::from_value(encoded).expect("re-decode");
    assert_eq!(again, value, "round trip changed the value");
    value
}

/// Asserts that a typed request serializes to the documented example (up to number/timestamp
/// representation) and that the example decodes back to the same typed value.
pub fn assert_request_matches<T>(built: &T, example: &str)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let encoded = serde_json::to_value(built).expect("serialize request");
    assert_eq!(
        canon(&encoded),
        canon(&json(example)),
        "request body differs from the docs"
    );
    let decoded: T = serde_json::from_str(example).expect("example decodes into the request type");
    assert_eq!(&decoded, built);
}

/// Matches a request whose query string is exactly `expected` (every pair, nothing else).
pub struct ExactQuery(BTreeMap<String, String>);

/// The query string must be exactly these pairs (decoded), in any order.
pub fn query_exact(pairs: &[(&str, &str)]) -> ExactQuery {
    ExactQuery(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

impl Match for ExactQuery {
    fn matches(&self, request: &Request) -> bool {
        let pairs: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        let unique: BTreeMap<String, String> = pairs.iter().cloned().collect();
        pairs.len() == unique.len() && unique == self.0
    }
}
