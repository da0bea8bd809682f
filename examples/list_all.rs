//! Every page of a list as one `Stream`: pages are fetched lazily (`page`, `page_size`) until the
//! server says there is no next page; rate limits are respected on the way.
//!
//! ```text
//! cargo run --example list_all -- [projects|batches|orders|ledgers] [--page-size N]
//! ```
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API);
//! without it, it starts the embedded fake server and says so.

use std::process::ExitCode;
use std::time::Instant;

use futures::{Stream, TryStreamExt};

mod common;

#[tokio::main]
async fn main() -> ExitCode {
    let mut resource = "projects".to_string();
    let mut page_size = 100u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--page-size" {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => page_size = n,
                _ => {
                    eprintln!("error: --page-size needs a positive number");
                    return ExitCode::from(2);
                }
            }
        } else {
            resource = arg;
        }
    }
    match run(&resource, page_size).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(resource: &str, page_size: u32) -> Result<(), Box<dyn std::error::Error>> {
    let (client, _fake) = common::connect(2_345).await?;
    let began = Instant::now();
    let (items, first) = match resource {
        "projects" => {
            let s = client.list_projects().page_size(page_size).stream();
            count(s, |p| format!("project {} {:?}", p.id, p.name)).await?
        }
        "batches" => {
            let s = client.list_batches().page_size(page_size).stream();
            count(s, |b| format!("batch {} {:?}", b.id, b.state)).await?
        }
        "orders" => {
            let s = client.list_orders().page_size(page_size).stream();
            count(s, |o| format!("order {} {:?}", o.id, o.customer)).await?
        }
        "ledgers" => {
            let s = client.list_ledgers().page_size(page_size).stream();
            count(s, |l| format!("ledger {:?}", l.id)).await?
        }
        other => return Err(format!("unknown resource {other:?}").into()),
    };
    println!(
        "{items} {resource} in {:.1?} (page size {page_size})",
        began.elapsed()
    );
    if let Some(first) = first {
        println!("first: {first}");
    }
    if let Some(limit) = client.rate_limit() {
        println!(
            "rate limit: {} of {} requests left in this window",
            limit.remaining, limit.limit
        );
    }
    Ok(())
}

/// Walks the whole stream, counting items and describing the first one.
async fn count<T, S>(
    stream: S,
    describe: impl Fn(&T) -> String,
) -> Result<(u64, Option<String>), mangrove::Error>
where
    S: Stream<Item = Result<T, mangrove::Error>>,
{
    stream
        .try_fold((0u64, None), |(n, first), item| {
            let first = first.or_else(|| Some(describe(&item)));
            async move { Ok((n + 1, first)) }
        })
        .await
}
