//! Helpers for tests against `FakeMangrove`, included with
//! `#[path = "common/fake.rs"] mod fake;` (not every test file uses every helper).
#![allow(dead_code)]

use mangrove::prelude::*;
use std::time::Duration;

use mangrove::testing::{data, Collection, FakeMangrove, Schedule, TokenKind};
use mangrove::{
    Client, CompletedExport, DownloadPolicy, Export, ExportFormat, PollPolicy, RetryPolicy,
};

/// A fake whose exports follow `schedule`, with the default rows.
pub async fn fake_with(schedule: Schedule) -> FakeMangrove {
    FakeMangrove::builder().schedule(schedule).start().await
}

/// A fake with `rows` rows of `resource` (and the default rows of the others).
pub async fn fake_rows(resource: Collection, rows: u64) -> FakeMangrove {
    FakeMangrove::builder().rows(resource, rows).start().await
}

/// A client that reports every status as it is (no retries).
pub fn plain(fake: &FakeMangrove, kind: TokenKind) -> Client {
    fake.client_builder(kind)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("the fake's client builds")
}

/// Polls every few milliseconds, so real-clock tests stay short.
pub fn quick() -> PollPolicy {
    PollPolicy::default()
        .initial_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
}

/// Resumes at once (real time stays short); the stall time-out only matters on a paused clock.
pub fn tiny() -> DownloadPolicy {
    DownloadPolicy::default().resume_backoff(Duration::from_millis(1))
}

/// Starts an export of all projects with `client` (the summary is dropped).
pub async fn start_projects(client: &Client) -> Export {
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .expect("the export starts");
    export
}

/// A fake with `rows` projects and their completed export in `format`, read with a client that
/// downloads under `policy`.
pub async fn completed_projects(
    rows: u64,
    format: ExportFormat,
    policy: DownloadPolicy,
) -> (FakeMangrove, CompletedExport) {
    let fake = fake_rows(Collection::Projects, rows).await;
    let client = fake
        .client_builder(TokenKind::Account)
        .download_policy(policy)
        .build()
        .expect("the fake's client builds");
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .format(format)
        .poll_policy(quick())
        .send()
        .await
        .expect("the export starts");
    let completed = export.await.expect("the export completes");
    (fake, completed)
}

/// The bytes the fake serves for `rows` projects in `format`.
pub fn expected_projects(rows: u64, format: mangrove::ExportFormat) -> Vec<u8> {
    let mut out = Vec::new();
    data::render(Collection::Projects, rows, format, &mut out).expect("rendering into memory");
    out
}

/// GETs `url` with a plain reqwest client (no token): the status and the whole body.
pub async fn fetch(url: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::get(url).await.expect("storage reachable");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}
