//! How to test your own code against `mangrove::testing::FakeMangrove`.
//!
//! The first half of this file is "your" code: two functions of an application that uses the
//! SDK. The second half tests them against the fake: each check starts a fake in one line, gets a
//! client, calls your code and asserts — on results, on typed errors after an injected fault, and
//! on the fake's journal of requests.
//!
//! ```text
//! cargo test --example user_test     # the checks as #[tokio::test]s, as in your own tests/
//! cargo run --example user_test      # the same checks as a program that prints one line each
//! ```
//!
//! In your crate: `mangrove = { version = "…", features = ["testing"] }` under
//! `[dev-dependencies]`, and the checks go into `tests/*.rs`.

use std::path::Path;

use mangrove::{Client, ExportError};

// ---------------------------------------------------------------------------------------------
// Your application's code.

/// How many projects the account has.
pub async fn project_count(client: &Client) -> Result<u64, mangrove::Error> {
    Ok(client.list_projects().summary().await?.count)
}

/// Exports every project as CSV to `path`; answers the number of bytes written.
pub async fn export_projects(client: &Client, path: &Path) -> Result<u64, ExportError> {
    let (_summary, export) = client.list_projects().summary_with_export().send().await?;
    let completed = export.await?;
    Ok(completed.download_to(path).await?.bytes)
}

// ---------------------------------------------------------------------------------------------
// Your tests.

mod checks {
    use mangrove::testing::{FakeMangrove, Fault, Resource, TokenKind};
    use mangrove::ExportError;

    use super::{export_projects, project_count};

    /// The five-line test: start the fake, get a client, call, assert.
    pub async fn counts_projects() {
        let fake = FakeMangrove::builder()
            .rows(Resource::Projects, 7)
            .start()
            .await;
        let client = fake.client(TokenKind::Account);
        assert_eq!(project_count(&client).await.unwrap(), 7);
    }

    /// A 503 from the API is retried by the client: your code never sees it.
    pub async fn survives_a_503() {
        let fake = FakeMangrove::start().await;
        fake.inject(Fault::on("GET /projects").status(503));
        let client = fake.client(TokenKind::Account);
        assert_eq!(project_count(&client).await.unwrap(), 42);
        assert_eq!(fake.journal().requests_with_status(503).len(), 1);
    }

    /// Customer-scoped tokens cannot export: your code gets a typed `Forbidden`.
    pub async fn customer_token_cannot_export() {
        let fake = FakeMangrove::start().await;
        let client = fake.client(TokenKind::Customer);
        let dir = tempfile::tempdir().unwrap();
        let err = export_projects(&client, &dir.path().join("p.csv"))
            .await
            .unwrap_err();
        assert!(matches!(err, ExportError::Forbidden { .. }), "{err}");
        assert!(!dir.path().join("p.csv").exists());
    }

    /// The export lands in full, and the API token never reached the storage host.
    pub async fn export_is_complete_and_token_stays_home() {
        let fake = FakeMangrove::builder()
            .rows(Resource::Projects, 300)
            .start()
            .await;
        let client = fake.client(TokenKind::Account);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let bytes = export_projects(&client, &path).await.unwrap();
        // A header row and 300 records (some fields hold quoted line breaks).
        let rows = csv::Reader::from_path(&path).unwrap().records().count();
        assert_eq!(rows, 300);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes);
        let journal = fake.journal();
        assert_eq!(journal.downloads().len(), 1);
        assert!(journal.requests_to_storage_with_authorization().is_empty());
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn counts_projects() {
        super::checks::counts_projects().await;
    }

    #[tokio::test]
    async fn survives_a_503() {
        super::checks::survives_a_503().await;
    }

    #[tokio::test]
    async fn customer_token_cannot_export() {
        super::checks::customer_token_cannot_export().await;
    }

    #[tokio::test]
    async fn export_is_complete_and_token_stays_home() {
        super::checks::export_is_complete_and_token_stays_home().await;
    }
}

/// Runs the checks as a program; a failed check panics, so the exit code is non-zero.
#[tokio::main]
async fn main() {
    checks::counts_projects().await;
    println!("ok  counts_projects");
    checks::survives_a_503().await;
    println!("ok  survives_a_503");
    checks::customer_token_cannot_export().await;
    println!("ok  customer_token_cannot_export");
    checks::export_is_complete_and_token_stays_home().await;
    println!("ok  export_is_complete_and_token_stays_home");
}
