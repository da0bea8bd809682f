//! Network → generated structs: `completed.records::<types::Project>()` over loopback from the fake's
//! storage origin, side by side in one run with `curl` (bytes only) and with the in-memory decode of
//! the same bytes, for CSV and JSON.
//!
//! Run with `cargo bench --bench network_records` (`MANGROVE_BENCH_ROWS` sets the number of projects,
//! default 600,000, about 245 MiB of CSV and 347 MiB of JSON; `--quick` uses 100,000). Prints one
//! table:
//!
//! * the parent process starts `FakeMangrove` with the projects, exports them as CSV and as JSON
//!   through the API and waits for `completed`;
//! * `curl -s -o /dev/null URL` fetches each file (bytes only, its process start included);
//! * in-memory decode of the same bytes (fetched once), in a child process of its own: JSON with
//!   `serde_json::from_slice::<Vec<types::Project>>`, CSV with the SDK's own decoder
//!   (`records::from_reader` over the bytes in memory, multi-thread runtime with 2 workers);
//! * the SDK side runs in a child process (this executable, re-run with `--child`): a `Client` for
//!   the fake's base URL attaches to the export by id and counts `records::<types::Project>()`; the
//!   child reports the wall time and its peak RSS (`VmHWM`), so the fake's memory is not counted;
//! * every measurement is the best of 9, the three sides taking turns; every side must see every
//!   row.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use futures::StreamExt;
use mangrove::prelude::*;
use mangrove::testing::{Collection, FakeMangrove, TokenKind};
use mangrove::{records, types, Export};

mod common;
use common::{machine, peak_rss_kib, run_curl};

const DEFAULT_ROWS: u64 = 600_000;
const QUICK_ROWS: u64 = 100_000;
const RUNS: usize = 9;
/// Network → structs at most this many times the in-memory decode of the same bytes.
const SPEED_TARGET: f64 = 1.1;
const RSS_TARGET_MIB: f64 = 32.0;

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Child process: attach to the export, stream its records, print `seconds rows peak_kib`.
fn child(base_url: &str, token: &str, id: &str) -> Result<(), String> {
    runtime()?.block_on(async {
        let client = Client::builder()
            .base_url(base_url)
            .token(token)
            .build()
            .map_err(|e| e.to_string())?;
        let completed = Export::attach(&client, id)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut projects = completed
            .records::<types::Project>()
            .await
            .map_err(|e| e.to_string())?;
        let mut rows = 0u64;
        while let Some(project) = projects.next().await {
            project.map_err(|e| e.to_string())?;
            rows += 1;
        }
        let seconds = started.elapsed().as_secs_f64();
        println!("{seconds} {rows} {}", peak_rss_kib());
        Ok(())
    })
}

struct Run {
    seconds: f64,
    peak_kib: u64,
}

fn run_sdk(base_url: &str, token: &str, id: &str, rows: u64) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--child", base_url, token, id])
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "SDK child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields[..] {
        [seconds, seen, peak_kib] if seen.parse() == Ok(rows) => Ok(Run {
            seconds: seconds
                .parse()
                .map_err(|_| format!("child printed {text:?}"))?,
            peak_kib: peak_kib
                .parse()
                .map_err(|_| format!("child printed {text:?}"))?,
        }),
        _ => Err(format!("SDK child printed {text:?}, expected {rows} rows")),
    }
}

/// Child process: reads `path` into memory, decodes it as the reference does, prints the seconds.
fn memory_child(format: &str, path: &Path, rows: &str) -> Result<(), String> {
    let format = match format {
        "csv" => ExportFormat::Csv,
        _ => ExportFormat::Json,
    };
    let rows = rows.parse().map_err(|_| format!("bad row count {rows}"))?;
    let bytes = bytes::Bytes::from(std::fs::read(path).map_err(|e| e.to_string())?);
    let seconds = decode_in_memory(&runtime()?, format, &bytes, rows)?;
    println!("{seconds}");
    Ok(())
}

/// Runs the in-memory decode of `path` in a child process (a fresh heap, no fake beside it).
fn run_memory(format: &str, path: &Path, rows: u64) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--memory", format])
        .arg(path)
        .arg(rows.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().parse() {
        Ok(seconds) if output.status.success() => Ok(seconds),
        _ => Err(format!(
            "in-memory child failed: {text} {}",
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

/// Decodes `bytes` in memory as the reference does; returns the seconds taken.
fn decode_in_memory(
    rt: &tokio::runtime::Runtime,
    format: ExportFormat,
    bytes: &bytes::Bytes,
    rows: u64,
) -> Result<f64, String> {
    let started = Instant::now();
    let seen = match format {
        ExportFormat::Json => serde_json::from_slice::<Vec<types::Project>>(bytes)
            .map_err(|e| e.to_string())?
            .len() as u64,
        _ => rt.block_on(async {
            let mut projects = records::from_reader::<types::Project, _>(
                std::io::Cursor::new(bytes.clone()),
                format,
            );
            let mut seen = 0u64;
            while let Some(project) = projects.next().await {
                project.map_err(|e| e.to_string())?;
                seen += 1;
            }
            Ok::<_, String>(seen)
        })?,
    };
    let seconds = started.elapsed().as_secs_f64();
    if seen != rows {
        return Err(format!("in-memory decode saw {seen} rows, expected {rows}"));
    }
    Ok(seconds)
}

fn best(v: impl Iterator<Item = f64>) -> f64 {
    v.fold(f64::INFINITY, f64::min)
}

struct Row {
    format: &'static str,
    mib: f64,
    curl: Option<f64>,
    memory: f64,
    sdk: f64,
    peak_mib: f64,
}

fn parent(rows: u64) -> Result<(), String> {
    let rt = runtime()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let fake = rt.block_on(
        FakeMangrove::builder()
            .rows(Collection::Projects, rows)
            .start(),
    );
    let base_url = fake.base_url().to_string();
    let token = fake.token(TokenKind::Account);
    let mut table = Vec::new();
    for (name, format) in [("CSV", ExportFormat::Csv), ("JSON", ExportFormat::Json)] {
        let (id, url, size) = rt.block_on(async {
            let client = fake.client(TokenKind::Account);
            let prepared = Instant::now();
            let (_, export) = client
                .list_projects()
                .summary_with_export()
                .format(format)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let completed = export.await.map_err(|e| e.to_string())?;
            let size = completed.file_size_bytes().unwrap_or(0);
            eprintln!(
                "{name} export of {rows} projects ready: {size} bytes in {:.1?}",
                prepared.elapsed()
            );
            Ok::<_, String>((
                completed.id().to_string(),
                completed.download_url().to_string(),
                size,
            ))
        })?;
        // The bytes once, by the SDK, for the in-memory side; then curl, the SDK and the in-memory
        // decode take turns, so that a noisy moment of the machine hits all three alike.
        let bytes = rt.block_on(async {
            let client = fake.client(TokenKind::Account);
            let completed = Export::attach(&client, id.as_str())
                .await
                .map_err(|e| e.to_string())?;
            let mut bytes = Vec::new();
            let mut stream = completed.bytes_stream();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
            }
            Ok::<_, String>(bytes)
        })?;
        if bytes.len() as u64 != size {
            return Err(format!("{name}: {} bytes, expected {size}", bytes.len()));
        }
        let file = dir.path().join(format!("export.{name}"));
        // Flushed now, not by the kernel in the middle of a measured run.
        let written = std::fs::File::create(&file).and_then(|mut f| {
            std::io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()
        });
        written.map_err(|e| e.to_string())?;
        // The fake's own copy of the export too (its storage directory), where `sync` exists.
        let _ = Command::new("sync").status();
        drop(bytes);
        let (mut curl, mut memory, mut sdk) = (Vec::new(), Vec::new(), Vec::new());
        let mut curl_found = true;
        for _ in 0..RUNS {
            // To /dev/null: a file written here would be flushed to disk during the next run.
            if curl_found {
                match run_curl(&url, Path::new("/dev/null"))? {
                    Some((seconds, fetched)) if fetched == size => curl.push(seconds),
                    Some((_, fetched)) => {
                        return Err(format!("{name}: curl fetched {fetched} bytes, not {size}"))
                    }
                    None => curl_found = false,
                }
            }
            sdk.push(run_sdk(&base_url, token, &id, rows)?);
            memory.push(run_memory(&name.to_lowercase(), &file, rows)?);
        }
        table.push(Row {
            format: name,
            mib: size as f64 / (1024.0 * 1024.0),
            curl: curl_found.then(|| best(curl.into_iter())),
            memory: best(memory.into_iter()),
            sdk: best(sdk.iter().map(|r| r.seconds)),
            peak_mib: sdk.iter().map(|r| r.peak_kib).max().unwrap_or(0) as f64 / 1024.0,
        });
    }
    drop(fake);

    println!();
    println!(
        "network → `types::Project`, {rows} rows over loopback ({})",
        machine()
    );
    println!(
        "best of {RUNS}; the fake's storage origin runs in the parent process; peak RSS is the"
    );
    println!("SDK child's (VmHWM); in-memory: JSON `serde_json::from_slice::<Vec<_>>`, CSV");
    println!("`records::from_reader` over the bytes in memory\n");
    println!("| format | MiB | curl (bytes) | in-memory decode | SDK network → structs | SDK / in-memory | peak RSS | targets |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    let mut all_ok = true;
    for row in &table {
        let ratio = row.sdk / row.memory;
        let ok = ratio <= SPEED_TARGET && row.peak_mib <= RSS_TARGET_MIB;
        all_ok &= ok;
        println!(
            "| {} | {:.0} | {} | {:.3} s | {:.3} s | {ratio:.2}× | {:.1} MiB | {} |",
            row.format,
            row.mib,
            row.curl.map_or("-".into(), |s| format!("{s:.3} s")),
            row.memory,
            row.sdk,
            row.peak_mib,
            if ok { "PASS" } else { "MISS" }
        );
    }
    println!();
    println!(
        "targets: ≤ {SPEED_TARGET}× the in-memory decode and ≤ {RSS_TARGET_MIB} MiB peak RSS: {}",
        if all_ok { "PASS" } else { "MISS" }
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let child_mode = args.iter().position(|a| a == "--child");
    let memory_mode = args.iter().position(|a| a == "--memory");
    let result = match (child_mode, memory_mode) {
        (Some(i), _) => match &args[i + 1..] {
            [base_url, token, id, ..] => child(base_url, token, id),
            _ => Err("usage: --child BASE_URL TOKEN ID".into()),
        },
        (None, Some(i)) => match &args[i + 1..] {
            [format, path, rows, ..] => memory_child(format, Path::new(path), rows),
            _ => Err("usage: --memory csv|json PATH ROWS".into()),
        },
        (None, None) => {
            let rows = std::env::var("MANGROVE_BENCH_ROWS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(if args.iter().any(|a| a == "--quick") {
                    QUICK_ROWS
                } else {
                    DEFAULT_ROWS
                });
            parent(rows)
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
