//! One way to pick an export's format and a list's response mode (issue 26, item 1): the list
//! builders have no `export_format` or `response_mode` setter (a compile-fail doc test in
//! `mangrove::open_enum` shows it); `.summary_with_export().format(..)` picks the format, in
//! every order its builder allows, and the request sent says so.

#[path = "common/fake.rs"]
mod fake;

use futures::StreamExt;
use mangrove::prelude::*;
use mangrove::testing::{FakeMangrove, TokenKind};
use mangrove::{Client, PollPolicy};

fn client_for(fake: &FakeMangrove) -> Client {
    fake.client_builder(TokenKind::Account)
        .poll_policy(fake::quick())
        .export_concurrency(None)
        .build()
        .unwrap()
}

/// The `export_format` and `response_mode` of the one list request sent so far.
fn sent(fake: &FakeMangrove, operation: &str) -> (Option<String>, Option<String>) {
    let journal = fake.journal();
    let requests = journal.requests_to(operation);
    assert_eq!(requests.len(), 1, "one request to {operation}");
    (
        requests[0].query_param("export_format"),
        requests[0].query_param("response_mode"),
    )
}

/// Waits for `export` and reads its file: the format the status reports and the first byte.
async fn file_of(export: mangrove::Export) -> (ExportFormat, u8) {
    let done = export.await.expect("the export completes");
    let format = done.format().cloned().expect("the status reports a format");
    let chunk = done
        .bytes_stream()
        .next()
        .await
        .expect("a non-empty file")
        .expect("the file downloads");
    let first = *chunk.first().expect("a non-empty chunk");
    (format, first)
}

// `.format(Json)` before or after `.poll_policy(..)`, after the filters and sort, and from
// `export_resource`: every order gives a JSON file, and the request says `export_format=json`.
#[tokio::test]
async fn format_json_in_every_order_gives_a_json_export() {
    type Start = fn(&Client) -> mangrove::export::StartExport<mangrove::request::ListBatches<'_>>;
    let orders: [(&str, Start); 3] = [
        ("format then poll_policy", |c| {
            c.list_batches()
                .sort("-id")
                .summary_with_export()
                .format(ExportFormat::Json)
                .poll_policy(fake::quick())
        }),
        ("poll_policy then format", |c| {
            c.list_batches()
                .filter_project_id_eq(1)
                .summary_with_export()
                .poll_policy(fake::quick())
                .format(ExportFormat::Json)
        }),
        ("csv then json: the last format wins", |c| {
            c.list_batches()
                .summary_with_export()
                .format(ExportFormat::Csv)
                .format(ExportFormat::Json)
        }),
    ];
    for (name, start) in orders {
        let fake = FakeMangrove::start().await;
        let client = client_for(&fake);
        let (_, export) = start(&client).send().await.expect(name);
        assert_eq!(
            sent(&fake, "list_batches"),
            (Some("json".into()), Some("summary_with_export".into())),
            "{name}"
        );
        assert_eq!(file_of(export).await, (ExportFormat::Json, b'['), "{name}");
    }

    let fake = FakeMangrove::start().await;
    let client = client_for(&fake);
    let export = client
        .export_resource(ResourceType::Delivery)
        .format(ExportFormat::Json)
        .send()
        .await
        .unwrap();
    assert_eq!(file_of(export).await, (ExportFormat::Json, b'['));
}

// Without `.format(..)` the export is CSV, and the request says so explicitly; `.summary()`
// sends `response_mode=summary` and no format.
#[tokio::test]
async fn defaults_csv_and_summary_sends_no_format() {
    let fake = FakeMangrove::start().await;
    let client = client_for(&fake);
    let (_, export) = client
        .list_batches()
        .summary_with_export()
        .poll_policy(PollPolicy::default())
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent(&fake, "list_batches"),
        (Some("csv".into()), Some("summary_with_export".into()))
    );
    let (format, first) = file_of(export.with_policy(fake::quick())).await;
    assert_eq!(format, ExportFormat::Csv);
    assert_ne!(first, b'[');

    let fake = FakeMangrove::start().await;
    let client = client_for(&fake);
    client.list_projects().summary().await.unwrap();
    assert_eq!(sent(&fake, "list_projects"), (None, Some("summary".into())));
}
