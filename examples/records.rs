//! Typed rows from an export file: export all batches, stream the file into
//! `mangrove::types::Batch` values (never the whole file in memory) and aggregate them.
//!
//! ```text
//! cargo run --example records -- [--format csv|json]
//! ```
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API);
//! without it, it starts the embedded fake server and says so.

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures::StreamExt;
use mangrove::records::RecordError;
use mangrove::{types, ExportFormat};

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
    let (client, _fake) = common::connect(1_000).await?;

    let (summary, export) = client
        .list_batches()
        .summary_with_export()
        .format(format)
        .send()
        .await?;
    println!("{} batches; exporting them as {format}", summary.count);
    let completed = export.await?;

    // One typed row at a time; a bad row is an error that names its row and the stream goes on.
    let mut rows = completed.records::<types::Batch>().await?;
    let (mut good, mut bad) = (0u64, 0u64);
    let mut balance = 0.0;
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(row) = rows.next().await {
        match row {
            Ok(batch) => {
                good += 1;
                balance += batch.ledger_balance.unwrap_or(0.0);
                let state = batch
                    .state
                    .map(|s| s.to_string())
                    .unwrap_or("unknown".into());
                *by_state.entry(state).or_default() += 1;
            }
            Err(e) if !e.is_fatal() => {
                bad += 1;
                eprintln!("skipping: {e}");
            }
            Err(e) => return Err(fatal(e)),
        }
    }
    println!("rows read       {good} (bad rows skipped: {bad})");
    println!("ledger balance  {balance:.3} in all");
    for (state, n) in &by_state {
        println!("  {state:<14}{n}");
    }
    Ok(())
}

/// A fatal record error (the file could not be read on) becomes the example's error.
fn fatal(e: RecordError) -> Box<dyn std::error::Error> {
    format!("reading the export file failed: {e}").into()
}
