//! Typed rows from an export file: export all batches, stream the file into
//! `mangrove::types::Batch` values (one at a time, never the whole file in memory) and aggregate
//! them: the total ledger balance, the number of batches per state, and the rows that did not
//! decode.
//!
//! ```text
//! cargo run --example records -- [--format csv|json]     (default csv)
//! ```
//!
//! In the SDK's repository the `testing` feature (the embedded fake) is on for examples; from the
//! crate's source package (e.g. `~/.cargo/registry/src/*/mangrove-*/`) add `--features testing`.
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API);
//! without it, it starts the embedded fake server and says so. On failure it prints the typed
//! error's message and exits non-zero.

use mangrove::prelude::*;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use mangrove::{types, ExportFormat, PollPolicy};

mod common;

#[tokio::main]
async fn main() -> ExitCode {
    let format = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => ExportFormat::Csv,
        [flag, value] if flag == "--format" && value == "csv" => ExportFormat::Csv,
        [flag, value] if flag == "--format" && value == "json" => ExportFormat::Json,
        _ => {
            eprintln!("usage: cargo run --example records -- [--format csv|json]");
            return ExitCode::from(2);
        }
    };
    match run(format).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(format: ExportFormat) -> Result<(), Box<dyn std::error::Error>> {
    // Keep the fake (if any) alive until the end.
    let (client, fake) = common::connect(1_000).await?;

    let mut start = client
        .list_batches()
        .summary_with_export()
        .format(format.clone());
    if fake.is_some() {
        // The fake finishes an export on its second poll: poll it quickly. On the real API the
        // client's default policy applies (1 s, doubling up to 10 s, 30 min in all).
        start = start.poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(100))
                .max_delay(Duration::from_millis(500)),
        );
    }
    let (summary, export) = start.send().await?;
    println!(
        "{} batches; export {} as {format} started",
        summary.count,
        export.id()
    );
    let completed = export.await?;

    // Typed rows straight from the download. A row that does not decode into `Batch` is an error
    // that names the row and the field; the stream goes on after it. A broken file (cut short,
    // invalid CSV/JSON) is a fatal error that ends the stream.
    let mut rows = completed.records::<types::Batch>().await?;
    let (mut good, mut bad, mut without_balance) = (0u64, 0u64, 0u64);
    let mut balance = 0.0;
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(row) = rows.next().await {
        match row {
            Ok(batch) => {
                good += 1;
                match batch.ledger_balance {
                    Some(b) => balance += b,
                    None => without_balance += 1,
                }
                let state = batch
                    .state
                    .map_or_else(|| "(none)".into(), |s| s.to_string());
                *by_state.entry(state).or_default() += 1;
            }
            Err(e) if !e.is_fatal() => {
                bad += 1;
                eprintln!("skipping: {e}");
            }
            Err(e) => return Err(format!("reading the export file failed: {e}").into()),
        }
    }

    println!("rows read       {good}");
    println!("bad rows        {bad}");
    println!("ledger balance  {balance:.3} in all ({without_balance} batches without one)");
    println!("batches per state:");
    for (state, n) in &by_state {
        println!("  {state:<14}{n}");
    }
    if good + bad != summary.count {
        eprintln!(
            "note: the file holds {} rows but the summary counted {} batches",
            good + bad,
            summary.count
        );
    }
    Ok(())
}
