//! The fake's exports: starting them, their lifecycle, files, URLs, retention, scopes and the
//! concurrency limit, through the generated client.

use std::time::Duration;

use mangrove::__wire::{ExportFormatQuery, ResponseModeQuery};
use mangrove::testing::{data, Collection, FakeMangrove, Schedule, TokenKind};
use mangrove::types::{self, ResponseMode};
use mangrove::ExportFormat;
use mangrove::{Client, ExportStatus};
use serde_json::Value;

#[path = "common/fake.rs"]
mod fake;
use fake::{fake_rows, fetch, plain};

const HOUR: Duration = Duration::from_secs(3600);

const FORBIDDEN: &str = "Export creation is restricted to account-level tokens; customer- and partner-scoped tokens cannot create exports.";

fn error<T: std::fmt::Debug>(
    r: Result<T, progenitor_client::Error<types::ApiError>>,
) -> progenitor_client::ResponseValue<types::ApiError> {
    match r {
        Err(progenitor_client::Error::ErrorResponse(e)) => e,
        other => panic!("expected an error response, got {other:?}"),
    }
}

/// The id and status URL of a started export.
struct Started {
    id: String,
    status_url: Option<String>,
}

async fn start(client: &Client, format: ExportFormat) -> Started {
    let body = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .export_format(format)
        .send()
        .await
        .unwrap()
        .into_inner();
    let export = body.export.expect("an export object");
    Started {
        id: export.id.expect("an export id"),
        status_url: export.status_url,
    }
}

async fn poll(client: &Client, id: &str) -> types::ExportJob {
    client
        .get_export()
        .export_id(id)
        .send()
        .await
        .unwrap()
        .into_inner()
}

fn status(export: &types::ExportJob) -> &str {
    export.status.as_ref().map_or("", ExportStatus::as_str)
}

#[tokio::test]
async fn summary_with_export_on_every_exportable_endpoint() {
    // One project: it owns all three rows of every collection under a project.
    let fake = FakeMangrove::builder()
        .default_rows(3)
        .rows(Collection::Projects, 1)
        .export_limit(None)
        .start()
        .await;
    let c = fake.client(TokenKind::Account);
    let mut ids = Vec::new();
    macro_rules! check {
        ($($call:expr),+ $(,)?) => {$({
            let body = $call.response_mode(ResponseMode::SummaryWithExport).send().await.unwrap().into_inner();
            let rows = if stringify!($call) == "c.list_projects()" { 1 } else { 3 };
            assert_eq!(body.count, Some(rows), "{}", stringify!($call));
            assert_eq!(body.samples.len(), rows as usize);
            assert_eq!(body.response_mode.as_deref(), Some("summary_with_export"));
            let export = body.export.expect(stringify!($call));
            let id = export.id.expect("export id");
            assert!(id.starts_with("exp_") && id.len() == 20, "{}", id);
            assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
            assert_eq!(export.status, Some(ExportStatus::Pending));
            assert_eq!(export.status_url, Some(format!("{}/exports/{}", fake.base_url(), id)));
            ids.push(id);
        })+};
    }
    check!(
        c.list_projects(),
        c.list_events().project_id(1),
        c.list_event_types().project_id(1),
        c.list_data_points().project_id(1),
        c.list_batches(),
        c.list_ledgers(),
        c.list_orders(),
        c.list_feedstocks(),
        c.list_tracking_units(),
        c.list_models(),
        c.list_reports(),
        c.list_locations(),
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12);

    // Not exportable: a plain summary, no export.
    let ledger = data::row(Collection::Ledgers, 0)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let body = c
        .list_ledger_batches()
        .ledger_id(ledger)
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap()
        .into_inner();
    // Ledger 0 of 3 owns ledger batch 0 of 3 (row i belongs to parent i % 3).
    assert_eq!(body.count, Some(1));
    assert_eq!(body.response_mode.as_deref(), Some("summary"));
    assert!(body.export.is_none());
    let model = data::row(Collection::Models, 0)["id"].clone();
    let body = c
        .list_model_runs()
        .model_id(model.as_str().unwrap())
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await;
    assert!(body.unwrap().into_inner().export.is_none());
}

#[tokio::test]
async fn lifecycle_after_polls_and_a_csv_file() {
    let fake = fake_rows(Collection::Projects, 25).await;
    let client = fake.client(TokenKind::Account);
    let export = start(&client, ExportFormat::Csv).await;

    let first = poll(&client, &export.id).await;
    assert_eq!(status(&first), "processing");
    assert!(
        first.download_url.is_none()
            && first.file_size_bytes.is_none()
            && first.completed_at.is_none()
    );
    assert_eq!(first.resource_type, Some(mangrove::ResourceType::Project));
    assert_eq!(first.format.as_ref().map(|f| f.as_str()), Some("csv"));
    assert!(first.created_at.is_some());
    assert_eq!(first.status_url, export.status_url);

    let done = poll(&client, &export.id).await;
    assert_eq!(status(&done), "completed");
    assert!(done.completed_at.is_some());
    let url = done.download_url.clone().unwrap();
    assert!(url.starts_with(&fake.storage().base_url()), "{url}");
    let size = done.file_size_bytes.unwrap();

    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(size as u64));
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len() as i64, size);
    let mut reader = csv::Reader::from_reader(&body[..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, data::columns(Collection::Projects));
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 25);
    assert_eq!(&records[0][0], "1");
    assert_eq!(
        &records[3][1],
        data::row(Collection::Projects, 3)["name"].as_str().unwrap()
    );

    assert_eq!(status(&poll(&client, &export.id).await), "completed");
    let journal = fake.journal();
    assert_eq!(journal.polls_of(&export.id), 3);
    assert!(journal.requests_to_storage_with_authorization().is_empty());
    assert_eq!(journal.downloads().len(), 1);
}

#[tokio::test]
async fn json_export_of_deliveries_by_resource_type() {
    let fake = fake_rows(Collection::Deliveries, 7).await;
    let client = plain(&fake, TokenKind::Account);
    let created = client
        .create_export()
        .body(types::CreateExportRequest {
            resource_type: mangrove::ResourceType::Delivery,
            format: Some(ExportFormat::Json),
        })
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created = created.into_inner();
    assert_eq!(created.status, Some(ExportStatus::Pending));
    assert_eq!(
        created.resource_type,
        Some(mangrove::ResourceType::Delivery)
    );
    assert_eq!(
        created.status_url,
        Some(format!("{}/exports/{}", fake.base_url(), created.id))
    );

    poll(&client, &created.id).await;
    let done = poll(&client, &created.id).await;
    assert_eq!(status(&done), "completed");
    assert_eq!(done.format.as_ref().map(|f| f.as_str()), Some("json"));
    let (code, body) = fetch(done.download_url.as_deref().unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(body.len() as i64, done.file_size_bytes.unwrap());
    let rows: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[2], Value::Object(data::row(Collection::Deliveries, 2)));

    for bad in ["Widget", "LedgerBatch", "delivery"] {
        let r = client
            .create_export()
            .body(types::CreateExportRequest {
                resource_type: mangrove::ResourceType::Unknown(bad.into()),
                format: None,
            })
            .send()
            .await;
        assert_eq!(error(r).status().as_u16(), 422, "{bad}");
    }
}

#[tokio::test(start_paused = true)]
async fn lifecycle_after_a_duration_on_the_paused_clock() {
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(Duration::from_secs(30)))
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let export = start(&client, ExportFormat::Csv).await;
    assert_eq!(status(&poll(&client, &export.id).await), "processing");
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(status(&poll(&client, &export.id).await), "processing");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = poll(&client, &export.id).await;
    assert_eq!(status(&done), "completed");
    let created = done.created_at.unwrap();
    assert_eq!((done.completed_at.unwrap() - created).num_seconds(), 30);

    // fake.advance moves the same clock.
    let second = start(&client, ExportFormat::Json).await;
    fake.advance(Duration::from_secs(31));
    let done = poll(&client, &second.id).await;
    assert_eq!(status(&done), "completed", "first poll after the deadline");
    assert_eq!(fake.journal().polls_of(&second.id), 1);
}

#[tokio::test]
async fn failed_exports_carry_an_error() {
    let fake = FakeMangrove::builder()
        .schedule_for(
            Collection::Projects,
            Schedule::FailAfterPolls {
                polls: 2,
                message: "Export failed: quota".into(),
            },
        )
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let export = start(&client, ExportFormat::Csv).await;
    assert_eq!(status(&poll(&client, &export.id).await), "processing");
    let failed = poll(&client, &export.id).await;
    assert_eq!(status(&failed), "failed");
    assert_eq!(failed.error.as_deref(), Some("Export failed: quota"));
    assert!(failed.download_url.is_none() && failed.file_size_bytes.is_none());

    // Other resources keep the default schedule.
    let body = client
        .list_orders()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap();
    let id = body.into_inner().export.unwrap().id.unwrap();
    poll(&client, &id).await;
    assert_eq!(status(&poll(&client, &id).await), "completed");
}

#[tokio::test]
async fn download_urls_expire_after_24_hours_and_each_status_presigns_a_new_one() {
    let fake = FakeMangrove::start().await;
    let client = fake.client(TokenKind::Account);
    let export = start(&client, ExportFormat::Csv).await;
    poll(&client, &export.id).await;
    let first = poll(&client, &export.id).await.download_url.unwrap();

    fake.advance(23 * HOUR);
    assert_eq!(fetch(&first).await.0, 200, "valid for 24 h");
    fake.advance(HOUR + Duration::from_secs(1));
    let (code, body) = fetch(&first).await;
    assert_eq!(code, 403, "expired: {}", String::from_utf8_lossy(&body));

    let fresh = poll(&client, &export.id).await.download_url.unwrap();
    assert_ne!(fresh, first);
    assert_eq!(fetch(&fresh).await.0, 200);
}

#[tokio::test]
async fn exports_are_gone_after_the_retention() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let export = start(&client, ExportFormat::Csv).await;
    poll(&client, &export.id).await;
    poll(&client, &export.id).await;

    fake.advance(7 * 24 * HOUR - HOUR);
    let url = poll(&client, &export.id).await.download_url.unwrap();
    assert_eq!(fetch(&url).await.0, 200);

    fake.advance(2 * HOUR);
    let gone = error(client.get_export().export_id(&export.id).send().await);
    assert_eq!(gone.status().as_u16(), 404);
    assert_eq!(gone.into_inner().message, "Record not found.");
    assert_eq!(
        fetch(&url).await.0,
        404,
        "the file was removed although the URL has not expired"
    );

    let unknown = error(
        client
            .get_export()
            .export_id("exp_0000000000000000")
            .send()
            .await,
    );
    assert_eq!(unknown.status().as_u16(), 404);
}

#[tokio::test]
async fn customer_and_partner_tokens_cannot_start_exports() {
    let fake = FakeMangrove::start().await;
    let account = fake.client(TokenKind::Account);
    let export = start(&account, ExportFormat::Csv).await;
    for kind in [TokenKind::Customer, TokenKind::Partner] {
        let c = plain(&fake, kind);
        let e = error(
            c.list_projects()
                .response_mode(ResponseMode::SummaryWithExport)
                .send()
                .await,
        );
        assert_eq!(e.status().as_u16(), 403);
        assert_eq!(e.into_inner().message, FORBIDDEN);

        let batch = data::row(Collection::Batches, 0)["id"].clone();
        let e = error(
            c.list_batch_evidences()
                .batch_id(batch.as_str().unwrap())
                .response_mode(ResponseMode::SummaryWithExport)
                .send()
                .await,
        );
        assert_eq!(
            e.status().as_u16(),
            403,
            "also on endpoints that cannot export"
        );

        let e = error(
            c.create_export()
                .body(types::CreateExportRequest {
                    resource_type: mangrove::ResourceType::Delivery,
                    format: None,
                })
                .send()
                .await,
        );
        assert_eq!(
            (e.status().as_u16(), e.into_inner().message.as_str()),
            (403, FORBIDDEN)
        );

        // Reading is allowed.
        let summary = c
            .list_projects()
            .response_mode(ResponseMode::Summary)
            .send()
            .await
            .unwrap();
        assert_eq!(summary.into_inner().count, Some(42));
        assert_eq!(poll(&c, &export.id).await.id, export.id);
    }
}

#[tokio::test]
async fn the_sixth_concurrent_export_gets_429() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(start(&client, ExportFormat::Csv).await.id);
    }
    let created = client
        .create_export()
        .body(types::CreateExportRequest {
            resource_type: mangrove::ResourceType::Delivery,
            format: None,
        })
        .send()
        .await
        .unwrap();
    ids.push(created.into_inner().id);

    let sixth = client
        .list_batches()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await;
    let e = error(sixth);
    assert_eq!(e.status().as_u16(), 429);
    let header = |name: &str| {
        e.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(header("retry-after").as_deref(), Some("5"));
    let remaining: u64 = header("ratelimit-remaining").unwrap().parse().unwrap();
    assert!(remaining > 0, "an export-limit 429 is not a rate-limit 429");
    assert_eq!(
        e.into_inner().message,
        "Export limit reached: at most 5 concurrent exports per account. Retry when one completes."
    );
    let post = client
        .create_export()
        .body(types::CreateExportRequest {
            resource_type: mangrove::ResourceType::Project,
            format: None,
        })
        .send()
        .await;
    assert_eq!(error(post).status().as_u16(), 429);

    // One finishes: a slot is free again.
    poll(&client, &ids[0]).await;
    assert_eq!(status(&poll(&client, &ids[0]).await), "completed");
    start(&client, ExportFormat::Csv).await;
    assert_eq!(fake.journal().max_exports_in_flight, 5);
}

#[tokio::test]
async fn export_limit_can_be_changed() {
    let fake = FakeMangrove::builder().export_limit(Some(1)).start().await;
    let client = plain(&fake, TokenKind::Account);
    start(&client, ExportFormat::Csv).await;
    let e = error(
        client
            .list_projects()
            .response_mode(ResponseMode::SummaryWithExport)
            .send()
            .await,
    );
    assert_eq!(e.status().as_u16(), 429);
    assert!(e.into_inner().message.contains("at most 1 concurrent"));
}

#[tokio::test]
async fn empty_exports_are_a_header_or_an_empty_array() {
    let fake = FakeMangrove::builder()
        .default_rows(0)
        .schedule(Schedule::AfterPolls(1))
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    for (format, expected) in [
        (
            ExportFormat::Csv,
            format!("{}\n", data::columns(Collection::Projects).join(",")),
        ),
        (ExportFormat::Json, "[]".to_string()),
    ] {
        let export = start(&client, format).await;
        let done = poll(&client, &export.id).await;
        assert_eq!(
            status(&done),
            "completed",
            "the first poll completes with AfterPolls(1)"
        );
        let (code, body) = fetch(done.download_url.as_deref().unwrap()).await;
        assert_eq!(code, 200);
        assert_eq!(String::from_utf8(body).unwrap(), expected);
        assert_eq!(done.file_size_bytes, Some(expected.len() as i64));
    }
}

#[tokio::test]
async fn an_external_export_takes_a_slot_until_it_finishes() {
    let fake = FakeMangrove::builder().export_limit(Some(2)).start().await;
    let client = plain(&fake, TokenKind::Account);
    let external = fake.start_external_export(Collection::Batches).unwrap();
    assert!(external.starts_with("exp_"));
    start(&client, ExportFormat::Csv).await;
    // The account's two slots: one taken from outside, one by the SDK.
    let e = error(
        client
            .list_projects()
            .response_mode(ResponseMode::SummaryWithExport)
            .send()
            .await,
    );
    assert_eq!(e.status().as_u16(), 429);
    assert!(e.into_inner().message.contains("Export limit reached"));
    assert_eq!(
        fake.start_external_export(Collection::Projects),
        Err(mangrove::testing::ExternalExportError::LimitReached { limit: 2 })
    );
    assert_eq!(fake.journal().max_exports_in_flight, 2);
    // No API request was journaled for the external start.
    assert_eq!(fake.journal().requests_to("create_export").len(), 0);

    // It is a real export: its status is served, and it completes with a file.
    assert_eq!(status(&poll(&client, &external).await), "processing");
    assert!(fake.finish_export(&external));
    assert!(!fake.finish_export(&external), "already ended");
    let done = poll(&client, &external).await;
    assert_eq!(status(&done), "completed");
    let (code, body) = fetch(done.download_url.as_deref().unwrap()).await;
    assert_eq!(code, 200);
    let header = format!("{}\n", data::columns(Collection::Batches).join(","));
    assert!(String::from_utf8(body).unwrap().starts_with(&header));

    // Its slot is free again.
    start(&client, ExportFormat::Csv).await;
    assert!(!fake.finish_export("exp_unknown"));
    assert_eq!(
        fake.start_external_export(Collection::ModelRuns),
        Err(mangrove::testing::ExternalExportError::NotExportable(
            Collection::ModelRuns
        ))
    );
}

#[tokio::test(start_paused = true)]
async fn an_external_export_follows_a_timed_schedule_by_itself() {
    let fake = FakeMangrove::builder()
        .export_limit(Some(1))
        .schedule(Schedule::After(Duration::from_secs(30)))
        .start()
        .await;
    let client = plain(&fake, TokenKind::Account);
    fake.start_external_export(Collection::Projects).unwrap();
    let refused = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await;
    assert_eq!(error(refused).status().as_u16(), 429);
    fake.advance(Duration::from_secs(30));
    start(&client, ExportFormat::Csv).await;
}
