//! The main job: export one Mangrove resource to a file.
//!
//! ```text
//! cargo run --example export -- [resource] [--project ID] [--format csv|json] [--out PATH]
//! ```
//!
//! In the SDK's repository the `testing` feature (the embedded fake) is on for examples; from the
//! crate's source package (e.g. `~/.cargo/registry/src/*/mangrove-*/`) add `--features testing`.
//!
//! With `MANGROVE_API_TOKEN` set it talks to `MANGROVE_BASE_URL` (default the real API); without
//! it, it starts the embedded fake server and says so. It prints the count and a few samples,
//! shows the export's status while polling, downloads the file and prints a summary. On failure
//! it prints the typed error's message and exits non-zero.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
mod common;

use mangrove::prelude::*;
use mangrove::{Export, Summary};

const USAGE: &str = "usage: cargo run --example export -- [resource, default projects] [--project ID] [--format csv|json] [--out PATH]
resources: projects, events*, event_types*, data_points*, batches, ledgers, orders, feedstocks,
           tracking_units, models, reports, locations, deliveries   (* need --project ID)";

struct Args {
    resource: String,
    project: Option<i64>,
    format: ExportFormat,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut resource = None;
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
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            name if resource.is_none() => resource = Some(name.to_string()),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    // No resource: export projects, so `cargo run --example export` alone does the main job.
    let resource = resource.unwrap_or_else(|| "projects".to_string());
    Ok(Args {
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

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // Keep the fake alive for the whole run when there is no token.
    let (client, _fake) = common::connect(2_500).await?;
    let project = || args.project.ok_or("this resource needs --project ID");
    let f = args.format.clone();
    let began = Instant::now();
    let (summary, export) = match args.resource.as_str() {
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
    };

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
