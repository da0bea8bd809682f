//! A service awaiting many exports at once on one client, under the account's limit of five
//! exports in flight.
//!
//! Every export is a `tokio::spawn`ed task on one shared `Client` (an `Export` owns a cheap clone
//! of the client, so it is `Send + 'static`). The client's export limiter (5 by default,
//! `ClientBuilder::export_concurrency`) makes the sixth `send()` wait until one of the five running
//! exports has ended, so the server never answers "export limit reached". The example counts the
//! exports it has started and not yet seen end, prints a line per completion and a summary; on the
//! fake server it also prints the fake's own count of exports in flight at once.
//!
//! ```text
//! cargo run --example concurrent_exports -- [--count N]   (default 20)
//! ```
//!
//! In the SDK's repository the `testing` feature (the embedded fake) is on for examples; from the
//! crate's source package (e.g. `~/.cargo/registry/src/*/mangrove-*/`) add `--features testing`.
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API);
//! without it, it starts the embedded fake server and says so. On failure it prints the typed
//! error's message and exits non-zero.

use mangrove::prelude::*;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mangrove::{ExportError, PollPolicy};
use tokio::task::JoinSet;

mod common;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let count = match args.as_slice() {
        [] => 20,
        [flag, n] if flag == "--count" => match n.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("error: --count must be a positive number, not {n:?}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: cargo run --example concurrent_exports -- [--count N]");
            return ExitCode::from(2);
        }
    };
    match run(count).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exports started and not yet seen to end, and the most at any time.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    fn start(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn end(&self) -> usize {
        self.now.fetch_sub(1, Ordering::SeqCst) - 1
    }
}

async fn run(count: usize) -> Result<(), Box<dyn std::error::Error>> {
    // Keep the fake (if any) alive until the end.
    let (client, fake) = common::connect(200).await?;
    // The fake completes an export on its second poll: poll it often so the demo is quick. On
    // the real API the client's default policy (1 s doubling to 10 s, 30 min limit) applies.
    let policy = fake.as_ref().map(|_| {
        PollPolicy::default()
            .initial_delay(Duration::from_millis(50))
            .max_delay(Duration::from_millis(200))
    });

    let in_flight = Arc::new(InFlight::default());
    let began = Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0..count {
        let client = client.clone();
        let policy = policy.clone();
        let in_flight = in_flight.clone();
        tasks.spawn(async move {
            let mut start = client.list_projects().summary_with_export();
            if let Some(policy) = policy {
                start = start.poll_policy(policy);
            }
            // Waits for a free slot in the client's limiter, then starts the export.
            let (summary, export) = start.send().await?;
            in_flight.start();
            let completed = export.await;
            let still_running = in_flight.end();
            Ok::<_, ExportError>((n, summary.count, completed?, still_running))
        });
    }

    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok((n, rows, completed, still_running)) => println!(
                "export #{n:<3} {}  completed: {rows} rows, {} bytes, {} polls, {:.1?}  ({still_running} still running)",
                completed.id(),
                completed.file_size_bytes().unwrap_or(0),
                completed.polls(),
                completed.elapsed(),
            ),
            Err(e) => {
                failed += 1;
                eprintln!("an export failed: {e}");
            }
        }
    }
    println!(
        "{} of {count} exports completed in {:.1?}",
        count - failed,
        began.elapsed()
    );
    println!(
        "most exports in flight at once (counted here): {}",
        in_flight.max.load(Ordering::SeqCst)
    );
    if let Some(fake) = &fake {
        println!(
            "most exports in flight at once (the fake server's journal): {} (account limit 5)",
            fake.journal().max_exports_in_flight
        );
    }
    if failed > 0 {
        return Err(format!("{failed} of {count} exports failed").into());
    }
    Ok(())
}
