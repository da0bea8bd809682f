//! When a body does not decode, nothing is lost and the error says where: generated calls name the
//! operation, the JSON path and the decoder's message and keep a bounded body prefix; summaries
//! keep their count and the samples that do not fit, raw; `NotSupported` keeps the samples exactly
//! as sent; an `export` object without `id` is a typed export error that keeps the summary.

mod common;

use common::{api, setup, TOKEN};
use futures::StreamExt;
use mangrove::decode::BODY_PREFIX_LIMIT;
use mangrove::prelude::*;
use mangrove::types::ApiError;
use mangrove::{Error, ExportError, ExportStatus};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves `body` (raw bytes, JSON content type) with 200 on `GET route`.
async fn serve_raw(server: &MockServer, route: &str, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(api(route)))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(server)
        .await;
}

async fn serve(server: &MockServer, route: &str, body: &Value) {
    serve_raw(server, route, serde_json::to_vec(body).unwrap()).await;
}

/// A batch that fits `types::Batch`.
fn batch(i: usize) -> Value {
    json!({"id": format!("bat_{i}"), "state": "complete", "feedstocks": [{"id": i, "name": "wood"}]})
}

/// A batch list of five whose `data[3].feedstocks[0].name` is a number, padded past the kept
/// prefix by a long unknown field after the bad value.
fn bad_batch_page() -> Vec<u8> {
    let mut data: Vec<Value> = (0..5).map(batch).collect();
    data[3]["feedstocks"][0]["name"] = json!(5);
    data[4]["notes"] = json!("n".repeat(2 * BODY_PREFIX_LIMIT));
    serde_json::to_vec(&json!({"data": data, "info": {"current_page": 1}})).unwrap()
}

// Proves: a generated call whose body has a bad nested field fails with an error whose text names
// the operation, the JSON path and the decoder's message; the generated error keeps a
// 64 KiB prefix of the body, and `mangrove::Error` has it typed (`Error::Decode`).
#[tokio::test]
async fn generated_call_names_operation_path_and_message() {
    let (server, client) = setup().await;
    let body = bad_batch_page();
    assert!(body.len() > 2 * BODY_PREFIX_LIMIT);
    serve_raw(&server, "/batches", body.clone()).await;

    let err = client.list_batches().send().await.expect_err("bad name");
    let text = err.to_string();
    for needle in [
        "list_batches",
        "`data[3].feedstocks[0].name`",
        "invalid type: integer `5`, expected a string",
    ] {
        assert!(
            text.contains(needle),
            "{needle:?} not in the generated error's text"
        );
    }
    match &err {
        progenitor_client::Error::InvalidResponsePayload(prefix, _) => {
            assert_eq!(
                prefix.len(),
                BODY_PREFIX_LIMIT,
                "the kept prefix is bounded"
            );
            assert_eq!(&prefix[..], &body[..BODY_PREFIX_LIMIT]);
        }
        other => panic!("expected InvalidResponsePayload, got {other:?}"),
    }

    let err = Error::from(err);
    assert_eq!(err.status(), None);
    let decode = err.decode_error().expect("Error::Decode");
    assert_eq!(decode.operation(), "list_batches");
    assert_eq!(decode.path(), "data[3].feedstocks[0].name");
    assert_eq!(
        decode.message(),
        "invalid type: integer `5`, expected a string"
    );
    assert_eq!(decode.body_len(), body.len());
    assert_eq!(decode.body_prefix(), &body[..BODY_PREFIX_LIMIT]);
    assert!(decode.body_prefix().starts_with(b"{\"data\":["));
    let text = err.to_string();
    assert!(text.starts_with("Mangrove answered with a body this SDK cannot decode: list_batches"));
    assert!(
        text.contains(&format!("(body: {} bytes)", body.len())),
        "{text}"
    );
    assert!(
        text.len() < 400,
        "the text does not carry the body: {} bytes",
        text.len()
    );
    let debug = format!("{err:?}");
    assert!(debug.len() < 1000, "nor does Debug: {} bytes", debug.len());
    assert!(!text.contains(TOKEN) && !debug.contains(TOKEN));
}

// Proves: the hand-written layer reports the same path (a page stream), a single object's path
// starts at its fields, and a body that is not JSON at all is reported at `.`.
#[tokio::test]
async fn stream_get_and_non_json_bodies() {
    let (server, client) = setup().await;
    serve_raw(&server, "/batches", bad_batch_page()).await;
    let mut one = batch(1);
    one["feedstocks"][0]["id"] = json!({"nested": true});
    serve(&server, "/batches/bat_1", &one).await;
    serve_raw(&server, "/projects/7", b"<html>maintenance</html>".to_vec()).await;

    let mut stream = client.list_batches().items();
    let err = stream.next().await.expect("an item").expect_err("bad page");
    let decode = err.decode_error().expect("Error::Decode from the stream");
    assert_eq!(decode.path(), "data[3].feedstocks[0].name");

    let err = Error::from(
        client
            .get_batch()
            .batch_id("bat_1")
            .send()
            .await
            .unwrap_err(),
    );
    let decode = err.decode_error().expect("Error::Decode");
    assert_eq!(decode.operation(), "get_batch");
    assert_eq!(decode.path(), "feedstocks[0].id");
    assert!(decode.message().starts_with("invalid type: map"), "{err}");
    assert_eq!(decode.body_prefix().len(), decode.body_len());

    let err = Error::from(client.get_project().project_id(7).send().await.unwrap_err());
    let decode = err.decode_error().expect("Error::Decode");
    assert_eq!(decode.operation(), "get_project");
    assert_eq!(decode.path(), ".");
    assert!(decode.message().contains("expected value"), "{err}");
    assert_eq!(decode.body_prefix(), b"<html>maintenance</html>");
}

// Proves: `.summary()` never loses the count when a sample does not fit the item type: the sample is
// kept raw, with its path, and the others decode.
#[tokio::test]
async fn summary_keeps_count_and_unfit_samples_raw() {
    let (server, client) = setup().await;
    let bad = json!({"id": "bat_2", "has_rule_alerts": "yes", "brand_new": null});
    let body = json!({
        "count": 42,
        "samples": [batch(1), bad, batch(3)],
        "response_mode": "summary"
    });
    serve(&server, "/batches", &body).await;

    let summary = client
        .list_batches()
        .summary()
        .await
        .expect("the summary decodes");
    assert_eq!(summary.count, 42);
    let ids: Vec<&str> = summary.samples.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["bat_1", "bat_3"]);
    assert_eq!(summary.unfit_samples.len(), 1);
    let unfit = &summary.unfit_samples[0];
    assert_eq!(unfit.index, 1);
    assert_eq!(unfit.path, "samples[1].has_rule_alerts");
    assert!(
        unfit.message.contains("expected a boolean"),
        "{}",
        unfit.message
    );
    assert_eq!(serde_json::from_str::<Value>(unfit.raw.get()).unwrap(), bad);

    // The generated call keeps every sample as sent too.
    let list = client.list_batches().send().await.unwrap().into_inner();
    let raw: Vec<Value> = list
        .raw_samples()
        .iter()
        .map(|r| serde_json::from_str(r.get()).unwrap())
        .collect();
    assert_eq!(raw, body["samples"].as_array().unwrap().clone());
}

/// Samples with unknown fields, explicit nulls and a value no `Project` accepts.
fn odd_project_samples() -> Value {
    json!([
        {"id": 1, "name": null, "brand_new": {"x": [1, null, "y"]}, "country": "DE"},
        {"id": 2, "name": "B", "custom_fields": null, "deleted_at": null},
        {"id": "three", "unknown": true}
    ])
}

// Proves: `NotSupported` carries the samples exactly as the server sent them (as JSON values):
// unknown fields, explicit nulls and samples that do not fit the item type are all there.
#[tokio::test]
async fn not_supported_keeps_samples_as_sent() {
    let (server, client) = setup().await;
    let samples = odd_project_samples();
    serve(
        &server,
        "/projects",
        &json!({"count": 3, "samples": samples, "response_mode": "summary"}),
    )
    .await;

    let err = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .map(|_| ())
        .expect_err("no export object");
    match err {
        ExportError::NotSupported { resource, summary } => {
            assert_eq!(resource, "projects");
            assert_eq!(summary.count, 3);
            assert_eq!(Value::Array(summary.samples), samples);
        }
        other => panic!("expected NotSupported, got {other:?}"),
    }
}

// Proves: an `export` object without `id` is `ExportError::ExportWithoutId`, which keeps the
// summary as sent and the export object; the export slot it took is given back.
#[tokio::test]
async fn export_without_id_is_a_typed_error_with_the_summary() {
    let server = MockServer::start().await;
    let samples = odd_project_samples();
    Mock::given(method("GET"))
        .and(path(api("/projects")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 3,
            "samples": samples,
            "response_mode": "summary_with_export",
            "export": {"status": "pending", "status_url": "https://example.invalid/exports/x"}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("/projects")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 3,
            "samples": [],
            "export": {"id": "exp_1", "status": "pending"}
        })))
        .mount(&server)
        .await;
    // One export slot: the second start only gets it if the first gave it back.
    let client = mangrove::Client::builder()
        .token(TOKEN)
        .base_url(common::base_url(&server))
        .retry_policy(mangrove::RetryPolicy::none())
        .export_concurrency(1)
        .build()
        .unwrap();

    let err = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .map(|_| ())
        .expect_err("an export without id cannot be followed");
    let text = err.to_string();
    assert!(
        text.contains("no id") && text.contains("3 projects"),
        "{text}"
    );
    match err {
        ExportError::ExportWithoutId {
            resource,
            summary,
            export,
        } => {
            assert_eq!(resource, "projects");
            assert_eq!(summary.count, 3);
            assert_eq!(Value::Array(summary.samples), samples);
            assert_eq!(export.id, None);
            assert_eq!(export.status, Some(ExportStatus::Pending));
            assert_eq!(
                export.status_url.as_deref(),
                Some("https://example.invalid/exports/x")
            );
        }
        other => panic!("expected ExportWithoutId, got {other:?}"),
    }

    let started = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.list_projects().summary_with_export().send(),
    )
    .await
    .expect("the slot was given back");
    let (summary, export) = started.expect("an export with an id starts");
    assert_eq!(summary.count, 3);
    assert_eq!(export.id(), "exp_1");
}

// Proves: a plain `serde_json` payload error (not one made by the SDK's decoder) stays `Error::Api`.
#[test]
fn foreign_payload_errors_stay_api_errors() {
    let e = serde_json::from_slice::<Value>(b"{").unwrap_err();
    let err = Error::from(
        progenitor_client::Error::<ApiError>::InvalidResponsePayload(
            bytes::Bytes::from_static(b"{"),
            e,
        ),
    );
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert!(err.decode_error().is_none());
}

// Proves: the path and message for each kind of failure: a wrong type deep inside, a missing field
// (its object's path), a body that is not JSON or has trailing characters (`.`), a cut-off body.
#[test]
fn decode_names_path_and_message_for_each_kind_of_failure() {
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Item {
        id: i64,
        #[serde(default)]
        tags: Vec<String>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Page {
        data: Vec<Item>,
    }
    let decode = |body: &[u8]| mangrove::decode::decode::<Page>("list", body).unwrap_err();

    let page: Page =
        mangrove::decode::decode("list", br#"{"data":[{"id":1,"tags":["a"]}]}"#).unwrap();
    assert_eq!(page.data[0].tags, ["a"]);

    let err = decode(br#"{"data":[{"id":1,"tags":[1]}]}"#);
    assert_eq!(err.path(), "data[0].tags[0]");
    assert_eq!(
        err.message(),
        "invalid type: integer `1`, expected a string"
    );

    let err = decode(br#"{"data":[{"tags":[]}]}"#);
    assert_eq!(
        (err.path(), err.message()),
        ("data[0]", "missing field `id`")
    );

    let err = decode(b"<html>oops</html>");
    assert_eq!(err.path(), ".");
    assert!(err.message().contains("line 1 column 1"), "{err}");

    let err = decode(br#"{"data":[]} x"#);
    assert_eq!(err.path(), ".");
    assert!(err.message().contains("trailing characters"), "{err}");

    let err = decode(br#"{"data":[{"id":1}"#);
    assert_eq!(err.path(), "data");
    assert!(err.message().contains("EOF"), "{err}");
    assert_eq!(err.body_len(), 17);
}

// Proves: the generated error carries the `DecodeError` as a value, not as text to parse back:
// a key holding backticks and the text's own separator (`` `: ``) reaches `Error::Decode`
// exactly as sent. (When the text was parsed back, backticks had to be replaced by quotes, and
// this path came back as "results.a 'b': c".)
#[tokio::test]
async fn odd_keys_survive_the_generated_error() {
    let (server, client) = setup().await;
    Mock::given(method("POST"))
        .and(path(api("/models/mdl_1/simulate")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"results": {"a `b`: c": "x"}})),
        )
        .mount(&server)
        .await;
    let err = common::simulate(&client).await.unwrap_err();
    let progenitor_client::Error::InvalidResponsePayload(_, json) = &err else {
        panic!("expected InvalidResponsePayload, got {err:?}");
    };
    // Found on the source chain of the generated error, as a value.
    let carried = std::error::Error::source(json)
        .and_then(|e| e.downcast_ref::<mangrove::DecodeError>())
        .expect("the DecodeError is the source of the serde_json error")
        .clone();
    let err = Error::from(err);
    let decode = err.decode_error().expect("Error::Decode");
    assert_eq!(decode, &carried);
    assert_eq!(decode.operation(), "simulate_model");
    assert_eq!(decode.path(), "results.a `b`: c");
    assert!(decode.message().contains("expected f64"), "{err}");
}

// Proves: a signed `download_url` in a body that does not decode never shows its query (the
// signature) in the error's text or Debug, generated or converted.
#[tokio::test]
async fn decode_errors_never_show_a_signed_url() {
    let (server, client) = setup().await;
    let body = json!({
        "id": "exp_1",
        "status": "completed",
        "download_url": "https://s3.example/f.csv?X-Amz-Signature=sekret",
        "file_size_bytes": "big"
    });
    serve(&server, "/exports/exp_1", &body).await;
    let generated = client
        .get_export()
        .export_id("exp_1")
        .send()
        .await
        .unwrap_err();
    let text = format!("{generated} {generated:?}");
    assert!(!text.contains("sekret"), "{text}");
    assert!(
        text.contains("https://s3.example/f.csv?<redacted>"),
        "{text}"
    );
    let err = Error::from(generated);
    let decode = err.decode_error().expect("Error::Decode");
    let text = format!(
        "{err} {err:?} {}",
        String::from_utf8_lossy(decode.body_prefix())
    );
    assert!(!text.contains("sekret"), "{text}");
}
