//! How to test your own code against `mangrove::testing::FakeMangrove`.
//!
//! The first part of this file is "your" code: functions of an application that uses the SDK
//! (count, filter, rename then read back, export a filtered list, join two exports). The second
//! part tests them against the fake: each check starts a fake, gets a client, calls your code and
//! asserts on exact rows (the fake is a store: what you write is what you read, filters and
//! `sort` are honoured, and [`FakeMangrove::row`] tells what any row is), on typed errors after
//! an injected fault or with a token that may not export, and on the fake's journal of
//! requests. The checks run both ways:
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

use futures::TryStreamExt;
use mangrove::prelude::*;
use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::path::Path;
use std::process::ExitCode;

use mangrove::types::{Batch, Feedstock, LedgerInput, LedgerRequest};
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

/// The ids of a project's batches in `state`, newest first.
pub async fn batch_ids(
    client: &Client,
    project_id: i64,
    state: &str,
) -> Result<Vec<String>, mangrove::Error> {
    client
        .list_batches()
        .filter_project_id_eq(project_id)
        .filter_state_eq(state)
        .sort("-created_at")
        .items()
        .map_ok(|batch| batch.id)
        .try_collect()
        .await
}

/// Renames a ledger; answers the name the API then reads back.
pub async fn rename_ledger(
    client: &Client,
    ledger_id: &str,
    name: &str,
) -> Result<Option<String>, mangrove::Error> {
    let request = LedgerRequest {
        ledger: LedgerInput {
            name: Some(name.to_string()),
        },
    };
    client
        .update_ledger()
        .ledger_id(ledger_id)
        .body(request)
        .send()
        .await?;
    let ledger = client.get_ledger().ledger_id(ledger_id).send().await?;
    Ok(ledger.into_inner().name)
}

/// Any error of the functions below (an export's, a record's).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Exports one project's batches (a filtered list) and reads the file back as typed rows.
pub async fn export_project_batches(
    client: &Client,
    project_id: i64,
) -> Result<Vec<Batch>, BoxError> {
    let (_summary, export) = client
        .list_batches()
        .filter_project_id_eq(project_id)
        .summary_with_export()
        .format(ExportFormat::Json)
        .send()
        .await?;
    let file = export.await?;
    Ok(file.records::<Batch>().await?.try_collect().await?)
}

/// Batches per project, joined from two exports: batch → its feedstock → the feedstock's project.
pub async fn batches_per_project(client: &Client) -> Result<BTreeMap<i64, usize>, BoxError> {
    let batches = client
        .export_resource(ResourceType::Batch)
        .format(ExportFormat::Json)
        .send();
    let feedstocks = client
        .export_resource(ResourceType::Feedstock)
        .format(ExportFormat::Json)
        .send();
    // Both exports run at once (`Export` is `IntoFuture`: `.into_future()` makes it a future).
    let (batches, feedstocks) = tokio::try_join!(batches, feedstocks)?;
    let (batches, feedstocks) = tokio::try_join!(batches.into_future(), feedstocks.into_future())?;
    let feedstocks: Vec<Feedstock> = feedstocks.records().await?.try_collect().await?;
    let batches: Vec<Batch> = batches.records().await?.try_collect().await?;
    let project_of: BTreeMap<String, i64> = feedstocks
        .iter()
        .filter_map(|f| Some((f.id.as_ref()?.to_string(), f.project_id?)))
        .collect();
    let mut counts = BTreeMap::new();
    for batch in &batches {
        let project = batch
            .feedstocks
            .first()
            .and_then(|f| project_of.get(&f.id.as_ref()?.to_string()));
        if let Some(project) = project {
            *counts.entry(*project).or_insert(0) += 1;
        }
    }
    Ok(counts)
}

// ---------------------------------------------------------------------------------------------
// Your tests. Errors end a check through `?`, failed assertions panic: both fail the test.

mod checks {
    use std::time::Duration;

    use futures::TryStreamExt;
    use mangrove::prelude::*;

    use mangrove::testing::{Collection, FakeMangrove, Fault, TokenKind};
    use mangrove::{Client, ExportError, PollPolicy};
    use serde_json::{json, Value};

    use super::{
        batch_ids, batches_per_project, export_project_batches, export_projects, project_count,
        rename_ledger,
    };

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

    /// Every row of `collection` as the fake holds it (what any read returns).
    fn rows(fake: &FakeMangrove, collection: Collection) -> Vec<Value> {
        (0..fake.rows(collection))
            .filter_map(|i| fake.row(collection, i).map(Value::Object))
            .collect()
    }

    /// The project of a batch: its feedstock's `project_id` (batch → feedstock → project).
    fn project_of(batch: &Value) -> &Value {
        &batch["feedstocks"][0]["project_id"]
    }

    /// Your filter gets exactly the rows that match, in your order.
    pub async fn filters_batches() -> Outcome {
        // 5 projects share 60 batches (12 each).
        let fake = FakeMangrove::builder()
            .default_rows(60)
            .rows(Collection::Projects, 5)
            .start()
            .await;
        let client = fake.client(TokenKind::Account);
        let mut expected: Vec<Value> = rows(&fake, Collection::Batches)
            .into_iter()
            .filter(|b| project_of(b) == &json!(4) && b["state"] == json!("complete"))
            .collect();
        expected.sort_by(|a, b| b["created_at"].as_str().cmp(&a["created_at"].as_str()));
        let expected: Vec<&str> = expected.iter().filter_map(|b| b["id"].as_str()).collect();
        assert!(!expected.is_empty());
        assert_eq!(batch_ids(&client, 4, "complete").await?, expected);
        assert!(batch_ids(&client, 4, "no-such-state").await?.is_empty());
        Ok(())
    }

    /// What you write is what you read: through your code, and in the fake's own rows.
    pub async fn renames_a_ledger_and_reads_it_back() -> Outcome {
        let fake = FakeMangrove::start().await;
        let client = fake.client(TokenKind::Account);
        // System ledgers cannot be renamed (422): pick one that is not.
        let index = (0..fake.rows(Collection::Ledgers))
            .find(|i| {
                fake.row(Collection::Ledgers, *i)
                    .is_some_and(|l| l["system_ledger_type"].is_null())
            })
            .ok_or("no user ledger")?;
        let id = fake.row(Collection::Ledgers, index).ok_or("no row")?["id"].clone();
        let id = id.as_str().ok_or("string id")?;
        let name = rename_ledger(&client, id, "Biochar, 2025").await?;
        assert_eq!(name.as_deref(), Some("Biochar, 2025"));
        assert_eq!(
            fake.row(Collection::Ledgers, index).ok_or("no row")?["name"],
            json!("Biochar, 2025")
        );
        // Your list of ledgers shows it too; `reset` puts the seeded rows back.
        let listed: Vec<_> = client.list_ledgers().items().try_collect().await?;
        assert_eq!(
            listed[index as usize].name.as_deref(),
            Some("Biochar, 2025")
        );
        fake.reset();
        assert_ne!(
            fake.row(Collection::Ledgers, index).ok_or("no row")?["name"],
            json!("Biochar, 2025")
        );
        Ok(())
    }

    /// An export of a filtered list holds exactly the filtered rows.
    pub async fn exports_one_projects_batches() -> Outcome {
        let fake = FakeMangrove::builder()
            .default_rows(60)
            .rows(Collection::Projects, 5)
            .start()
            .await;
        let client = quick_polling_client(&fake)?;
        let expected: Vec<Value> = rows(&fake, Collection::Batches)
            .into_iter()
            .filter(|b| project_of(b) == &json!(2))
            .collect();
        assert_eq!(expected.len(), 12);
        let exported = export_project_batches(&client, 2).await?;
        let ids: Vec<&str> = exported.iter().map(|b| b.id.as_str()).collect();
        let expected_ids: Vec<&str> = expected.iter().filter_map(|b| b["id"].as_str()).collect();
        assert_eq!(ids, expected_ids);
        Ok(())
    }

    /// A join of two exports equals both the fake's rows and what the API answers per project.
    pub async fn counts_batches_per_project() -> Outcome {
        let fake = FakeMangrove::builder()
            .rows(Collection::Projects, 6)
            .rows(Collection::Feedstocks, 15)
            .rows(Collection::Batches, 50)
            .start()
            .await;
        let client = quick_polling_client(&fake)?;
        let joined = batches_per_project(&client).await?;
        let mut expected = std::collections::BTreeMap::new();
        for batch in rows(&fake, Collection::Batches) {
            let project = project_of(&batch).as_i64().ok_or("a project id")?;
            *expected.entry(project).or_insert(0) += 1;
        }
        assert_eq!(joined, expected);
        for (project, count) in &joined {
            let summary = client
                .list_batches()
                .filter_project_id_eq(*project)
                .summary()
                .await?;
            assert_eq!(summary.count, *count as u64, "project {project}");
        }
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

    #[tokio::test]
    async fn filters_batches() -> Outcome {
        checks::filters_batches().await
    }

    #[tokio::test]
    async fn renames_a_ledger_and_reads_it_back() -> Outcome {
        checks::renames_a_ledger_and_reads_it_back().await
    }

    #[tokio::test]
    async fn exports_one_projects_batches() -> Outcome {
        checks::exports_one_projects_batches().await
    }

    #[tokio::test]
    async fn counts_batches_per_project() -> Outcome {
        checks::counts_batches_per_project().await
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
        run_check("filters_batches", checks::filters_batches()).await,
        run_check(
            "renames_a_ledger_and_reads_it_back",
            checks::renames_a_ledger_and_reads_it_back(),
        )
        .await,
        run_check(
            "exports_one_projects_batches",
            checks::exports_one_projects_batches(),
        )
        .await,
        run_check(
            "counts_batches_per_project",
            checks::counts_batches_per_project(),
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
