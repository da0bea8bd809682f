//! One test per sentence of the Mangrove exports overview (shared/reference/exports-overview.md),
//! run against the fake server through the SDK.

use mangrove::__wire::ResponseModeQuery;
use mangrove::prelude::*;
use std::time::Duration;

use mangrove::testing::{data, Collection, FakeMangrove, Schedule, TokenKind};
use mangrove::types::ResponseMode;
use mangrove::{Export, ExportError, ExportFormat, ExportStatus, Exportable};

#[path = "common/fake.rs"]
mod fake;
use fake::{fake_rows, fake_with, fetch, quick, start_projects};

// "Endpoints which return collections (e.g. /projects, /events) support async data exports via
// the response_mode query parameter."
#[tokio::test]
async fn collections_export_via_response_mode() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let (_, projects) = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let (_, events) = client
        .list_events()
        .project_id(1)
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let journal = fake.journal();
    for op in ["list_projects", "list_events"] {
        let req = journal.requests_to(op)[0];
        assert_eq!(
            req.query_param("response_mode").as_deref(),
            Some("summary_with_export")
        );
    }
    assert_ne!(projects.id(), events.id());
}

// "This lets you export full datasets without pagination limits."
#[tokio::test]
async fn export_contains_the_full_dataset_not_a_page() {
    let fake = fake_rows(Collection::Batches, 1_234).await;
    let client = fake.client(TokenKind::Account);
    let (summary, export) = client
        .list_batches()
        .page_size(10)
        .summary_with_export()
        .send()
        .await
        .unwrap();
    assert_eq!(summary.count, 1_234);
    let done = export.with_policy(quick()).await.unwrap();
    let (status, body) = fetch(done.download_url()).await;
    assert_eq!(status, 200);
    let lines = body.iter().filter(|b| **b == b'\n').count();
    // Header + one line per row (rows may contain quoted newlines, so at least that many).
    assert!(lines > 1_234, "{lines} lines for 1234 rows");
}

// "default: Standard paginated response"
#[tokio::test]
async fn default_mode_is_a_page() {
    let fake = fake_rows(Collection::Projects, 25).await;
    let client = fake.client(TokenKind::Account);
    let body = client
        .list_projects()
        .page_size(10)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), mangrove::summary::BodyKind::Page);
    let page = body.into_page();
    assert_eq!(page.items.len(), 10);
    assert_eq!(page.info.and_then(|i| i.next_page), Some(2));
}

// "summary: Returns a count and 10 samples, no pagination"
#[tokio::test]
async fn summary_mode_is_count_and_ten_samples() {
    let fake = fake_rows(Collection::Projects, 25).await;
    let client = fake.client(TokenKind::Account);
    let summary = client.list_projects().summary().await.unwrap();
    assert_eq!(summary.count, 25);
    assert_eq!(summary.samples.len(), 10);
    assert_eq!(summary.samples[0].id, 1);
    let journal = fake.journal();
    assert_eq!(
        journal.requests_to("list_projects")[0]
            .query_param("response_mode")
            .as_deref(),
        Some("summary")
    );
}

// "summary_with_export: Returns a summary and triggers an async CSV or JSON export"
#[tokio::test]
async fn summary_with_export_returns_summary_and_export() {
    let fake = fake_rows(Collection::Reports, 7).await;
    let client = fake.client(TokenKind::Account);
    let (summary, export) = client
        .list_reports()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    assert_eq!(summary.count, 7);
    assert_eq!(summary.samples.len(), 7);
    assert!(export.id().starts_with("exp_"));
}

// "export_format ... csv: Comma-separated values (default)"
#[tokio::test]
async fn csv_is_the_default_format() {
    let fake = fake_rows(Collection::Projects, 3).await;
    let client = fake.client(TokenKind::Account);
    let export = start_projects(&client).await;
    let done = export.with_policy(quick()).await.unwrap();
    assert_eq!(done.format().map(|f| f.as_str()), Some("csv"));
    let (_, body) = fetch(done.download_url()).await;
    let header = body.split(|b| *b == b'\n').next().unwrap();
    assert_eq!(
        String::from_utf8_lossy(header),
        data::columns(Collection::Projects).join(",")
    );
    assert_eq!(
        fake.journal().requests_to("list_projects")[0]
            .query_param("export_format")
            .as_deref(),
        Some("csv")
    );
}

// "json: JSON array of objects" / "?response_mode=summary_with_export&export_format=json"
#[tokio::test]
async fn json_format_is_an_array_of_objects() {
    let fake = fake_rows(Collection::Projects, 3).await;
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .format(ExportFormat::Json)
        .send()
        .await
        .unwrap();
    let done = export.with_policy(quick()).await.unwrap();
    let (_, body) = fetch(done.download_url()).await;
    let rows: Vec<mangrove::types::Project> = serde_json::from_slice(&body).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        fake.journal().requests_to("list_projects")[0]
            .query_param("export_format")
            .as_deref(),
        Some("json")
    );
}

// "When you request response_mode=summary_with_export, the response includes an export object"
// with id, status "pending" and status_url.
#[tokio::test]
async fn response_includes_export_object() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let body = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap()
        .into_inner();
    let export = body.export.expect("export object");
    let id = export.id.expect("export id");
    assert!(id.starts_with("exp_"));
    assert_eq!(export.status, Some(ExportStatus::Pending));
    assert_eq!(
        export.status_url.as_deref(),
        Some(format!("{}/exports/{}", fake.base_url(), id).as_str())
    );
}

// "Poll the status_url until status changes to completed. The response will then include a
// download_url" (+ file_size_bytes, format).
#[tokio::test]
async fn polling_ends_with_download_url_size_and_format() {
    let fake = fake_with(Schedule::AfterPolls(3)).await;
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_models()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let id = export.id().to_string();
    let done = export.with_policy(quick()).await.unwrap();
    assert_eq!(
        fake.journal().polls_of(&id),
        3,
        "polled until completed, not longer"
    );
    let (status, body) = fetch(done.download_url()).await;
    assert_eq!(status, 200);
    assert_eq!(Some(body.len() as u64), done.file_size_bytes());
    assert!(done.completed_at().is_some() && done.created_at().is_some());
}

// "The download_url is a temporary URL valid for 24 hours."
#[tokio::test]
async fn download_url_valid_for_24_hours() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_orders()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let done = export.with_policy(quick()).await.unwrap();
    fake.advance(Duration::from_secs(23 * 3600));
    assert_eq!(
        fetch(done.download_url()).await.0,
        200,
        "still valid after 23 h"
    );
    fake.advance(Duration::from_secs(2 * 3600));
    assert_eq!(
        fetch(done.download_url()).await.0,
        403,
        "expired after 25 h"
    );
    // A new status answer carries a fresh URL.
    let fresh = done.export().status().await.unwrap();
    let url = fresh.raw.download_url.expect("fresh url");
    assert_eq!(fetch(&url).await.0, 200);
}

async fn export_one<'a, R: Exportable<'a>>(
    request: R,
) -> Result<mangrove::CompletedExport, ExportError> {
    let (_, export) = request.summary_with_export().send().await?;
    export.with_policy(quick()).await
}

// "Supported Endpoints": the twelve list endpoints of the table produce a file.
#[tokio::test]
async fn every_supported_endpoint_produces_a_file() {
    let fake = FakeMangrove::builder()
        .default_rows(3)
        .export_limit(None)
        .start()
        .await;
    let c = fake.client(TokenKind::Account);
    let done = vec![
        export_one(c.list_projects()).await,
        export_one(c.list_events().project_id(1)).await,
        export_one(c.list_event_types().project_id(1)).await,
        export_one(c.list_data_points().project_id(1)).await,
        export_one(c.list_batches()).await,
        export_one(c.list_ledgers()).await,
        export_one(c.list_orders()).await,
        export_one(c.list_feedstocks()).await,
        export_one(c.list_tracking_units()).await,
        export_one(c.list_models()).await,
        export_one(c.list_reports()).await,
        export_one(c.list_locations()).await,
    ];
    assert_eq!(done.len(), 12);
    for d in done {
        let d = d.unwrap();
        assert!(d.file_size_bytes().unwrap() > 0);
    }
}

// "response_mode=summary (count plus 10 samples) works on more list endpoints than
// summary_with_export" — a ledger's batches have a summary (and `.summary_with_export()` does not
// compile on them; see the compile_fail doctest in `mangrove::resource`).
#[tokio::test]
async fn summary_works_on_non_exportable_lists() {
    // One ledger: it owns all 12 ledger batches (the fake serves a ledger's own batches only).
    let fake = FakeMangrove::builder()
        .rows(Collection::LedgerBatches, 12)
        .rows(Collection::Ledgers, 1)
        .start()
        .await;
    let ledger = data::row(Collection::Ledgers, 0)["id"].clone();
    let client = fake.client(TokenKind::Account);
    let summary = client
        .list_ledger_batches()
        .ledger_id(ledger.as_str().unwrap())
        .summary()
        .await
        .unwrap();
    assert_eq!(summary.count, 12);
    assert_eq!(summary.samples.len(), 10);
}

// "Requesting an export on an unsupported endpoint returns a summary without a file."
#[tokio::test]
async fn unsupported_endpoint_answers_summary_without_export() {
    // One model: it owns all 4 runs (the fake serves a model's own runs only).
    let fake = FakeMangrove::builder()
        .rows(Collection::ModelRuns, 4)
        .rows(Collection::Models, 1)
        .start()
        .await;
    let model = data::row(Collection::Models, 0)["id"].clone();
    let client = fake.client(TokenKind::Account);
    let body = client
        .list_model_runs()
        .model_id(model.as_str().unwrap())
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.kind(), mangrove::summary::BodyKind::Summary);
    assert_eq!(body.count, Some(4));
    assert!(body.export.is_none());
}

// ... and when an exportable endpoint does that, the SDK's error keeps the summary.
#[tokio::test]
async fn missing_export_object_is_not_supported_with_summary_kept() {
    use wiremock::matchers::{method, path};
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(method("GET"))
        .and(path("/projects"))
        .respond_with(
            wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "count": 3, "response_mode": "summary",
                "samples": [{"id": 1, "name": "A"}, {"id": 2, "name": "B"}, {"id": 3, "name": "C"}]
            })),
        )
        .mount(&server)
        .await;
    let client = mangrove::Client::builder()
        .token("t")
        .base_url(server.uri())
        .build()
        .unwrap();
    let err = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap_err();
    match err {
        ExportError::NotSupported { resource, summary } => {
            assert_eq!(resource, "projects");
            assert_eq!(summary.count, 3);
            let typed = summary.typed::<mangrove::types::Project>().unwrap();
            assert_eq!(typed.samples[2].name.as_deref(), Some("C"));
        }
        other => panic!("expected NotSupported, got {other:?}"),
    }
}

// "Deliveries are exportable by resource type (POST /exports with resource_type: "Delivery")"
#[tokio::test]
async fn deliveries_export_by_resource_type() {
    let fake = fake_rows(Collection::Deliveries, 5).await;
    let client = fake.client(TokenKind::Account);
    let export = client
        .export_resource(mangrove::ResourceType::Delivery)
        .format(ExportFormat::Json)
        .send()
        .await
        .unwrap();
    let done = export.with_policy(quick()).await.unwrap();
    let (_, body) = fetch(done.download_url()).await;
    let rows: Vec<mangrove::types::Delivery> = serde_json::from_slice(&body).unwrap();
    assert_eq!(rows.len(), 5);
    let journal = fake.journal();
    let create = journal.requests_to("create_export");
    assert_eq!(create.len(), 1);
    assert_eq!(create[0].method, "POST");
}

// "Export creation is restricted to account-level tokens. Customer- and partner-scoped tokens
// receive a 403 when requesting summary_with_export."
#[tokio::test]
async fn customer_and_partner_tokens_get_forbidden() {
    let fake = FakeMangrove::start().await;
    for kind in [TokenKind::Customer, TokenKind::Partner] {
        let client = fake.client(kind);
        let err = client
            .list_projects()
            .summary_with_export()
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ExportError::Forbidden { .. }),
            "{kind:?}: {err:?}"
        );
        assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
        let text = err.to_string();
        assert!(
            text.contains("account-level"),
            "message says what to do: {text}"
        );
        let err = client
            .export_resource(mangrove::ResourceType::Delivery)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, ExportError::Forbidden { .. }),
            "{kind:?} POST /exports: {err:?}"
        );
        // Reading is still fine.
        assert!(client.list_projects().summary().await.is_ok());
    }
}

// "Max 5 concurrent exports per account." — the client never has more than 5 in flight.
// Real clock with a quick policy: on a paused clock, the waiting starts' limiter checks let
// virtual time run ahead while the fake's thread answers, and pollers hit their time limit.
#[tokio::test]
async fn at_most_five_concurrent_exports() {
    let fake = FakeMangrove::builder()
        .default_rows(2)
        .schedule(Schedule::AfterPolls(3))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .poll_policy(quick())
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (_, export) = client.list_projects().summary_with_export().send().await?;
            export.await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let journal = fake.journal();
    assert_eq!(journal.polls.len(), 50, "50 exports ran");
    assert!(
        journal.max_exports_in_flight <= 5,
        "{} in flight",
        journal.max_exports_in_flight
    );
    assert_eq!(
        journal.max_exports_in_flight, 5,
        "and the limiter lets 5 run at once"
    );
    assert!(
        journal.requests_with_status(429).is_empty(),
        "never ran into the server's limit"
    );
}

// "Max 500 MB file size per export." The server fails an export over the limit; its reason
// reaches the caller.
#[tokio::test]
async fn oversized_export_failure_reason_is_surfaced() {
    let fake = FakeMangrove::builder()
        .schedule(Schedule::FailAfterPolls {
            polls: 2,
            message: "Export exceeds the 500 MB file size limit".into(),
        })
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_data_points()
        .project_id(1)
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let id = export.id().to_string();
    match export.with_policy(quick()).await {
        Err(ExportError::Failed {
            id: failed,
            message,
        }) => {
            assert_eq!(failed, id);
            assert!(message.contains("500 MB"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

// "Export records are cleaned up after 7 days."
#[tokio::test]
async fn cleaned_up_export_is_expired() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_feedstocks()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let saved = export.saved();
    fake.advance(Duration::from_secs(8 * 24 * 3600));
    let err = Export::attach(&client, saved.clone())
        .with_policy(quick())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExportError::Expired { id } if *id == saved.id),
        "{err:?}"
    );
}

/// Starts `POST /exports` with the resource type of an exportable list builder.
async fn export_by_type<'a, R: Exportable<'a>>(
    client: &mangrove::Client,
    _list: R,
) -> Result<Export, ExportError> {
    client.export_resource(R::RESOURCE_TYPE).send().await
}

// Every exportable list builder's `RESOURCE_TYPE` is a resource type the server takes in
// `POST /exports` (the fake answers the status object with the type it understood); `Delivery`
// too. A typo cannot be made into a `ResourceType` by parsing, so it never reaches the server.
#[tokio::test]
async fn every_resource_type_is_accepted_by_post_exports() {
    let fake = FakeMangrove::builder().export_limit(None).start().await;
    let client = fake
        .client_builder(TokenKind::Account)
        .export_concurrency(None)
        .build()
        .unwrap();
    let c = &client;
    let started = vec![
        export_by_type(c, c.list_projects()).await,
        export_by_type(c, c.list_events()).await,
        export_by_type(c, c.list_event_types()).await,
        export_by_type(c, c.list_data_points()).await,
        export_by_type(c, c.list_batches()).await,
        export_by_type(c, c.list_ledgers()).await,
        export_by_type(c, c.list_orders()).await,
        export_by_type(c, c.list_feedstocks()).await,
        export_by_type(c, c.list_tracking_units()).await,
        export_by_type(c, c.list_models()).await,
        export_by_type(c, c.list_reports()).await,
        export_by_type(c, c.list_locations()).await,
        client.export_resource(ResourceType::Delivery).send().await,
    ];
    let mut understood = Vec::new();
    for export in started {
        let export = export.expect("every known resource type is accepted");
        let status = export.status().await.unwrap();
        understood.push(
            status
                .raw
                .resource_type
                .expect("the fake echoes the type")
                .to_string(),
        );
    }
    assert_eq!(
        understood,
        [
            "Project",
            "Event",
            "EventType",
            "DataPoint",
            "Batch",
            "Ledger",
            "Order",
            "Feedstock",
            "TrackingUnit",
            "Model",
            "Report",
            "Location",
            "Delivery"
        ]
    );
    for name in &understood {
        assert_eq!(&name.parse::<ResourceType>().unwrap().to_string(), name);
    }
    assert!("Delivry".parse::<ResourceType>().is_err());
    assert_eq!(fake.journal().requests_to("create_export").len(), 13);
}
