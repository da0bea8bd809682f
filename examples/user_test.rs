//! How to test your own code against `mangrove::testing::FakeMangrove`.
//!
//! The first part of this file is "your" code: two functions of an application that uses the
//! SDK. The second part tests them against the fake: each check starts a fake, gets a client,
//! calls your code and asserts: on results, on typed errors after an injected fault or with a
//! token that may not export, and on the fake's journal of requests. The checks run both ways:
//!
//! ```text
//! cargo test --example user_test     # as #[tokio::test]s, as they would in your tests/*.rs
//! cargo run --example user_test      # as a program that prints one line per check
//! ```
//!
//! In your crate, put `mangrove = { version = "…", features = ["testing"] }` (and `tempfile`,
//! `csv`, `tokio` with `macros` and `rt-multi-thread`) under `[dev-dependencies]`, and write the
//! bodies of the checks straight into `#[tokio::test]` functions in `tests/*.rs`. No token and no
//! network are needed: the fake listens on 127.0.0.1.

use mangrove::prelude::*;
use std::path::Path;
use std::process::ExitCode;

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
// Your tests. Errors end a check through `?`, failed assertions panic: both fail the test.

mod checks {
    use std::time::Duration;

    use mangrove::testing::{Collection, FakeMangrove, Fault, TokenKind};
    use mangrove::{Client, ExportError, PollPolicy};

    use super::{export_projects, project_count};

    pub type Outcome = Result<(), Box<dyn std::error::Error + Send + Sync>>;

    /// The whole test: start the fake, get a client, call your code, assert.
    pub async fn counts_projects() -> Outcome {
        let fake = FakeMangrove::start().await;
        let client = fake.client(TokenKind::Account);
        assert_eq!(
            project_count(&client).await?,
            fake.rows(Collection::Projects)
        );
        Ok(())
    }

    /// A 503 is retried by the client, so your code never sees it; the journal shows it happened.
    pub async fn survives_a_503() -> Outcome {
        let fake = FakeMangrove::start().await;
        fake.inject(Fault::on("GET /projects").status(503));
        let client = fake.client(TokenKind::Account);
        assert_eq!(project_count(&client).await?, 42);
        let journal = fake.journal();
        assert_eq!(journal.requests_with_status(503).len(), 1);
        assert_eq!(journal.requests_to("list_projects").len(), 2);
        Ok(())
    }

    /// A 500 is not retried: your code reports it, with the status and the server's message.
    pub async fn reports_a_500() -> Outcome {
        let fake = FakeMangrove::start().await;
        fake.inject(Fault::on("GET /projects").status(500));
        let client = fake.client(TokenKind::Account);
        let err = project_count(&client).await.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
        assert_eq!(err.message(), Some("Internal Server Error"));
        Ok(())
    }

    /// Customer-scoped tokens cannot export: your code gets a typed `Forbidden`, and no file.
    pub async fn customer_token_cannot_export() -> Outcome {
        let fake = FakeMangrove::start().await;
        let client = fake.client(TokenKind::Customer);
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("projects.csv");
        let err = export_projects(&client, &path).await.unwrap_err();
        assert!(matches!(err, ExportError::Forbidden { .. }), "{err}");
        assert!(!path.exists());
        Ok(())
    }

    /// The export lands in full, and the API token never reached the storage host.
    pub async fn exports_every_project_and_token_stays_home() -> Outcome {
        let fake = FakeMangrove::builder()
            .rows(Collection::Projects, 300)
            .start()
            .await;
        let client = quick_polling_client(&fake)?;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("projects.csv");
        let bytes = export_projects(&client, &path).await?;
        // A header row and 300 records (some cells hold quoted line breaks, so count records).
        assert_eq!(csv::Reader::from_path(&path)?.records().count(), 300);
        assert_eq!(std::fs::metadata(&path)?.len(), bytes);
        let journal = fake.journal();
        let starts = journal.requests_to("list_projects");
        assert_eq!(starts.len(), 1);
        assert_eq!(
            starts[0].query_param("response_mode").as_deref(),
            Some("summary_with_export")
        );
        assert_eq!(journal.downloads().len(), 1);
        assert!(journal.requests_to_storage_with_authorization().is_empty());
        Ok(())
    }

    /// The fake completes an export on its second poll; a client that polls every 50 ms keeps
    /// tests fast without changing your code (which uses whatever client it is given).
    fn quick_polling_client(fake: &FakeMangrove) -> Result<Client, mangrove::Error> {
        let policy = PollPolicy::default()
            .initial_delay(Duration::from_millis(50))
            .max_delay(Duration::from_millis(50));
        fake.client_builder(TokenKind::Account)
            .poll_policy(policy)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::checks::{self, Outcome};

    #[tokio::test]
    async fn counts_projects() -> Outcome {
        checks::counts_projects().await
    }

    #[tokio::test]
    async fn survives_a_503() -> Outcome {
        checks::survives_a_503().await
    }

    #[tokio::test]
    async fn reports_a_500() -> Outcome {
        checks::reports_a_500().await
    }

    #[tokio::test]
    async fn customer_token_cannot_export() -> Outcome {
        checks::customer_token_cannot_export().await
    }

    #[tokio::test]
    async fn exports_every_project_and_token_stays_home() -> Outcome {
        checks::exports_every_project_and_token_stays_home().await
    }
}

/// Runs one check in a task of its own, so a failed assertion (a panic) is reported like an error.
async fn run_check(
    name: &str,
    check: impl std::future::Future<Output = checks::Outcome> + Send + 'static,
) -> bool {
    match tokio::spawn(check).await {
        Ok(Ok(())) => {
            println!("ok      {name}");
            true
        }
        Ok(Err(e)) => {
            eprintln!("FAILED  {name}: {e}");
            false
        }
        Err(e) => {
            eprintln!("FAILED  {name}: {e}");
            false
        }
    }
}

/// Runs the checks as a program: one line each, exit code 1 if any failed.
#[tokio::main]
async fn main() -> ExitCode {
    let results = [
        run_check("counts_projects", checks::counts_projects()).await,
        run_check("survives_a_503", checks::survives_a_503()).await,
        run_check("reports_a_500", checks::reports_a_500()).await,
        run_check(
            "customer_token_cannot_export",
            checks::customer_token_cannot_export(),
        )
        .await,
        run_check(
            "exports_every_project_and_token_stays_home",
            checks::exports_every_project_and_token_stays_home(),
        )
        .await,
    ];
    let failed = results.iter().filter(|ok| !**ok).count();
    if failed == 0 {
        println!("all {} checks passed", results.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("{failed} of {} checks failed", results.len());
        ExitCode::FAILURE
    }
}
