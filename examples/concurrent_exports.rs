//! A service awaiting many exports at once on one client, under the account's limit of five
//! exports in flight: every export is a `tokio::spawn`ed task (an `Export` owns a cheap clone of
//! the client, so it is `Send + 'static`), and the client's limiter holds the sixth start until
//! one of the five running exports has completed.
//!
//! ```text
//! cargo run --example concurrent_exports -- [--count N]   (default 20)
//! ```
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API);
//! without it, it starts the embedded fake server and says so.

use std::process::ExitCode;
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

async fn run(count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let (client, fake) = common::connect(200).await?;
    // The fake completes an export on its second poll: poll it often so the demo is quick. On
    // the real API the client's default policy (1 s doubling to 10 s, 30 min limit) applies.
    let policy = fake.as_ref().map(|_| {
        PollPolicy::default()
            .initial_delay(Duration::from_millis(50))
            .max_delay(Duration::from_millis(200))
    });

    let began = Instant::now();
    let mut tasks = JoinSet::new();
    for n in 0..count {
        let client = client.clone();
        let policy = policy.clone();
        tasks.spawn(async move {
            // Waits for a free slot in the client's limiter, then starts the export.
            let mut start = client.list_projects().summary_with_export();
            if let Some(policy) = policy {
                start = start.poll_policy(policy);
            }
            let (summary, export) = start.send().await?;
            let completed = export.await?;
            Ok::<_, ExportError>((n, summary.count, completed))
        });
    }

    let mut failed = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined? {
            Ok((n, rows, completed)) => println!(
                "export #{n:<3} {}  {rows} rows  {} bytes  {} polls",
                completed.id(),
                completed.file_size_bytes().unwrap_or(0),
                completed.polls()
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
    if let Some(fake) = &fake {
        println!(
            "most exports in flight at once (fake server's journal): {} (limit 5)",
            fake.journal().max_exports_in_flight
        );
    }
    if failed > 0 {
        return Err(format!("{failed} exports failed").into());
    }
    Ok(())
}
