//! Helpers for tests against `FakeMangrove`, included with
//! `#[path = "common/fake.rs"] mod fake;` (not every test file uses every helper).
#![allow(dead_code)]

use mangrove::testing::{FakeMangrove, Resource, Schedule};
use mangrove::{Client, Export};

/// A fake whose exports follow `schedule`, with the default rows.
pub async fn fake_with(schedule: Schedule) -> FakeMangrove {
    FakeMangrove::builder().schedule(schedule).start().await
}

/// A fake with `rows` rows of `resource` (and the default rows of the others).
pub async fn fake_rows(resource: Resource, rows: u64) -> FakeMangrove {
    FakeMangrove::builder().rows(resource, rows).start().await
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
