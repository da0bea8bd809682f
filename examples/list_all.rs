//! Every page of a list, as a stream: pages are fetched lazily (`page`, `page_size`) until the
//! server says there is no next page, with rate limits respected and transient failures retried
//! on the way.
//!
//! Two views of the same walk, both methods of every list builder (trait
//! [`ListRequest`](mangrove::ListRequest), in scope with `use mangrove::prelude::*`):
//! `client.list_projects().page_size(100).items()` yields the items (what most code wants;
//! `try_collect` it into a `Vec`), and `.pages()` yields whole pages with their `info`. This
//! example walks the pages once, counting items and pages, then shows that `.items()` is lazy:
//! taking its first three items costs one request. One generic function, `walk`, serves every
//! resource.
//!
//! ```text
//! cargo run --example list_all -- [RESOURCE] [--page-size N]
//!     RESOURCE: projects (default), batches, ledgers, orders, models, reports, feedstocks,
//!               tracking_units, locations
//! ```
//!
//! In the SDK's repository the `testing` feature (the embedded fake) is on for examples; from the
//! crate's source package (e.g. `~/.cargo/registry/src/*/mangrove-*/`) add `--features testing`.
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API);
//! without it, it starts the embedded fake server and says so. On failure it prints the typed
//! error's message and exits non-zero.

use std::process::ExitCode;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use mangrove::prelude::*;

mod common;

const RESOURCES: [&str; 9] = [
    "projects",
    "batches",
    "ledgers",
    "orders",
    "models",
    "reports",
    "feedstocks",
    "tracking_units",
    "locations",
];

const USAGE: &str = "usage: cargo run --example list_all -- [RESOURCE] [--page-size N]
resources: projects (default), batches, ledgers, orders, models, reports, feedstocks,
           tracking_units, locations";

#[tokio::main]
async fn main() -> ExitCode {
    let mut resource = None;
    let mut page_size = 100u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--page-size" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => page_size = n,
                _ => {
                    eprintln!("error: --page-size needs a positive number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            flag if flag.starts_with('-') => {
                eprintln!("error: unknown option {flag}\n{USAGE}");
                return ExitCode::from(2);
            }
            name if resource.is_none() => resource = Some(name.to_string()),
            extra => {
                eprintln!("error: unexpected argument {extra:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let resource = resource.unwrap_or_else(|| "projects".to_string());
    if !RESOURCES.contains(&resource.as_str()) {
        eprintln!("error: unknown resource {resource:?}\n{USAGE}");
        return ExitCode::from(2);
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
    // Keep the fake (if any) alive until the end.
    let (client, _fake) = common::connect(2_345).await?;
    let n = page_size;
    match resource {
        "projects" => walk(client.list_projects().page_size(n)).await?,
        "batches" => walk(client.list_batches().page_size(n)).await?,
        "ledgers" => walk(client.list_ledgers().page_size(n)).await?,
        "orders" => walk(client.list_orders().page_size(n)).await?,
        "models" => walk(client.list_models().page_size(n)).await?,
        "reports" => walk(client.list_reports().page_size(n)).await?,
        "feedstocks" => walk(client.list_feedstocks().page_size(n)).await?,
        "tracking_units" => walk(client.list_tracking_units().page_size(n)).await?,
        "locations" => walk(client.list_locations().page_size(n)).await?,
        other => return Err(format!("unknown resource {other:?}\n{USAGE}").into()),
    }
    if let Some(limit) = client.rate_limit() {
        println!(
            "rate limit: {} of {} requests left in this window",
            limit.remaining, limit.limit
        );
    }
    Ok(())
}

/// Walks every page of any list request once, then takes the first items of its item stream.
async fn walk<'a, R: ListRequest<'a>>(request: R) -> Result<(), mangrove::Error> {
    let began = Instant::now();
    // Page by page: one request each, fetched as the stream is polled.
    let (pages, count, server_total) = request
        .clone()
        .pages()
        .try_fold(
            (0u64, 0u64, None),
            |(pages, items, total), page| async move {
                let page_total = page.info.as_ref().and_then(|info| info.total_items);
                Ok((
                    pages + 1,
                    items + page.items.len() as u64,
                    page_total.or(total),
                ))
            },
        )
        .await?;
    let unit = if pages == 1 { "page" } else { "pages" };
    println!(
        "{count} {} in {pages} {unit}, {:.1?}",
        R::RESOURCE,
        began.elapsed()
    );
    if let Some(total) = server_total {
        println!("the server counts {total} (info.total_items)");
    }

    // Item by item: the same walk flattened. It is lazy, so three items cost one request.
    let first: Vec<R::Item> = request.items().take(3).try_collect().await?;
    for item in &first {
        println!("  {}", describe(item));
    }
    Ok(())
}

/// The item's `id` and `name`, whatever its type (every item type is `Serialize`).
fn describe<T: serde::Serialize>(item: &T) -> String {
    match serde_json::to_value(item) {
        Ok(value) => {
            let field = |k: &str| value.get(k).map(ToString::to_string);
            match (field("id"), field("name")) {
                (Some(id), Some(name)) => format!("id {id}  name {name}"),
                (Some(id), None) => format!("id {id}"),
                _ => value.to_string().chars().take(100).collect(),
            }
        }
        Err(e) => format!("(cannot show: {e})"),
    }
}
