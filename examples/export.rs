//! The main job: export one Mangrove resource to a file, or every exportable resource at once.
//!
//! ```text
//! cargo run --example export -- [resource] [--project ID] [--format csv|json] [--out PATH]
//! cargo run --example export -- --all [--project ID] [--format csv|json] [--out DIR]
//! ```
//!
//! In the SDK's repository the `testing` feature (the embedded fake) is on for examples; from the
//! crate's source package (e.g. `~/.cargo/registry/src/*/mangrove-*/`) add `--features testing`.
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API); without
//! it, it starts the embedded fake server and says so. It prints the count and a few samples,
//! shows the export's status while polling, downloads the file and prints a summary. On failure
//! it prints the typed error's message and exits non-zero.
//!
//! `--all` starts the export of every exportable resource plus deliveries at once: the client's
//! limiter lets 5 run and queues the rest, one progress line per export. With
//! `MANGROVE_REDIS_URL` and `MANGROVE_REDIS_NAMESPACE` set, the limiter shares the account's
//! slots through that Redis with every other process using the same namespace (run two copies
//! side by side: together they never run more than 5 exports).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mangrove::slots::{RedisSlotStore, SlotStore};
use std::sync::Arc;
mod common;

use mangrove::prelude::*;
use mangrove::{Export, Summary};

const USAGE: &str = "usage: cargo run --example export -- [resource, default projects] [--project ID] [--format csv|json] [--out PATH]
       cargo run --example export -- --all [--project ID] [--format csv|json] [--out DIR, default exports]
resources: projects, events*, event_types*, data_points*, batches, ledgers, orders, feedstocks,
           tracking_units, models, reports, locations, deliveries   (* need --project ID)";

/// Every resource `--all` exports (the three that need a project only with `--project` or on
/// the fake).
const ALL: [&str; 13] = [
    "projects",
    "events",
    "event_types",
    "data_points",
    "batches",
    "ledgers",
    "orders",
    "feedstocks",
    "tracking_units",
    "models",
    "reports",
    "locations",
    "deliveries",
];

struct Args {
    all: bool,
    resource: String,
    project: Option<i64>,
    format: ExportFormat,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut resource = None;
    let mut all = false;
    let mut project = None;
    let mut format = ExportFormat::Csv;
    let mut out = None;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--project" => {
                let v = value("--project")?;
                project = Some(
                    v.parse()
                        .map_err(|_| format!("--project must be a number, not {v:?}"))?,
                );
            }
            "--format" => {
                let v = value("--format")?;
                format = v
                    .parse()
                    .map_err(|_| format!("--format must be csv or json, not {v:?}"))?;
            }
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--all" => all = true,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            name if resource.is_none() => resource = Some(name.to_string()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    // No resource: export projects, so `cargo run --example export` alone does the main job.
    if all && resource.is_some() {
        return Err("--all exports every resource: name none".into());
    }
    let resource = resource.unwrap_or_else(|| "projects".to_string());
    Ok(Args {
        all,
        resource,
        project,
        format,
        out,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("error: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the export of any exportable list: one generic path for all twelve.
async fn start<'a, R: Exportable<'a>>(
    request: R,
    format: ExportFormat,
) -> Result<(Option<Summary<serde_json::Value>>, Export), mangrove::ExportError> {
    let (summary, export) = request.summary_with_export().format(format).send().await?;
    let samples = summary.samples.iter();
    let summary = Summary {
        count: summary.count,
        samples: samples
            .map(|s| serde_json::to_value(s).unwrap_or_default())
            .collect(),
        unfit_samples: Vec::new(),
    };
    Ok((Some(summary), export))
}

/// Starts the export of the resource named `name`: one line per resource, one generic path.
async fn start_named(
    client: &mangrove::Client,
    name: &str,
    project: Option<i64>,
    f: ExportFormat,
) -> Result<(Option<Summary<serde_json::Value>>, Export), Box<dyn std::error::Error + Send + Sync>>
{
    let project = || project.ok_or("this resource needs --project ID");
    Ok(match name {
        "projects" => start(client.list_projects(), f).await?,
        "events" => start(client.list_events().project_id(project()?), f).await?,
        "event_types" => start(client.list_event_types().project_id(project()?), f).await?,
        "data_points" => start(client.list_data_points().project_id(project()?), f).await?,
        "batches" => start(client.list_batches(), f).await?,
        "ledgers" => start(client.list_ledgers(), f).await?,
        "orders" => start(client.list_orders(), f).await?,
        "feedstocks" => start(client.list_feedstocks(), f).await?,
        "tracking_units" => start(client.list_tracking_units(), f).await?,
        "models" => start(client.list_models(), f).await?,
        "reports" => start(client.list_reports(), f).await?,
        "locations" => start(client.list_locations(), f).await?,
        "deliveries" => (
            None,
            client
                .export_resource(ResourceType::Delivery)
                .format(f)
                .send()
                .await?,
        ),
        other => return Err(format!("unknown resource {other:?}\n{USAGE}").into()),
    })
}

/// The slot store named by `MANGROVE_REDIS_URL` and `MANGROVE_REDIS_NAMESPACE`, if set (the
/// real-API client reads them itself in `Client::from_env`; the fake's client is built here).
fn redis_store_from_env() -> Result<Option<Arc<dyn SlotStore>>, Box<dyn std::error::Error>> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(url) = var(mangrove::client::REDIS_URL_ENV) else {
        return Ok(None);
    };
    let namespace = var(mangrove::client::REDIS_NAMESPACE_ENV)
        .ok_or("MANGROVE_REDIS_URL is set: set MANGROVE_REDIS_NAMESPACE too (e.g. acme-prod)")?;
    let store = RedisSlotStore::builder(url).namespace(namespace).build()?;
    Ok(Some(Arc::new(store)))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Keep the fake alive for the whole run when there is no token.
    let (mut client, fake) = common::connect(2_500).await?;
    if let (Some(fake), Some(store)) = (&fake, redis_store_from_env()?) {
        eprintln!("export slots shared through Redis ({store:?})");
        client = fake
            .client_builder(mangrove::testing::TokenKind::Account)
            .slot_store(store)
            .build()?;
    }
    if args.all {
        // The fake has project 1; the real API needs --project for the project-scoped three.
        let project = args.project.or(fake.as_ref().map(|_| 1));
        return run_all(client, project, args.format, args.out).await;
    }
    let f = args.format.clone();
    let began = Instant::now();
    let (summary, export) = start_named(&client, &args.resource, args.project, f)
        .await
        .map_err(|e| e.to_string())?;

    if let Some(summary) = &summary {
        println!(
            "{} {} in all; {} samples:",
            summary.count,
            args.resource,
            summary.samples.len()
        );
        for sample in summary.samples.iter().take(3) {
            let line = sample.to_string();
            let short: String = line.chars().take(110).collect();
            println!(
                "  {short}{}",
                if short.len() < line.len() { "…" } else { "" }
            );
        }
    }

    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner.set_message(format!("export {}: started", export.id()));
    let id = export.id().to_string();
    let bar = spinner.clone();
    let completed = export
        .on_status(move |s| {
            bar.set_message(format!("export {id}: {} (poll {})", s.status, s.polls))
        })
        .await;
    spinner.finish_and_clear();
    let completed = completed?;

    let extension = args.format.as_str();
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("{}.{extension}", args.resource)));
    let total = completed.file_size_bytes().unwrap_or(0);
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    let downloaded = completed
        .download_to(&out)
        .on_progress(move |bytes, _| progress.set_position(bytes))
        .await;
    bar.finish_and_clear();
    let downloaded = downloaded?;

    println!("export {}: completed", completed.id());
    if let Some(summary) = &summary {
        println!("  count     {}", summary.count);
    }
    println!("  polls     {}", completed.polls());
    println!("  elapsed   {:.1?}", began.elapsed());
    println!("  file      {}", out.display());
    println!("  size      {} bytes", downloaded.bytes);
    Ok(())
}

/// `--all`: every resource at once through the client's limiter, one progress line each.
async fn run_all(
    client: mangrove::Client,
    project: Option<i64>,
    format: ExportFormat,
    out: Option<PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = out.unwrap_or_else(|| PathBuf::from("exports"));
    std::fs::create_dir_all(&dir)?;
    let lines = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:>15} {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let began = Instant::now();
    // Joined in this task, not spawned: the list builders' futures borrow the client, and all
    // of them wait on the network and the limiter, not on a CPU.
    let mut tasks = Vec::new();
    for name in ALL {
        let needs_project = matches!(name, "events" | "event_types" | "data_points");
        if needs_project && project.is_none() {
            eprintln!("{name}: skipped (needs --project ID)");
            continue;
        }
        let line = lines.add(ProgressBar::new_spinner().with_style(style.clone()));
        line.set_prefix(name);
        line.set_message("waiting for an export slot");
        line.enable_steady_tick(Duration::from_millis(120));
        let (client, format) = (client.clone(), format.clone());
        let path = dir.join(format!("{name}.{}", format.as_str()));
        tasks.push(async move {
            let result = export_one(&client, name, project, format, &path, &line).await;
            match &result {
                Ok(bytes) => {
                    line.finish_with_message(format!("done: {bytes} bytes in {}", path.display()))
                }
                Err(e) => line.abandon_with_message(format!("failed: {e}")),
            }
            (name, result)
        });
    }
    let count = tasks.len();
    let results = futures::future::join_all(tasks).await;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    println!(
        "{count} exports in {:.1?}, {failed} failed; files in {}",
        began.elapsed(),
        dir.display()
    );
    if failed > 0 {
        return Err(format!("{failed} exports failed").into());
    }
    Ok(())
}

/// One export of `--all`: start (after the limiter's wait), poll, download; its line says where
/// it is.
async fn export_one(
    client: &mangrove::Client,
    name: &str,
    project: Option<i64>,
    format: ExportFormat,
    path: &std::path::Path,
    line: &ProgressBar,
) -> Result<u64, Box<dyn std::error::Error + Send + Sync>> {
    let (_, export) = start_named(client, name, project, format).await?;
    let id = export.id().to_string();
    line.set_message(format!("{id}: started"));
    let bar = line.clone();
    let completed = export
        .on_status(move |s| bar.set_message(format!("{id}: {} (poll {})", s.status, s.polls)))
        .await?;
    line.set_message(format!("{}: downloading", completed.id()));
    let downloaded = completed.download_to(path).await?;
    Ok(downloaded.bytes)
}
