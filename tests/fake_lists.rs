//! The fake's list endpoints, single-object reads, writes and authentication, through the
//! generated client.

use std::time::Instant;

use mangrove::__wire::ResponseModeQuery;
use mangrove::testing::{data, Collection, FakeMangrove, TokenKind};
use mangrove::types::{self, ResponseMode};
use mangrove::{AuthScheme, Client, RetryPolicy};
use serde_json::Value;

#[path = "common/fake.rs"]
mod fake;
use fake::{fake_rows, plain};

fn status<T: std::fmt::Debug>(
    r: Result<T, progenitor_client::Error<types::ApiError>>,
) -> (u16, String) {
    match r {
        Err(progenitor_client::Error::ErrorResponse(e)) => {
            (e.status().as_u16(), e.into_inner().message)
        }
        other => panic!("expected an error response, got {other:?}"),
    }
}

fn row_id(resource: Collection, index: u64) -> String {
    match &data::row(resource, index)["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test]
async fn twenty_five_rows_in_pages_of_ten() {
    let fake = fake_rows(Collection::Projects, 25).await;
    let client = fake.client(TokenKind::Account);
    let mut ids = Vec::new();
    for page in 1..=3 {
        let body = client
            .list_projects()
            .page(page)
            .page_size(10)
            .send()
            .await
            .unwrap()
            .into_inner();
        let info = body.info.expect("info in default mode");
        assert_eq!(info.current_page, Some(page));
        assert_eq!(info.page_size, Some(10));
        assert_eq!(info.total_items, Some(25));
        assert_eq!(info.total_pages, Some(3));
        assert_eq!(info.items, Some(body.data.len() as i64));
        assert_eq!(
            info.previous_page,
            if page == 1 { None } else { Some(page - 1) }
        );
        assert_eq!(
            info.next_page,
            if page == 3 { None } else { Some(page + 1) }
        );
        ids.extend(body.data.iter().map(|p| p.id));
    }
    assert_eq!(ids, (1..=25).collect::<Vec<i64>>());

    let first = client.list_projects().send().await.unwrap().into_inner();
    assert_eq!(first.data.len(), 10, "page_size defaults to 10");
    assert_eq!(
        first.data[0].name.as_deref(),
        data::row(Collection::Projects, 0)["name"].as_str()
    );

    let past = client
        .list_projects()
        .page(4)
        .page_size(10)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(past.data.is_empty());
    let info = past.info.unwrap();
    assert_eq!(info.next_page, None);
    assert_eq!(info.current_page, Some(4));
    assert_eq!(info.items, Some(0));
}

#[tokio::test]
async fn zero_and_one_row() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Ledgers, 0)
        .rows(Collection::Models, 1)
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let empty = client.list_ledgers().send().await.unwrap().into_inner();
    assert!(empty.data.is_empty());
    let info = empty.info.unwrap();
    assert_eq!(
        (info.total_items, info.next_page, info.previous_page),
        (Some(0), None, None)
    );
    assert_eq!(info.total_pages, Some(1));

    let one = client.list_models().send().await.unwrap().into_inner();
    assert_eq!(one.data.len(), 1);
    assert_eq!(one.data[0].id, row_id(Collection::Models, 0));
    assert_eq!(one.info.unwrap().next_page, None);
}

#[tokio::test]
async fn page_size_is_clamped_to_the_maximum() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Orders, 150)
        .page_size_max(100)
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let body = client
        .list_orders()
        .page_size(500)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.data.len(), 100);
    let info = body.info.unwrap();
    assert_eq!(info.page_size, Some(100));
    assert_eq!(info.next_page, Some(2));
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let (code, message) = status(client.list_projects().page(0).send().await);
    assert_eq!(code, 400);
    assert!(message.contains("page"), "{message}");
    assert_eq!(
        status(client.list_batches().page_size(0).send().await).0,
        400
    );
    assert_eq!(
        status(client.list_batches().page_size(-3).send().await).0,
        400
    );

    // Values the typed client cannot send.
    let http = reqwest::Client::new();
    for query in [
        "page=abc",
        "page_size=1.5",
        "response_mode=everything",
        "export_format=xml",
    ] {
        let resp = http
            .get(format!("{}/projects?{query}", fake.base_url()))
            .header("authorization", fake.token(TokenKind::Account))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["message"].is_string(), "{query}: {body}");
    }
}

#[tokio::test]
async fn summary_has_a_count_and_at_most_ten_samples() {
    let fake = FakeMangrove::builder()
        .rows(Collection::Feedstocks, 25)
        .rows(Collection::Reports, 3)
        .start()
        .await;
    let client = fake.client(TokenKind::Account);
    let body = client
        .list_feedstocks()
        .response_mode(ResponseMode::Summary)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.count, Some(25));
    assert_eq!(body.samples.len(), 10);
    assert_eq!(body.response_mode.as_deref(), Some("summary"));
    assert!(body.data.is_empty() && body.info.is_none() && body.export.is_none());
    assert_eq!(body.samples[9].id, Some(10.into()));

    let small = client
        .list_reports()
        .response_mode(ResponseMode::Summary)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(small.count, Some(3));
    assert_eq!(small.samples.len(), 3);
}

#[tokio::test]
async fn every_list_endpoint_decodes_in_default_and_summary_mode() {
    let fake = FakeMangrove::builder().default_rows(12).start().await;
    let c = fake.client(TokenKind::Account);
    let batch = row_id(Collection::Batches, 0);
    let ledger = row_id(Collection::Ledgers, 0);
    let model = row_id(Collection::Models, 0);
    // `$n` rows: 12 in a top-level list, 1 in a nested one (12 parents share 12 rows).
    macro_rules! check {
        ($n:expr; $($call:expr),+ $(,)?) => {$({
            let page = $call.page_size(5).send().await.unwrap().into_inner();
            assert_eq!(page.data.len(), ($n as usize).min(5), "{}", stringify!($call));
            assert_eq!(page.info.as_ref().and_then(|i| i.total_items), Some($n));
            let summary = $call.response_mode(ResponseMode::Summary).send().await.unwrap().into_inner();
            assert_eq!((summary.count, summary.samples.len()), (Some($n), ($n as usize).min(10)), "{}", stringify!($call));
        })+};
    }
    check!(
        12;
        c.list_projects(),
        c.list_locations(),
        c.list_batches(),
        c.list_ledgers(),
        c.list_models(),
        c.list_feedstocks(),
        c.list_tracking_units(),
        c.list_reports(),
        c.list_orders(),
    );
    check!(
        1;
        c.list_events().project_id(1),
        c.list_event_types().project_id(1),
        c.list_data_points().project_id(1),
        c.list_batch_evidences().batch_id(batch.as_str()),
        c.list_ledger_batches().ledger_id(ledger.as_str()),
        c.list_model_runs().model_id(model.as_str()),
    );
    assert_eq!(fake.journal().requests.len(), 30);
}

#[tokio::test]
async fn filters_and_sort_are_sent_and_honoured() {
    let fake = FakeMangrove::builder().default_rows(90).start().await;
    let client = fake.client(TokenKind::Account);
    let body = client
        .list_batches()
        .filter_project_id_eq(3)
        .filter_state_eq("complete")
        .sort("-created_at")
        .page_size(100)
        .send()
        .await
        .unwrap()
        .into_inner();
    // Batch i -> feedstock i % 90 -> project i % 90 % 90 + 1: project 3 has batch 2 only.
    let expected: Vec<String> = (0..fake.rows(Collection::Batches))
        .filter_map(|i| fake.row(Collection::Batches, i))
        .filter(|b| b["feedstocks"][0]["project_id"] == 3 && b["state"] == "complete")
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    let got: Vec<String> = body.data.iter().map(|b| b.id.clone()).collect();
    assert_eq!(got, expected);
    let journal = fake.journal();
    let request = journal.requests_to("list_batches")[0];
    assert_eq!(
        request.query_param("filter[state][eq]").as_deref(),
        Some("complete")
    );
}

#[tokio::test]
async fn a_million_rows_are_paged_lazily() {
    let fake = fake_rows(Collection::Projects, 1_000_000).await;
    let client = fake.client(TokenKind::Account);
    let started = Instant::now();
    let body = client
        .list_projects()
        .page(50_000)
        .page_size(20)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(body.data.len(), 20);
    assert_eq!(body.data[0].id, 999_981);
    assert_eq!(body.data[19].id, 1_000_000);
    let info = body.info.unwrap();
    assert_eq!((info.total_pages, info.next_page), (Some(50_000), None));
    let summary = client
        .list_projects()
        .response_mode(ResponseMode::Summary)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summary.count, Some(1_000_000));
    assert!(
        started.elapsed().as_secs_f64() < 2.0,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn single_objects_exist_for_seeded_ids_only() {
    let fake = FakeMangrove::builder().default_rows(5).start().await;
    let c = plain(&fake, TokenKind::Account);

    assert_eq!(
        c.get_project()
            .project_id(5)
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        5
    );
    assert_eq!(
        status(c.get_project().project_id(6).send().await),
        (404, "Record not found.".into())
    );

    let batch = row_id(Collection::Batches, 4);
    assert_eq!(
        c.get_batch()
            .batch_id(batch.as_str())
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        batch
    );
    assert_eq!(
        status(c.get_batch().batch_id("bat_abc123def456").send().await).0,
        404
    );
    assert_eq!(
        status(
            c.get_batch()
                .batch_id(row_id(Collection::Batches, 5))
                .send()
                .await
        )
        .0,
        404,
        "row 5 of 5"
    );

    let ledger = row_id(Collection::Ledgers, 2);
    assert_eq!(
        c.get_ledger()
            .ledger_id(ledger.as_str())
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        ledger
    );
    assert_eq!(
        status(c.get_ledger().ledger_id("lgr_abc123def456").send().await).0,
        404
    );

    let model = row_id(Collection::Models, 1);
    assert_eq!(
        c.get_model()
            .model_id(model.as_str())
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        model
    );
    assert_eq!(
        status(c.get_model().model_id("mdl_nope").send().await).0,
        404
    );

    let report = row_id(Collection::Reports, 0);
    assert_eq!(
        c.get_report()
            .report_id(report.as_str())
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        report
    );
    assert_eq!(
        status(c.get_report().report_id("rpt_abc123").send().await).0,
        404
    );

    assert_eq!(
        c.get_order()
            .order_id(3)
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        3
    );
    assert_eq!(status(c.get_order().order_id(0).send().await).0, 404);

    let event = row_id(Collection::Events, 0);
    let got = c
        .get_event()
        .project_id(1)
        .event_id(event.as_str())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, event);
    // Data point 1 belongs to project 2 (row i belongs to project i % 42 + 1).
    let point = row_id(Collection::DataPoints, 1);
    let got = c
        .get_data_point()
        .project_id(2)
        .event_id(event.as_str())
        .data_point_id(point.as_str())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.id, point);
    let elsewhere = c
        .get_data_point()
        .project_id(1)
        .event_id(event.as_str())
        .data_point_id(point.as_str())
        .send()
        .await;
    assert_eq!(status(elsewhere).0, 404, "another project's data point");
    assert_eq!(
        c.get_model_run()
            .model_run_id(2)
            .send()
            .await
            .unwrap()
            .into_inner()
            .id,
        Some(2)
    );
    assert_eq!(
        status(c.get_model_run().model_run_id(99).send().await).0,
        404
    );
}

#[tokio::test]
async fn writes_are_validated_and_answered() {
    let fake = FakeMangrove::builder().default_rows(50).start().await;
    let c = plain(&fake, TokenKind::Account);
    let created = c
        .create_event()
        .project_id(1)
        .body(types::EventRequest {
            event: types::EventInput {
                event_type: Some("feedstock-delivery".into()),
                start_time: Some("2025-01-15T10:00:00Z".parse().unwrap()),
                end_time: Some("2025-01-15T12:00:00Z".parse().unwrap()),
                tracking_id: Some("T-1".into()),
                ..Default::default()
            },
        })
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let created = created.into_inner();
    assert!(created.id.starts_with("evt_"));
    assert_eq!(created.tracking_id.as_deref(), Some("T-1"));
    assert_eq!(created.slug.as_deref(), Some("feedstock-delivery"));

    let missing = c
        .create_event()
        .project_id(1)
        .body(types::EventRequest {
            event: types::EventInput::default(),
        })
        .send()
        .await;
    assert_eq!(status(missing).0, 422);

    // Only draft reports can be updated.
    let (draft, done) = {
        let status_of = |i| {
            data::row(Collection::Reports, i)["status"]
                .as_str()
                .map(str::to_string)
        };
        let draft = (0..50)
            .find(|i| status_of(*i).as_deref() == Some("draft"))
            .unwrap();
        let done = (0..50)
            .find(|i| status_of(*i).as_deref() != Some("draft"))
            .unwrap();
        (
            row_id(Collection::Reports, draft),
            row_id(Collection::Reports, done),
        )
    };
    let body = || types::ReportRequest {
        report: types::ReportInput {
            name: Some("Renamed".into()),
            batch_ids: vec![],
        },
    };
    let updated = c
        .update_report()
        .report_id(draft.as_str())
        .body(body())
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name.as_deref(), Some("Renamed"));
    let (code, message) = status(
        c.update_report()
            .report_id(done.as_str())
            .body(body())
            .send()
            .await,
    );
    assert_eq!(
        (code, message.as_str()),
        (422, "Only draft reports can be updated.")
    );

    let export = c
        .create_batch_generation()
        .ledger_id(row_id(Collection::Ledgers, 0))
        .body(types::GenerationRequest {
            start_time: "2025-01-01T00:00:00Z".parse().unwrap(),
            end_time: "2025-03-31T00:00:00Z".parse().unwrap(),
            data_point_ids: vec![],
            batch_amounts: vec![],
        })
        .send()
        .await
        .unwrap();
    assert_eq!(export.status().as_u16(), 202);
    assert!(c
        .get_model_schema()
        .model_id(row_id(Collection::Models, 0))
        .send()
        .await
        .is_ok());
    assert!(c
        .get_ledger_required_inputs()
        .ledger_id(row_id(Collection::Ledgers, 0))
        .send()
        .await
        .is_ok());
}

#[tokio::test]
async fn tokens_bare_or_bearer_and_401_otherwise() {
    let fake = FakeMangrove::start().await;
    for kind in TokenKind::ALL {
        fake.client(kind).list_projects().send().await.unwrap();
        fake.client_builder(kind)
            .auth_scheme(AuthScheme::Bare)
            .build()
            .unwrap()
            .list_projects()
            .send()
            .await
            .unwrap();
    }
    let stranger = Client::builder()
        .base_url(fake.base_url())
        .token("not-a-fake-token")
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    assert_eq!(
        status(stranger.list_projects().send().await),
        (401, "Unauthorized".into())
    );

    let anonymous = reqwest::get(format!("{}/projects", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(
        anonymous.json::<Value>().await.unwrap()["message"],
        "Unauthorized"
    );

    let journal = fake.journal();
    let seen: Vec<Option<&str>> = journal.requests.iter().map(|r| r.authorization()).collect();
    assert_eq!(seen[0], Some("Bearer fake-mangrove-account-token"));
    assert_eq!(seen[1], Some("fake-mangrove-account-token"));
    assert_eq!(seen[6], Some("Bearer not-a-fake-token"));
    assert_eq!(seen[7], None);
    assert_eq!(journal.requests_with_status(401).len(), 2);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let fake = FakeMangrove::start().await;
    let http = reqwest::Client::new();
    let token = fake.token(TokenKind::Account);
    let get = http
        .get(format!("{}/nothing", fake.base_url()))
        .header("authorization", token);
    assert_eq!(get.send().await.unwrap().status().as_u16(), 404);
    let delete = http
        .delete(format!("{}/projects", fake.base_url()))
        .header("authorization", token);
    assert_eq!(delete.send().await.unwrap().status().as_u16(), 405);
}
