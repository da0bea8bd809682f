//! What goes over the wire for every resource group: method, path (with percent-encoded ids),
//! exact query string, JSON body (root-key wrapping or not), `Authorization` and `User-Agent`.
//! Every mock is `.expect(1)` and the client never retries, so a request that does not match
//! exactly fails the test (wiremock answers 404 and `verify` reports the missed expectation).

mod common;

use common::{api, base_url, query_exact, setup, t, user_agent, TOKEN};
use mangrove::__wire::{ExportFormatQuery, ResponseModeQuery};
use mangrove::open_enum::{BatchState, RecordStatus, ReportStatus};
use mangrove::summary::BodyKind;
use mangrove::types::{self, DataPointValue, ResponseMode};
use mangrove::ExportFormat;
use mangrove::{AuthScheme, Client, ExportStatus, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// A mock for `verb` on `route` (under the API prefix) that also requires the default
/// `Authorization: Bearer <token>` and the SDK's `User-Agent`.
fn given(verb: &str, route: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(api(route)))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("user-agent", user_agent().as_str()))
}

/// A JSON answer.
fn reply(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// A one-item page.
fn page(item: serde_json::Value) -> serde_json::Value {
    json!({"data": [item], "info": {"items": 1, "page_size": 50, "total_items": 51, "current_page": 2, "next_page": 3, "previous_page": 1, "total_pages": 3}})
}

/// The `export` object of a `summary_with_export` answer.
fn summary_with_export(kind: &str) -> serde_json::Value {
    json!({"count": 3, "samples": [], "response_mode": "summary_with_export",
           "export": {"id": format!("exp_{kind}"), "status": "pending", "status_url": format!("https://app.gomangrove.com/api/v1/exports/exp_{kind}")}})
}

fn id_ref(id: &str) -> types::IdRef {
    types::IdRef::builder()
        .id(id.to_string())
        .try_into()
        .expect("id ref")
}

// Proves: list_projects sends page, page_size and sort (and nothing else); get_project puts the id in the path.
#[tokio::test]
async fn projects() {
    let (server, client) = setup().await;
    given("GET", "/projects")
        .and(query_exact(&[
            ("page", "2"),
            ("page_size", "50"),
            ("sort", "-created_at"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": 123, "name": "Southeast Capture Project"})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/projects/123")
        .and(query_exact(&[]))
        .respond_with(reply(200, json!({"id": 123, "credit_types": ["CORC"]})))
        .expect(1)
        .mount(&server)
        .await;

    let body = client
        .list_projects()
        .page(2)
        .page_size(50)
        .sort("-created_at")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), BodyKind::Page);
    assert_eq!(body.data[0].id, 123);
    assert_eq!(body.info.as_ref().and_then(|i| i.next_page), Some(3));
    let project = client.get_project().project_id(123).send().await.unwrap();
    assert_eq!(project.status(), 200);
    assert_eq!(project.credit_types, ["CORC"]);
    server.verify().await;
}

// Proves: response_mode=summary_with_export and export_format=json reach the server as query parameters.
#[tokio::test]
async fn projects_summary_with_export_query() {
    let (server, client) = setup().await;
    given("GET", "/projects")
        .and(query_exact(&[
            ("response_mode", "summary_with_export"),
            ("export_format", "json"),
        ]))
        .respond_with(reply(200, summary_with_export("P1")))
        .expect(1)
        .mount(&server)
        .await;
    let body = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .export_format(ExportFormat::Json)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), BodyKind::SummaryWithExport);
    assert_eq!(body.export.and_then(|e| e.id).as_deref(), Some("exp_P1"));
    server.verify().await;
}

// Proves: list_events sends its three filters in bracket syntax; the event id is percent-encoded in GET and PATCH.
#[tokio::test]
async fn events_list_get_update() {
    let (server, client) = setup().await;
    given("GET", "/projects/1/events")
        .and(query_exact(&[
            ("filter[status][eq]", "complete"),
            ("filter[id][eq]", "evt_DLnYvzbjSujNAvXE"),
            ("filter[tracking_id][eq]", "MG1003"),
            ("page", "2"),
            ("page_size", "50"),
            ("sort", "-start_time,created_at"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": "evt_DLnYvzbjSujNAvXE", "status": "complete"})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/projects/1/events/evt%201%2Fx")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"id": "evt 1/x", "slug": "biochar-delivery"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("PATCH", "/projects/1/events/evt%201%2Fx")
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"event": {
            "end_time": "2024-06-05T23:59:59Z",
            "data_points": [{"slug": "total-ash-delivered-wet-us-ton", "value": 290.7}]
        }})))
        .respond_with(reply(
            200,
            json!({"id": "evt 1/x", "end_time": "2024-06-05T23:59:59.000Z"}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let list = client
        .list_events()
        .project_id(1)
        .filter_status_eq(RecordStatus::Complete)
        .filter_id_eq("evt_DLnYvzbjSujNAvXE")
        .filter_tracking_id_eq("MG1003")
        .page(2)
        .page_size(50)
        .sort("-start_time,created_at")
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].status, Some(RecordStatus::Complete));
    let event = client
        .get_event()
        .project_id(1)
        .event_id("evt 1/x")
        .send()
        .await
        .unwrap();
    assert_eq!(event.id, "evt 1/x");
    let update = types::EventRequest::builder().event(
        types::EventInput::builder()
            .end_time(t("2024-06-05T23:59:59Z"))
            .data_points(vec![types::DataPointInput::builder()
                .slug("total-ash-delivered-wet-us-ton".to_string())
                .value(DataPointValue::Double(290.7))
                .try_into()
                .unwrap()]),
    );
    let updated = client
        .update_event()
        .project_id(1)
        .event_id("evt 1/x")
        .body(update)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.end_time, Some(t("2024-06-05T23:59:59Z")));
    server.verify().await;
}

// Proves: create_event POSTs the `{"event": {...}}`-wrapped body and accepts the documented 201.
#[tokio::test]
async fn events_create() {
    let (server, client) = setup().await;
    given("POST", "/projects/1/events")
        .and(query_exact(&[]))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"event": {
            "event_type": "biochar-delivery",
            "start_time": "2024-06-04T00:00:00Z",
            "end_time": "2024-06-04T23:59:59Z",
            "tracking_id": "MG1003",
            "locations": [{"id": "loc_8XF1QtGs79oX9A6k"}],
            "data_points": [
                {"slug": "total-ash-delivered-wet-us-ton", "value": 290.6},
                {"slug": "biochar-end-use", "value": "soil amendment"},
                {"slug": "is-certified", "value": true}
            ]
        }})))
        .respond_with(reply(
            201,
            json!({"id": "evt_DLnYvzbjSujNAvXE", "slug": "biochar-delivery"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let body = types::EventRequest::builder().event(
        types::EventInput::builder()
            .event_type("biochar-delivery".to_string())
            .start_time(t("2024-06-04T00:00:00.000Z"))
            .end_time(t("2024-06-04T23:59:59.000Z"))
            .tracking_id("MG1003".to_string())
            .locations(vec![id_ref("loc_8XF1QtGs79oX9A6k")])
            .data_points(vec![
                types::DataPointInput::builder()
                    .slug("total-ash-delivered-wet-us-ton".to_string())
                    .value(290.6)
                    .try_into()
                    .unwrap(),
                types::DataPointInput::builder()
                    .slug("biochar-end-use".to_string())
                    .value(DataPointValue::String("soil amendment".into()))
                    .try_into()
                    .unwrap(),
                types::DataPointInput::builder()
                    .slug("is-certified".to_string())
                    .value(true)
                    .try_into()
                    .unwrap(),
            ]),
    );
    let created = client
        .create_event()
        .project_id(1)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.id, "evt_DLnYvzbjSujNAvXE");
    server.verify().await;
}

// Proves: event types are listed under `event_types` (underscore) and created with an `{"event_type": ...}` body.
#[tokio::test]
async fn event_types() {
    let (server, client) = setup().await;
    given("GET", "/projects/7/event_types")
        .and(query_exact(&[("sort", "-updated_at"), ("page_size", "50")]))
        .respond_with(reply(200, page(json!({"id": 4, "slug": "co2-capture", "data_point_types": [{"slug": "mass", "value_type": "number"}]}))))
        .expect(1)
        .mount(&server)
        .await;
    given("POST", "/projects/7/event_types")
        .and(body_json(json!({"event_type": {
            "name": "Biochar Delivery",
            "slug": "biochar-delivery",
            "reusable_in_batches": false,
            "expected_locations": "two",
            "requires_tracking_id": true
        }})))
        .respond_with(reply(
            201,
            json!({"id": 5, "slug": "biochar-delivery", "name": "Biochar Delivery"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let list = client
        .list_event_types()
        .project_id(7)
        .sort("-updated_at")
        .page_size(50)
        .send()
        .await
        .unwrap();
    assert_eq!(
        list.data[0].data_point_types[0].slug.as_deref(),
        Some("mass")
    );
    let input = types::EventTypeInput::builder()
        .name("Biochar Delivery".to_string())
        .slug("biochar-delivery".to_string())
        .reusable_in_batches(false)
        .expected_locations(types::EventTypeInputExpectedLocations::Two)
        .requires_tracking_id(true);
    let created = client
        .create_event_type()
        .project_id(7)
        .body(types::EventTypeRequest::builder().event_type(input))
        .send()
        .await
        .unwrap();
    assert_eq!(created.id, Some(5));
    server.verify().await;
}

// Proves: data points are listed with response_mode=summary and fetched by percent-encoded event and data point ids.
#[tokio::test]
async fn data_points() {
    let (server, client) = setup().await;
    given("GET", "/projects/1/data_points")
        .and(query_exact(&[("response_mode", "summary")]))
        .respond_with(reply(200, json!({"count": 12, "samples": [{"id": "in_a", "value": true}], "response_mode": "summary"})))
        .expect(1)
        .mount(&server)
        .await;
    given(
        "GET",
        "/projects/1/events/evt_A%3Fb%23c/data_points/in_kiIu%20aGIU%25",
    )
    .and(query_exact(&[]))
    .respond_with(reply(
        200,
        json!({"id": "in_kiIu aGIU%", "value": 290.6, "rule_results": []}),
    ))
    .expect(1)
    .mount(&server)
    .await;
    let body = client
        .list_data_points()
        .project_id(1)
        .response_mode(ResponseMode::Summary)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), BodyKind::Summary);
    assert_eq!(body.count, Some(12));
    assert_eq!(body.samples[0].value, Some(DataPointValue::Boolean(true)));
    let dp = client
        .get_data_point()
        .project_id(1)
        .event_id("evt_A?b#c")
        .data_point_id("in_kiIu aGIU%")
        .send()
        .await
        .unwrap();
    assert_eq!(dp.value, Some(DataPointValue::Double(290.6)));
    server.verify().await;
}

// Proves: bulk_dismiss POSTs the unwrapped `{result_ids, reason}` body to rule_results/bulk_dismiss.
#[tokio::test]
async fn rule_results_bulk_dismiss() {
    let (server, client) = setup().await;
    given("POST", "/projects/1/rule_results/bulk_dismiss")
        .and(body_json(json!({"result_ids": ["dpres_8XF1QtGs79oX9A6k", "mrres_AIKqFEtr5OpAqram"], "reason": "Reviewed."})))
        .respond_with(reply(200, json!({"data": [{"id": "dpres_8XF1QtGs79oX9A6k", "status": "dismissed"}, {"id": "mrres_AIKqFEtr5OpAqram", "status": "dismissed"}]})))
        .expect(1)
        .mount(&server)
        .await;
    let body = types::BulkDismissRequest::builder()
        .result_ids(vec![
            "dpres_8XF1QtGs79oX9A6k".to_string(),
            "mrres_AIKqFEtr5OpAqram".to_string(),
        ])
        .reason("Reviewed.".to_string());
    let result = client
        .bulk_dismiss_rule_results()
        .project_id(1)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(result.data.len(), 2);
    assert_eq!(
        result.data[1].status,
        Some(mangrove::open_enum::RuleResultStatus::Dismissed)
    );
    server.verify().await;
}

// Proves: list_locations sends response_mode=summary_with_export with export_format=csv and decodes string lat/long.
#[tokio::test]
async fn locations() {
    let (server, client) = setup().await;
    given("GET", "/locations")
        .and(query_exact(&[("response_mode", "summary_with_export"), ("export_format", "csv")]))
        .respond_with(reply(200, json!({"count": 1, "samples": [{"id": "loc_8XF1QtGs79oX9A6k", "lat": "40.4773493", "long": "-124.1226179"}], "response_mode": "summary_with_export", "export": {"id": "exp_L", "status": "processing"}})))
        .expect(1)
        .mount(&server)
        .await;
    let body = client
        .list_locations()
        .response_mode(ResponseMode::SummaryWithExport)
        .export_format(ExportFormat::Csv)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.samples[0].long.as_deref(), Some("-124.1226179"));
    assert_eq!(
        body.export.and_then(|e| e.status),
        Some(ExportStatus::Processing)
    );
    server.verify().await;
}

// Proves: a batch's evidences are listed under the percent-encoded batch id with page parameters.
#[tokio::test]
async fn evidences() {
    let (server, client) = setup().await;
    given("GET", "/batches/bat%2F1/evidences")
        .and(query_exact(&[("page", "2"), ("page_size", "50")]))
        .respond_with(reply(
            200,
            page(json!({"id": 1, "url": "https://www.example.com", "evidence_type": "url"})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let body = client
        .list_batch_evidences()
        .batch_id("bat/1")
        .page(2)
        .page_size(50)
        .send()
        .await
        .unwrap();
    assert_eq!(body.data[0].evidence_type.as_deref(), Some("url"));
    server.verify().await;
}

// Proves: list_batches sends filter[project_id][eq]=123, filter[state][eq], filter[id][eq] and sort; get_batch uses the id.
#[tokio::test]
async fn batches() {
    let (server, client) = setup().await;
    given("GET", "/batches")
        .and(query_exact(&[
            ("filter[project_id][eq]", "123"),
            ("filter[state][eq]", "complete"),
            ("filter[id][eq]", "bat_abc123def456"),
            ("sort", "-created_at"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": "bat_abc123def456", "state": "complete"})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/batches/bat_abc123def456")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"id": "bat_abc123def456", "input_data": [{"data_point": {"id": "in_abc123"}}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let list = client
        .list_batches()
        .filter_project_id_eq(123)
        .filter_state_eq("complete")
        .filter_id_eq("bat_abc123def456")
        .sort("-created_at")
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].state, Some(BatchState::Complete));
    let batch = client
        .get_batch()
        .batch_id("bat_abc123def456")
        .send()
        .await
        .unwrap();
    assert_eq!(
        batch.input_data[0]
            .data_point
            .as_ref()
            .map(|d| d.id.as_str()),
        Some("in_abc123")
    );
    server.verify().await;
}

// Proves: ledgers are listed, fetched, and PATCHed with the `{"ledger": {...}}` wrapper; ledger batches send their filters.
#[tokio::test]
async fn ledgers_and_ledger_batches() {
    let (server, client) = setup().await;
    given("GET", "/ledgers")
        .and(query_exact(&[("page", "1"), ("page_size", "10")]))
        .respond_with(reply(
            200,
            json!({"data": [{"id": "lgr_abc123def456", "asset_category": null}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/ledgers/lgr_abc123def456")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"id": "lgr_abc123def456", "latest_model": {"id": "mdl_x", "name": "M"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("PATCH", "/ledgers/lgr_abc123def456")
        .and(body_json(json!({"ledger": {"name": "Updated Ledger Name"}})))
        .respond_with(reply(200, json!({"id": "lgr_abc123def456", "name": "Updated Ledger Name", "updated_at": "2025-01-15T12:00:00.000Z"})))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/ledgers/lgr_abc123def456/batches")
        .and(query_exact(&[
            ("filter[id][eq]", "bat_1"),
            ("filter[state][eq]", "processing"),
            ("filter[tracking_id][eq]", "Q1-2025-001"),
            ("filter[friendly_id][eq]", "bat_1"),
            ("sort", "-start_time,created_at"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": "bat_1", "state": "processing"})),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let list = client
        .list_ledgers()
        .page(1)
        .page_size(10)
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].id, "lgr_abc123def456");
    let ledger = client
        .get_ledger()
        .ledger_id("lgr_abc123def456")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ledger.latest_model.as_ref().and_then(|m| m.id.as_deref()),
        Some("mdl_x")
    );
    let updated = client
        .update_ledger()
        .ledger_id("lgr_abc123def456")
        .body(
            types::LedgerRequest::builder()
                .ledger(types::LedgerInput::builder().name("Updated Ledger Name".to_string())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(updated.updated_at, Some(t("2025-01-15T12:00:00Z")));
    let batches = client
        .list_ledger_batches()
        .ledger_id("lgr_abc123def456")
        .filter_id_eq("bat_1")
        .filter_state_eq("processing")
        .filter_tracking_id_eq("Q1-2025-001")
        .filter_friendly_id_eq("bat_1")
        .sort("-start_time,created_at")
        .send()
        .await
        .unwrap();
    assert_eq!(batches.data[0].state, Some(BatchState::Processing));
    server.verify().await;
}

// Proves: update_inputs PATCHes the unwrapped body to /ledgers/{l}/batches/{id}/update_inputs; required_inputs is a GET.
#[tokio::test]
async fn ledgers_update_inputs_and_required_inputs() {
    let (server, client) = setup().await;
    given(
        "PATCH",
        "/ledgers/lgr_1/batches/bat_abc123def456/update_inputs",
    )
    .and(body_json(json!({
        "data_point_ids": ["in_abc123"],
        "batch_amounts": [{"batch_id": "bat_up", "amount": 12.5}],
        "skipped_data_point_type_ids": [42, 99]
    })))
    .respond_with(reply(
        200,
        json!({"id": "bat_abc123def456", "state": "processing", "has_rule_alerts": false}),
    ))
    .expect(1)
    .mount(&server)
    .await;
    given("GET", "/ledgers/lgr_1/required_inputs")
        .and(query_exact(&[]))
        .respond_with(reply(200, json!({"data": [{"slug": "feedstock-volume", "type": "numeric", "is_manual_select": true}]})))
        .expect(1)
        .mount(&server)
        .await;
    let body = types::UpdateBatchInputsRequest::builder()
        .data_point_ids(vec!["in_abc123".to_string()])
        .batch_amounts(vec![types::BatchAmount::builder()
            .batch_id("bat_up".to_string())
            .amount(12.5)
            .try_into()
            .unwrap()])
        .skipped_data_point_type_ids(vec![42, 99]);
    let batch = client
        .update_batch_inputs()
        .ledger_id("lgr_1")
        .id("bat_abc123def456")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(batch.has_rule_alerts, Some(false));
    let inputs = client
        .get_ledger_required_inputs()
        .ledger_id("lgr_1")
        .send()
        .await
        .unwrap();
    assert_eq!(inputs.data[0].type_.as_deref(), Some("numeric"));
    assert_eq!(inputs.data[0].is_manual_select, Some(true));
    server.verify().await;
}

// Proves: generate_preview and batch_generations POST unwrapped time ranges; batch_generations accepts 202.
#[tokio::test]
async fn ledgers_generate_preview_and_batch_generations() {
    let (server, client) = setup().await;
    given("POST", "/ledgers/lgr_1/generate_preview")
        .and(body_json(
            json!({"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-03-31T23:59:59Z"}),
        ))
        .respond_with(reply(
            200,
            json!({"data": [{"id": "lgr_1", "name": "Net Carbon Removal", "count": 3}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("POST", "/ledgers/lgr_1/batch_generations")
        .and(body_json(json!({
            "start_time": "2025-01-01T00:00:00Z",
            "end_time": "2025-03-31T23:59:59Z",
            "data_point_ids": ["in_a", "in_b"],
            "batch_amounts": [{"batch_id": "bat_1", "amount": 5.0}]
        })))
        .respond_with(reply(202, json!({"id": "task_123", "status": "queued"})))
        .expect(1)
        .mount(&server)
        .await;
    let preview = client
        .generate_preview()
        .ledger_id("lgr_1")
        .body(
            types::GenerationRequest::builder()
                .start_time(t("2025-01-01T00:00:00.000Z"))
                .end_time(t("2025-03-31T23:59:59.000Z")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(preview.data[0].count, Some(3));
    let task = client
        .create_batch_generation()
        .ledger_id("lgr_1")
        .body(
            types::GenerationRequest::builder()
                .start_time(t("2025-01-01T00:00:00Z"))
                .end_time(t("2025-03-31T23:59:59Z"))
                .data_point_ids(vec!["in_a".to_string(), "in_b".to_string()])
                .batch_amounts(vec![types::BatchAmount::builder()
                    .batch_id("bat_1".to_string())
                    .amount(5.0)
                    .try_into()
                    .unwrap()]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(task.status(), 202);
    assert_eq!(task.id, Some("task_123".into()));
    server.verify().await;
}

// Proves: models are listed with filter[project_id][eq], fetched, and PATCHed with the `{"model": ...}` wrapper.
#[tokio::test]
async fn models() {
    let (server, client) = setup().await;
    given("GET", "/models")
        .and(query_exact(&[
            ("filter[project_id][eq]", "123"),
            ("sort", "-version"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": "mdl_abc123def456", "version": 2})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/models/mdl_abc123def456")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"id": "mdl_abc123def456", "is_latest": true}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("PATCH", "/models/mdl_abc123def456")
        .and(body_json(
            json!({"model": {"cadence": "monthly", "partition_type": "feedstock"}}),
        ))
        .respond_with(reply(
            200,
            json!({"id": "mdl_abc123def456", "cadence": "monthly"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let list = client
        .list_models()
        .filter_project_id_eq(123)
        .sort("-version")
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].version, Some(2));
    let model = client
        .get_model()
        .model_id("mdl_abc123def456")
        .send()
        .await
        .unwrap();
    assert_eq!(model.is_latest, Some(true));
    let body = types::ModelRequest::builder().model(
        types::ModelInput::builder()
            .cadence("monthly".to_string())
            .partition_type("feedstock".to_string()),
    );
    let updated = client
        .update_model()
        .model_id("mdl_abc123def456")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.cadence.as_deref(), Some("monthly"));
    server.verify().await;
}

// Proves: versions (unwrapped `{"yaml"}`, 201), schema (GET) and simulate (unwrapped inputs) use the model id path.
#[tokio::test]
async fn models_versions_schema_simulate() {
    let (server, client) = setup().await;
    let yaml =
        "nexus:\n  - name: Updated Net Carbon Removal\n    formula: input_1 - input_2 - input_3\n";
    given("POST", "/models/mdl_abc123def456/versions")
        .and(body_json(json!({"yaml": yaml})))
        .respond_with(reply(
            201,
            json!({"id": "mdl_xyz789abc123", "version": 2, "is_latest": true}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/models/mdl_abc123def456/schema")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"model": {"id": "mdl_abc123def456", "version": 1}, "operators": ["add"]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("POST", "/models/mdl_abc123def456/simulate")
        .and(body_json(json!({
            "inputs": {"feedstock-volume": 1000.0, "carbon-content": 0.45},
            "start_time": "2025-01-01T00:00:00Z",
            "end_time": "2025-03-31T23:59:59Z"
        })))
        .respond_with(reply(200, json!({"results": {"net-carbon-removal": 450.5}, "errors": [], "execution_time_ms": 45.2})))
        .expect(1)
        .mount(&server)
        .await;
    let version = client
        .create_model_version()
        .model_id("mdl_abc123def456")
        .body(types::ModelVersionRequest::builder().yaml(yaml.to_string()))
        .send()
        .await
        .unwrap();
    assert_eq!(version.status(), 201);
    assert_eq!(version.id, "mdl_xyz789abc123");
    let schema = client
        .get_model_schema()
        .model_id("mdl_abc123def456")
        .send()
        .await
        .unwrap();
    assert_eq!(schema.operators, ["add"]);
    let inputs: std::collections::HashMap<String, f64> = [
        ("feedstock-volume".to_string(), 1000.0),
        ("carbon-content".to_string(), 0.45),
    ]
    .into_iter()
    .collect();
    let result = client
        .simulate_model()
        .model_id("mdl_abc123def456")
        .body(
            types::SimulationRequest::builder()
                .inputs(inputs)
                .start_time(t("2025-01-01T00:00:00Z"))
                .end_time(t("2025-03-31T23:59:59Z")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(result.results.get("net-carbon-removal"), Some(&Some(450.5)));
    server.verify().await;
}

// Proves: model runs are listed per model with page params, created with the `{"model_run": ...}` wrapper (201), fetched by integer id.
#[tokio::test]
async fn model_runs() {
    let (server, client) = setup().await;
    given("GET", "/models/mdl_1/model_runs")
        .and(query_exact(&[("page", "2"), ("page_size", "50")]))
        .respond_with(reply(
            200,
            json!({"data": [{"id": 1, "state": "complete"}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("POST", "/models/mdl_1/model_runs")
        .and(body_json(json!({"model_run": {
            "start_time": "2025-01-01T00:00:00Z",
            "end_time": "2025-03-31T23:59:59Z",
            "data_point_ids": ["dp_abc123", "dp_def456"]
        }})))
        .respond_with(reply(201, json!({"id": 2, "state": "pending"})))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/model_runs/2")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"id": 2, "state": "complete", "calculations": [{"id": 1, "ghg": true}]}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let runs = client
        .list_model_runs()
        .model_id("mdl_1")
        .page(2)
        .page_size(50)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.data[0].id, Some(1));
    let body = types::ModelRunRequest::builder().model_run(
        types::ModelRunInput::builder()
            .start_time(t("2025-01-01T00:00:00Z"))
            .end_time(t("2025-03-31T23:59:59Z"))
            .data_point_ids(vec!["dp_abc123".to_string(), "dp_def456".to_string()]),
    );
    let created = client
        .create_model_run()
        .model_id("mdl_1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.id, Some(2));
    let run = client.get_model_run().model_run_id(2).send().await.unwrap();
    assert_eq!(run.calculations[0].ghg, Some(types::Ghg::Boolean(true)));
    server.verify().await;
}

// Proves: list_feedstocks sends all five documented filters, including date-time bounds.
#[tokio::test]
async fn feedstocks() {
    let (server, client) = setup().await;
    given("GET", "/feedstocks")
        .and(query_exact(&[
            ("filter[project_id][eq]", "123"),
            ("filter[feedstock_type_id][eq]", "9"),
            ("filter[name][eq]", "Wood chips"),
            ("filter[created_at][geq]", "2025-01-01T00:00:00Z"),
            ("filter[created_at][leq]", "2025-03-31T23:59:59Z"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": 3, "name": "Wood chips", "project_id": 123})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let list = client
        .list_feedstocks()
        .filter_project_id_eq(123)
        .filter_feedstock_type_id_eq(9)
        .filter_name_eq("Wood chips")
        .filter_created_at_geq(t("2025-01-01T00:00:00Z"))
        .filter_created_at_leq(t("2025-03-31T23:59:59Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].name.as_deref(), Some("Wood chips"));
    server.verify().await;
}

// Proves: tracking units are listed at /tracking_units with sort and response_mode=default sent verbatim.
#[tokio::test]
async fn tracking_units() {
    let (server, client) = setup().await;
    given("GET", "/tracking_units")
        .and(query_exact(&[
            ("sort", "name"),
            ("response_mode", "default"),
        ]))
        .respond_with(reply(200, page(json!({"id": "tu_1", "name": "Unit 1"}))))
        .expect(1)
        .mount(&server)
        .await;
    let list = client
        .list_tracking_units()
        .sort("name")
        .response_mode(ResponseMode::Default)
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].id, Some("tu_1".into()));
    server.verify().await;
}

// Proves: reports are listed with filter[project_id][eq] and filter[status][eq], fetched, and PATCHed with `{"report": ...}`.
#[tokio::test]
async fn reports() {
    let (server, client) = setup().await;
    given("GET", "/reports")
        .and(query_exact(&[
            ("filter[project_id][eq]", "123"),
            ("filter[status][eq]", "complete"),
        ]))
        .respond_with(reply(
            200,
            page(json!({"id": "rpt_abc123def456", "status": "complete"})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/reports/rpt_abc123def456")
        .and(query_exact(&[]))
        .respond_with(reply(
            200,
            json!({"id": "rpt_abc123def456", "allocation": {"id": 1, "amount": 100.5}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("PATCH", "/reports/rpt_abc123def456")
        .and(body_json(json!({"report": {"name": "Updated Report Name", "batch_ids": ["bat_abc123def456", "bat_xyz789"]}})))
        .respond_with(reply(200, json!({"id": "rpt_abc123def456", "status": "draft", "allocation": null})))
        .expect(1)
        .mount(&server)
        .await;
    let list = client
        .list_reports()
        .filter_project_id_eq(123)
        .filter_status_eq("complete")
        .send()
        .await
        .unwrap();
    assert_eq!(list.data[0].status, Some(ReportStatus::Complete));
    let report = client
        .get_report()
        .report_id("rpt_abc123def456")
        .send()
        .await
        .unwrap();
    assert_eq!(
        report.allocation.as_ref().and_then(|a| a.amount),
        Some(100.5)
    );
    let body = types::ReportRequest::builder().report(
        types::ReportInput::builder()
            .name("Updated Report Name".to_string())
            .batch_ids(vec![
                "bat_abc123def456".to_string(),
                "bat_xyz789".to_string(),
            ]),
    );
    let updated = client
        .update_report()
        .report_id("rpt_abc123def456")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status, Some(ReportStatus::Draft));
    assert_eq!(updated.allocation, None);
    server.verify().await;
}

// Proves: orders are listed and fetched by integer id, deliveries decoded.
#[tokio::test]
async fn orders() {
    let (server, client) = setup().await;
    given("GET", "/orders")
        .and(query_exact(&[("page", "3")]))
        .respond_with(reply(
            200,
            page(json!({"id": 1529, "order_status": "COMPLETE"})),
        ))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/orders/1529")
        .and(query_exact(&[]))
        .respond_with(reply(200, json!({"id": 1529, "deliveries": [{"friendly_id": "dl_H8pvrPHBQ3Dd76oL", "quantity": 20}]})))
        .expect(1)
        .mount(&server)
        .await;
    let list = client.list_orders().page(3).send().await.unwrap();
    assert_eq!(list.data[0].order_status.as_deref(), Some("COMPLETE"));
    let order = client.get_order().order_id(1529).send().await.unwrap();
    assert_eq!(
        order.deliveries[0].friendly_id.as_deref(),
        Some("dl_H8pvrPHBQ3Dd76oL")
    );
    server.verify().await;
}

// Proves: POST /exports sends `{resource_type, format}` (201) and GET /exports/{id} percent-encodes the id.
#[tokio::test]
async fn exports() {
    let (server, client) = setup().await;
    given("POST", "/exports")
        .and(body_json(json!({"resource_type": "Delivery", "format": "json"})))
        .respond_with(reply(201, json!({"id": "exp_D1", "status": "pending", "status_url": "https://app.gomangrove.com/api/v1/exports/exp_D1"})))
        .expect(1)
        .mount(&server)
        .await;
    given("GET", "/exports/exp%20A%2FB")
        .and(query_exact(&[]))
        .respond_with(reply(200, json!({"id": "exp A/B", "status": "completed", "download_url": "https://storage.example/f.json", "format": "json"})))
        .expect(1)
        .mount(&server)
        .await;
    let created = client
        .create_export()
        .body(
            types::CreateExportRequest::builder()
                .resource_type(mangrove::ResourceType::Delivery)
                .format(ExportFormat::Json),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.status.clone(), Some(ExportStatus::Pending));
    let status = client
        .get_export()
        .export_id("exp A/B")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status, Some(ExportStatus::Completed));
    assert_eq!(
        status.download_url.as_deref(),
        Some("https://storage.example/f.json")
    );
    server.verify().await;
}

// Proves: with AuthScheme::Bare the token is sent alone (no `Bearer ` prefix), once.
#[tokio::test]
async fn bare_auth_scheme_sends_the_token_alone() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("/exports/exp_1")))
        .and(header("authorization", TOKEN))
        .and(header("user-agent", user_agent().as_str()))
        .respond_with(reply(200, json!({"id": "exp_1"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .token(TOKEN)
        .base_url(base_url(&server))
        .auth_scheme(AuthScheme::Bare)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let export = client.get_export().export_id("exp_1").send().await.unwrap();
    assert_eq!(export.id, "exp_1");
    server.verify().await;
}

// Proves: the default scheme is Bearer (explicitly and by default) and a trailing `/` on the base URL does not double the slash.
#[tokio::test]
async fn bearer_is_the_default_scheme() {
    let server = MockServer::start().await;
    given("GET", "/exports/exp_1")
        .respond_with(reply(200, json!({"id": "exp_1"})))
        .expect(2)
        .mount(&server)
        .await;
    let implicit = Client::builder()
        .token(TOKEN)
        .base_url(format!("{}/", base_url(&server)))
        .build()
        .unwrap();
    let explicit = Client::builder()
        .token(TOKEN)
        .base_url(base_url(&server))
        .auth_scheme(AuthScheme::Bearer)
        .build()
        .unwrap();
    implicit
        .get_export()
        .export_id("exp_1")
        .send()
        .await
        .unwrap();
    explicit
        .get_export()
        .export_id("exp_1")
        .send()
        .await
        .unwrap();
    server.verify().await;
}
