//! The three response modes of list endpoints, decoded through real calls: `default` (a page),
//! `summary`, `summary_with_export`, with unknown extra keys everywhere; open export statuses;
//! and the property the flat `ListBody` exists for — a malformed `export` fails the call instead of
//! being silently dropped (which is what an untagged `oneOf` enum does, shown at the end).

mod common;

use common::{api, query_exact, setup};
use mangrove::__wire::ResponseModeQuery;
use mangrove::prelude::*;
use mangrove::summary::BodyKind;
use mangrove::types::{self, ResponseMode};
use mangrove::{Error, ExportStatus, ListBody};
use serde::Deserialize;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves `body` once for `GET <route>`.
async fn serve(server: &MockServer, route: &str, body: Value) {
    Mock::given(method("GET"))
        .and(path(api(route)))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(1)
        .mount(server)
        .await;
}

/// A `summary_with_export` body (count 2, no samples) whose `export` is `export`.
fn with_export(export: Value) -> Value {
    json!({"count": 2, "samples": [], "response_mode": "summary_with_export", "export": export})
}

// Proves: a default-mode page decodes as `Page` although it carries unknown keys at top level, in items and in `info`.
#[tokio::test]
async fn page_with_unknown_fields() {
    let (server, client) = setup().await;
    serve(
        &server,
        "/projects/1/events",
        json!({
            "data": [
                {"id": "evt_1", "status": "complete", "brand_new": {"nested": [1, 2]}},
                {"id": "evt_2", "status": "archived", "data_points": [{"id": "in_1", "value": 1.5, "extra": null}]}
            ],
            "info": {"items": 2, "page_size": 2, "total_items": 3, "current_page": 1, "next_page": 2,
                     "previous_page": null, "total_pages": 2, "cursor": "abc", "sort": [{"field": "id"}]},
            "meta": {"request_id": "req_1"},
            "links": ["x"]
        }),
    )
    .await;
    let body = client
        .list_events()
        .project_id(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), BodyKind::Page);
    assert_eq!(body.count, None);
    assert!(body.export.is_none());
    let page = body.into_page();
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        page.items[1].status,
        Some(mangrove::open_enum::RecordStatus::Unknown(
            "archived".into()
        ))
    );
    assert_eq!(page.items[1].data_points[0].id, "in_1");
    let info = page.info.expect("info");
    assert_eq!(info.next_page, Some(2));
    assert_eq!(info.sort, Some(json!([{"field": "id"}])));
    server.verify().await;
}

// Proves: a summary decodes as `Summary` (count, samples, echo) with unknown keys, and `.summary()` returns it.
#[tokio::test]
async fn summary_with_unknown_fields() {
    let (server, client) = setup().await;
    let body = json!({
        "count": 25,
        "samples": [{"id": 1, "name": "A", "new_key": true}, {"id": 2, "name": "B"}],
        "response_mode": "summary",
        "took_ms": 12,
        "warnings": [{"code": "x"}]
    });
    Mock::given(method("GET"))
        .and(path(api("/projects")))
        .and(query_exact(&[("response_mode", "summary")]))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(2)
        .mount(&server)
        .await;
    let body = client
        .list_projects()
        .response_mode(ResponseMode::Summary)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), BodyKind::Summary);
    assert_eq!(body.response_mode.as_deref(), Some("summary"));
    assert!(body.data.is_empty());
    let (summary, export) = body.into_summary().unwrap();
    assert_eq!(summary.count, 25);
    assert_eq!(summary.samples.len(), 2);
    assert_eq!(summary.samples[1].name.as_deref(), Some("B"));
    assert!(export.is_none());
    let via_helper = client.list_projects().summary().await.unwrap();
    assert_eq!(via_helper, summary);
    server.verify().await;
}

// Proves: summary_with_export decodes as `SummaryWithExport` with `export{id,status,status_url}`, extras included.
#[tokio::test]
async fn summary_with_export_with_unknown_fields() {
    let (server, client) = setup().await;
    let mut body = with_export(json!({
        "id": "exp_ABC123",
        "status": "pending",
        "status_url": "https://app.gomangrove.com/api/v1/exports/exp_ABC123",
        "progress": 0.25,
        "expires_at": "2026-01-01T00:00:00Z"
    }));
    body["samples"] =
        json!([{"id": "bat_1", "surprise": {"a": 1}}, {"id": "bat_2", "state": "complete"}]);
    body["top_level_extra"] = json!("hello");
    serve(&server, "/batches", body).await;
    let body = client.list_batches().send().await.unwrap().into_inner();
    assert_eq!(body.kind(), BodyKind::SummaryWithExport);
    assert_eq!(body.count, Some(2));
    let (summary, export) = body.into_summary().unwrap();
    assert_eq!(summary.samples.len(), 2);
    let export = export.expect("export kept");
    assert_eq!(export.id.as_deref(), Some("exp_ABC123"));
    assert_eq!(export.status, Some(ExportStatus::Pending));
    assert_eq!(
        export.status_url.as_deref(),
        Some("https://app.gomangrove.com/api/v1/exports/exp_ABC123")
    );
    server.verify().await;
}

// Proves: every list endpoint (all 15) answers the same flat body and keeps the `export` object.
#[tokio::test]
async fn every_list_endpoint_keeps_the_export() {
    let (server, client) = setup().await;
    let empty = with_export(json!({"id": "exp_x", "status": "pending"}));
    for route in [
        "/projects",
        "/projects/1/events",
        "/projects/1/event_types",
        "/projects/1/data_points",
        "/batches",
        "/ledgers",
        "/orders",
        "/feedstocks",
        "/tracking_units",
        "/models",
        "/reports",
        "/locations",
        "/ledgers/l/batches",
        "/batches/b/evidences",
        "/models/m/model_runs",
    ] {
        let mut body = empty.clone();
        body["export"]["id"] = json!(format!("exp_{route}"));
        serve(&server, route, body).await;
    }
    fn id<T>(b: ListBody<T>) -> String {
        assert_eq!(b.kind(), BodyKind::SummaryWithExport);
        b.export.expect("export").id.expect("export id")
    }
    let got = vec![
        id(client.list_projects().send().await.unwrap().into_inner()),
        id(client
            .list_events()
            .project_id(1)
            .send()
            .await
            .unwrap()
            .into_inner()),
        id(client
            .list_event_types()
            .project_id(1)
            .send()
            .await
            .unwrap()
            .into_inner()),
        id(client
            .list_data_points()
            .project_id(1)
            .send()
            .await
            .unwrap()
            .into_inner()),
        id(client.list_batches().send().await.unwrap().into_inner()),
        id(client.list_ledgers().send().await.unwrap().into_inner()),
        id(client.list_orders().send().await.unwrap().into_inner()),
        id(client.list_feedstocks().send().await.unwrap().into_inner()),
        id(client
            .list_tracking_units()
            .send()
            .await
            .unwrap()
            .into_inner()),
        id(client.list_models().send().await.unwrap().into_inner()),
        id(client.list_reports().send().await.unwrap().into_inner()),
        id(client.list_locations().send().await.unwrap().into_inner()),
        id(client
            .list_ledger_batches()
            .ledger_id("l")
            .send()
            .await
            .unwrap()
            .into_inner()),
        id(client
            .list_batch_evidences()
            .batch_id("b")
            .send()
            .await
            .unwrap()
            .into_inner()),
        id(client
            .list_model_runs()
            .model_id("m")
            .send()
            .await
            .unwrap()
            .into_inner()),
    ];
    assert_eq!(got[0], "exp_/projects");
    assert_eq!(got[14], "exp_/models/m/model_runs");
    assert_eq!(got.len(), 15);
    server.verify().await;
}

// Proves: `"expired"` and a never-seen status decode as `ExportStatus::Unknown(..)` (list export and GET /exports).
#[tokio::test]
async fn unknown_export_statuses_are_kept() {
    let (server, client) = setup().await;
    serve(
        &server,
        "/reports",
        with_export(json!({"id": "exp_1", "status": "expired"})),
    )
    .await;
    serve(
        &server,
        "/exports/exp_2",
        json!({"id": "exp_2", "status": "quarantined_for_review", "format": "parquet", "new_field": 1}),
    )
    .await;
    let body = client.list_reports().send().await.unwrap().into_inner();
    let status = body.export.and_then(|e| e.status).expect("status");
    assert_eq!(status, ExportStatus::Unknown("expired".into()));
    assert!(!status.is_terminal());
    let export = client
        .get_export()
        .export_id("exp_2")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        export.status,
        Some(ExportStatus::Unknown("quarantined_for_review".into()))
    );
    assert_eq!(
        export.format,
        Some(mangrove::ExportFormat::Unknown("parquet".into()))
    );
    // Unknown values are written back unchanged.
    assert_eq!(
        serde_json::to_value(&export).unwrap()["status"],
        "quarantined_for_review"
    );
    server.verify().await;
}

/// Calls `list_projects` against a body whose `export` is `export` and returns the error.
async fn list_with_export(export: Value) -> progenitor_client::Error<types::ApiError> {
    let (server, client) = setup().await;
    serve(&server, "/projects", with_export(export)).await;
    let err = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .expect_err("a malformed export must fail the call, not be dropped");
    server.verify().await;
    err
}

// Proves: `"export": {"id": 5}` (wrong type) fails the call with InvalidResponsePayload, keeping the bytes.
#[tokio::test]
async fn export_with_numeric_id_fails_the_call() {
    let err = list_with_export(json!({"id": 5, "status": "pending"})).await;
    match &err {
        progenitor_client::Error::InvalidResponsePayload(bytes, e) => {
            assert!(String::from_utf8_lossy(bytes).contains("\"export\""));
            assert!(e.to_string().contains("invalid type"), "{e}");
        }
        other => panic!("expected InvalidResponsePayload, got {other:?}"),
    }
    let err = Error::from(err);
    assert_eq!(
        err.status(),
        None,
        "a 200 with a bad body has no error status"
    );
    assert!(err.to_string().contains("cannot decode"), "{err}");
}

// Proves: `"export": "x"` (not an object) fails the call.
#[tokio::test]
async fn export_that_is_a_string_fails_the_call() {
    let err = list_with_export(json!("x")).await;
    assert!(
        matches!(err, progenitor_client::Error::InvalidResponsePayload(..)),
        "{err:?}"
    );
}

// Proves: an `export` without `id` still decodes (the summary is not lost); the export layer turns
// it into `ExportError::ExportWithoutId` (tests/decode_errors.rs).
#[tokio::test]
async fn export_without_id_decodes_with_the_summary() {
    let (server, client) = setup().await;
    serve(
        &server,
        "/projects",
        with_export(json!({"status": "pending", "status_url": "https://x"})),
    )
    .await;
    let body = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .expect("an export object without id decodes")
        .into_inner();
    assert_eq!(body.count, Some(2));
    let export = body.export.expect("the export object is kept");
    assert_eq!(export.id, None);
    assert_eq!(export.status_url.as_deref(), Some("https://x"));
}

// Proves: `data: null` (and `samples: null`) decode to empty lists instead of failing.
#[tokio::test]
async fn null_lists_decode_as_empty() {
    let (server, client) = setup().await;
    serve(
        &server,
        "/orders",
        json!({"data": null, "info": {"items": 0, "total_items": 0, "next_page": null}}),
    )
    .await;
    serve(
        &server,
        "/models",
        json!({"count": 0, "samples": null, "response_mode": "summary"}),
    )
    .await;
    let page = client.list_orders().send().await.unwrap().into_inner();
    assert_eq!(page.kind(), BodyKind::Page);
    assert!(page.data.is_empty());
    assert_eq!(page.info.and_then(|i| i.total_items), Some(0));
    let summary = client.list_models().send().await.unwrap().into_inner();
    assert_eq!(summary.kind(), BodyKind::Summary);
    assert!(summary.samples.is_empty());
    assert_eq!(summary.into_summary().unwrap().0.count, 0);
    server.verify().await;
}

// Proves: a page answered to `.summary()` (server ignored response_mode) is an error, not a zero-count summary.
#[tokio::test]
async fn summary_helper_rejects_a_page() {
    let (server, client) = setup().await;
    serve(
        &server,
        "/ledgers",
        json!({"data": [{"id": "lgr_1"}], "info": {"items": 1}}),
    )
    .await;
    let err = client
        .list_ledgers()
        .summary()
        .await
        .expect_err("a page is not a summary");
    assert!(matches!(err, Error::Unexpected(_)), "{err:?}");
    server.verify().await;
}

// --- Why the flat body: a naive untagged enum (the `oneOf` progenitor would generate) ----------

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct NaivePage {
    data: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct NaiveSummary {
    count: u64,
    samples: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct NaiveSummaryWithExport {
    count: u64,
    samples: Vec<Value>,
    export: types::ExportRef,
}

/// `oneOf [Page, Summary, SummaryWithExport]` in the naive order: serde tries the variants in
/// order and takes the first that fits; `Summary` fits every summary_with_export body too,
/// because unknown keys (here `export`) are ignored.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum NaiveList {
    Page(NaivePage),
    Summary(NaiveSummary),
    SummaryWithExport(NaiveSummaryWithExport),
}

/// The same with the most specific variant first: right for valid bodies, but a malformed
/// `export` still falls through to `Summary` without any error.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
#[allow(dead_code)]
enum OrderedList {
    SummaryWithExport(NaiveSummaryWithExport),
    Summary(NaiveSummary),
    Page(NaivePage),
}

// Proves: a naive untagged enum loses `export` from a valid body; the flat `ListBody` keeps it.
#[test]
fn naive_untagged_enum_drops_a_valid_export() {
    let body = with_export(json!({"id": "exp_ABC123", "status": "pending"})).to_string();
    let naive: NaiveList = serde_json::from_str(&body).unwrap();
    assert!(
        matches!(naive, NaiveList::Summary(_)),
        "the export was silently dropped: {naive:?}"
    );
    let flat: ListBody<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(flat.kind(), BodyKind::SummaryWithExport);
    assert_eq!(flat.export.unwrap().id.as_deref(), Some("exp_ABC123"));
}

// Proves: even a correctly ordered untagged enum swallows a malformed export as a plain summary; `ListBody` fails.
#[test]
fn untagged_enum_swallows_a_malformed_export_but_flat_body_fails() {
    let body = with_export(json!({"id": 5, "status": "pending"})).to_string();
    let ordered: OrderedList = serde_json::from_str(&body).unwrap();
    assert!(matches!(ordered, OrderedList::Summary(_)), "{ordered:?}");
    let naive: NaiveList = serde_json::from_str(&body).unwrap();
    assert!(matches!(naive, NaiveList::Summary(_)), "{naive:?}");
    assert!(serde_json::from_str::<ListBody<Value>>(&body).is_err());
    assert!(serde_json::from_str::<ListBody<types::Project>>(&body).is_err());
}
