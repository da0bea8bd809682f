//! Every fault the fake can inject, on the API side and on the storage origin, and the journal.

use std::time::{Duration, Instant};

use mangrove::__wire::{ExportFormatQuery, ResponseModeQuery};
use mangrove::testing::{FakeMangrove, Fault, FaultBody, StorageFault, TokenKind};
use mangrove::types::{self, ResponseMode};
use mangrove::Client;
use mangrove::ExportFormat;
use serde_json::Value;

#[path = "common/fake.rs"]
mod fake;
use fake::plain;

fn code<T: std::fmt::Debug>(r: Result<T, progenitor_client::Error<types::ApiError>>) -> u16 {
    match r {
        Err(e) => e
            .status()
            .map(|s| s.as_u16())
            .unwrap_or_else(|| panic!("no status: {e:?}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

async fn raw(fake: &FakeMangrove, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", fake.base_url()))
        .header("authorization", fake.token(TokenKind::Account))
        .send()
        .await
        .unwrap()
}

/// A completed CSV export of projects and its status answer.
async fn completed(fake: &FakeMangrove, client: &Client) -> types::ExportJob {
    let body = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .export_format(ExportFormat::Csv)
        .send()
        .await
        .unwrap()
        .into_inner();
    let id = body.export.unwrap().id.unwrap();
    client.get_export().export_id(&id).send().await.unwrap();
    let done = client
        .get_export()
        .export_id(&id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(
        done.download_url.is_some(),
        "{done:?} on {}",
        fake.base_url()
    );
    done
}

#[tokio::test]
async fn status_faults_apply_to_the_next_matching_requests_only() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let id = client
        .list_projects()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap()
        .into_inner()
        .export
        .unwrap()
        .id
        .unwrap();
    fake.inject(Fault::on("GET /exports").times(2).status(503));

    // Other methods and paths are not affected.
    let post = client
        .create_export()
        .body(types::CreateExportRequest {
            resource_type: mangrove::ResourceType::Delivery,
            format: None,
        })
        .send()
        .await;
    assert!(post.is_ok());
    client.list_projects().send().await.unwrap();

    match client.get_export().export_id(&id).send().await {
        Err(progenitor_client::Error::ErrorResponse(e)) => {
            assert_eq!(e.status().as_u16(), 503);
            assert_eq!(e.into_inner().message, "Service Unavailable");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(code(client.get_export().export_id(&id).send().await), 503);
    client.get_export().export_id(&id).send().await.unwrap();
    let journal = fake.journal();
    assert_eq!(journal.requests_with_status(503).len(), 2);
    assert_eq!(
        journal.polls_of(&id),
        1,
        "faulted requests do not reach the export"
    );
}

#[tokio::test]
async fn html_empty_and_custom_bodies() {
    let fake = FakeMangrove::start().await;
    fake.inject(Fault::on("list_projects").status(502).html_body());
    let resp = raw(&fake, "/projects").await;
    assert_eq!(resp.status().as_u16(), 502);
    assert_eq!(resp.headers()["content-type"], "text/html");
    assert!(resp.headers().contains_key("ratelimit-remaining"));
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<h1>502 Bad Gateway</h1>"));

    fake.inject(Fault::on("/projects").status(500).empty_body());
    let resp = raw(&fake, "/projects/1/events").await;
    assert_eq!(resp.status().as_u16(), 500);
    assert_eq!(resp.content_length(), Some(0));

    fake.inject(
        Fault::on("*")
            .status(429)
            .header("Retry-After", "7")
            .header("not a header name", "ignored")
            .json_body(serde_json::json!({"message": "Slow down", "code": 1})),
    );
    let resp = raw(&fake, "/ledgers").await;
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.json::<Value>().await.unwrap()["message"], "Slow down");

    // Through the generated client the status survives whatever the body.
    fake.inject(Fault::on("get_project").status(503).html_body());
    assert_eq!(
        code(
            plain(&fake, TokenKind::Account)
                .get_project()
                .project_id(1)
                .send()
                .await
        ),
        503
    );
    fake.inject(Fault::on("get_project").status(504).empty_body());
    assert_eq!(
        code(
            plain(&fake, TokenKind::Account)
                .get_project()
                .project_id(1)
                .send()
                .await
        ),
        504
    );
}

#[tokio::test]
async fn a_delay_holds_the_real_answer() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    fake.inject(Fault::on("get_project").delay(Duration::from_millis(300)));
    let started = Instant::now();
    let project = client
        .get_project()
        .project_id(2)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(project.id, 2);
    let started = Instant::now();
    client.get_project().project_id(2).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300), "only once");

    fake.inject(
        Fault::on("list_orders")
            .delay(Duration::from_millis(200))
            .status(503),
    );
    let started = Instant::now();
    assert_eq!(code(client.list_orders().send().await), 503);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn malformed_json_fails_to_decode() {
    let fake = FakeMangrove::start().await;
    fake.inject(Fault::on("GET /projects").times(2).malformed_json());
    match plain(&fake, TokenKind::Account)
        .list_projects()
        .send()
        .await
    {
        Err(progenitor_client::Error::InvalidResponsePayload(..)) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
    let resp = raw(&fake, "/projects").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).is_err());
    assert!(plain(&fake, TokenKind::Account)
        .list_projects()
        .send()
        .await
        .is_ok());
}

#[tokio::test]
async fn an_unknown_export_status_value() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let export = client
        .create_export()
        .body(types::CreateExportRequest {
            resource_type: mangrove::ResourceType::Project,
            format: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    fake.inject(Fault::export_status("expired"));
    let odd = client
        .get_export()
        .export_id(&export.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        odd.status,
        Some(mangrove::ExportStatus::Unknown("expired".into()))
    );
    let next = client
        .get_export()
        .export_id(&export.id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        next.status,
        Some(mangrove::ExportStatus::Completed),
        "the poll still counted"
    );
}

#[tokio::test]
async fn a_status_url_on_a_foreign_origin() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    fake.inject(Fault::foreign_status_url("http://127.0.0.2:9/"));
    let body = client
        .list_reports()
        .response_mode(ResponseMode::SummaryWithExport)
        .send()
        .await
        .unwrap()
        .into_inner();
    let export = body.export.unwrap();
    assert_eq!(
        export.status_url,
        Some(format!(
            "http://127.0.0.2:9/api/v1/exports/{}",
            export.id.unwrap()
        ))
    );
    let created = client
        .create_export()
        .body(types::CreateExportRequest {
            resource_type: mangrove::ResourceType::Report,
            format: None,
        })
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.status_url,
        Some(format!("{}/exports/{}", fake.base_url(), created.id))
    );
}

#[tokio::test]
async fn storage_faults_are_delegated_to_the_origin() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let done = completed(&fake, &client).await;
    let url = done.download_url.unwrap();
    let size = done.file_size_bytes.unwrap() as usize;
    let http = reqwest::Client::new();

    fake.inject(Fault::storage(StorageFault::Expired));
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 403);

    fake.inject(
        Fault::storage(StorageFault::Status {
            status: 503,
            body: FaultBody::Html,
        })
        .times(2),
    );
    for _ in 0..2 {
        assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 503);
    }

    fake.inject(Fault::storage(StorageFault::TruncateAfter(100)));
    assert!(
        http.get(&url).send().await.unwrap().bytes().await.is_err(),
        "truncated body"
    );

    fake.inject(Fault::storage(StorageFault::DropAfter(100)));
    let dropped = match http.get(&url).send().await {
        Ok(resp) => resp.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(dropped, "reset connection");

    fake.inject(Fault::storage(StorageFault::WrongContentLength(10)));
    assert!(
        http.get(&url).send().await.unwrap().bytes().await.is_err(),
        "body shorter than declared"
    );

    fake.inject(Fault::storage(StorageFault::WrongContentLength(-10)));
    let short = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(short.len(), size - 10);

    fake.inject(Fault::storage(StorageFault::Stall { after: 10 }));
    let resp = http.get(&url).send().await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), resp.bytes())
            .await
            .is_err(),
        "stalled"
    );

    fake.inject(Fault::storage(StorageFault::Redirect));
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.url().path().starts_with("/redirected/files/"));
    assert_eq!(resp.bytes().await.unwrap().len(), size);

    fake.inject(Fault::storage(StorageFault::IgnoreRange));
    let resp = http
        .get(&url)
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = http
        .get(&url)
        .header("range", "bytes=10-")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 206);

    let ok = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(ok.len(), size);
}

#[tokio::test]
async fn the_journal_shows_what_reached_the_api_and_the_storage() {
    let fake = FakeMangrove::start().await;
    let client = plain(&fake, TokenKind::Account);
    let done = completed(&fake, &client).await;
    let url = done.download_url.unwrap();
    reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    let journal = fake.journal();
    assert!(journal.requests_to_storage_with_authorization().is_empty());
    assert_eq!(journal.downloads().len(), 1);
    assert_eq!(journal.polls_of(&done.id), 2);
    assert_eq!(journal.max_exports_in_flight, 1);
    let list = journal.requests_to("list_projects")[0];
    assert_eq!(list.method, "GET");
    assert_eq!(list.path, "/api/v1/projects");
    assert_eq!(
        list.query_param("response_mode").as_deref(),
        Some("summary_with_export")
    );
    assert_eq!(
        list.authorization(),
        Some("Bearer fake-mangrove-account-token")
    );
    assert_eq!(list.status, 200);
    assert!(journal.requests.iter().all(|r| r.authorization().is_some()));

    // A client that leaks its token to the file host shows up (and the origin refuses it).
    let leaked = reqwest::Client::new()
        .get(&url)
        .header("authorization", "Bearer fake-mangrove-account-token")
        .send()
        .await
        .unwrap();
    assert_eq!(leaked.status().as_u16(), 400);
    assert_eq!(
        fake.journal()
            .requests_to_storage_with_authorization()
            .len(),
        1
    );
}
