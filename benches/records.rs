//! `mangrove::records` side by side with the raw `csv` and `serde_json` crates, on the same bytes.
//!
//! Run with `cargo bench --bench records` (set `MANGROVE_BENCH_ROWS` for another row count). Prints
//! one table:
//!
//! * throughput: each side parses the same in-memory file into the same 8-field struct, best of 5,
//!   the two sides taking turns; the SDK side runs on a multi-thread Tokio runtime with 2 workers;
//! * peak RSS: each side runs alone in a child process (this executable, re-run with `--child CASE`)
//!   that writes its input to a temporary file, streams it from the file (SDK) or reads it whole
//!   (`serde_json::from_slice`), then reports `VmHWM` from `/proc/self/status`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use mangrove::records;
use mangrove::ExportFormat;
use serde::{Deserialize, Serialize};

mod common;
use common::peak_rss_kib;

const DEFAULT_ROWS: u64 = 1_000_000;
const RUNS: usize = 5;
const CSV_TARGET: f64 = 0.9;
const JSON_TARGET: f64 = 0.9;
const JSON_RSS_TARGET_MIB: f64 = 32.0;

/// A flat record: integers, floats, strings, an `Option`, a `bool`.
#[derive(Debug, Serialize, Deserialize)]
struct Row {
    id: u64,
    project: String,
    quantity: f64,
    ratio: f32,
    vintage: i32,
    verified: bool,
    note: Option<String>,
    created_at: String,
}

/// The `i`-th generated row; a few names need CSV quoting.
fn row(i: u64) -> Row {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    let project = if i % 97 == 0 {
        format!("Mangrove \"Delta\", phase {}", x % 9)
    } else {
        format!("project-{}", x % 100_000)
    };
    Row {
        id: i,
        project,
        quantity: (x % 10_000_000) as f64 / 1000.0,
        ratio: (x % 1000) as f32 / 997.0,
        vintage: 2000 + (x % 25) as i32,
        verified: x % 3 == 0,
        note: (x % 4 == 0).then(|| format!("batch {} checked", x % 1000)),
        created_at: format!(
            "2024-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + x % 12,
            1 + x % 28,
            x % 24,
            x % 60
        ),
    }
}

/// Something of every field, so no side can skip work.
fn touch(r: &Row) -> u64 {
    r.id ^ r.project.len() as u64
        ^ r.quantity.to_bits()
        ^ u64::from(r.ratio.to_bits())
        ^ r.vintage as u64
        ^ u64::from(r.verified)
        ^ r.note.as_ref().map_or(7, |n| n.len() as u64)
        ^ r.created_at.len() as u64
}

fn write_csv(out: impl Write, rows: u64) {
    let mut w = csv::Writer::from_writer(out);
    for i in 0..rows {
        w.serialize(row(i)).expect("write CSV");
    }
    w.flush().expect("flush CSV");
}

fn write_json(out: impl Write, rows: u64) {
    let mut out = BufWriter::new(out);
    out.write_all(b"[").expect("write JSON");
    for i in 0..rows {
        if i > 0 {
            out.write_all(b",\n").expect("write JSON");
        }
        serde_json::to_writer(&mut out, &row(i)).expect("write JSON");
    }
    out.write_all(b"]\n").expect("write JSON");
    out.flush().expect("flush JSON");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `side` on the runtime, returning (rows, checksum).
async fn sdk_side<R>(reader: R, layout: ExportFormat) -> (u64, u64)
where
    R: tokio::io::AsyncRead + Send + Unpin + 'static,
{
    let mut stream = records::from_reader::<Row, _>(reader, layout);
    let (mut rows, mut sum) = (0u64, 0u64);
    while let Some(item) = stream.next().await {
        let r = item.expect("valid record");
        rows += 1;
        sum = sum.wrapping_add(touch(&r));
    }
    (rows, sum)
}

fn csv_raw_side(bytes: &[u8]) -> (u64, u64) {
    let (mut rows, mut sum) = (0u64, 0u64);
    for r in csv::Reader::from_reader(bytes).deserialize::<Row>() {
        let r = r.expect("valid record");
        rows += 1;
        sum = sum.wrapping_add(touch(&r));
    }
    (rows, sum)
}

fn json_raw_side(bytes: &[u8]) -> (u64, u64) {
    let all: Vec<Row> = serde_json::from_slice(bytes).expect("valid JSON");
    let sum = all.iter().fold(0u64, |s, r| s.wrapping_add(touch(r)));
    (all.len() as u64, sum)
}

/// Best time of `RUNS` for each side, the two sides taking turns (so that a noisy moment of a
/// shared machine hits both alike), checking every run sees the same rows and the same checksum.
fn best_of_both(
    rows: u64,
    mut raw: impl FnMut() -> (u64, u64),
    mut sdk: impl FnMut() -> (u64, u64),
) -> (Duration, Duration) {
    let (mut best_raw, mut best_sdk) = (Duration::MAX, Duration::MAX);
    let mut checksum = None;
    for _ in 0..RUNS {
        for (side, best) in [
            (&mut raw as &mut dyn FnMut() -> (u64, u64), &mut best_raw),
            (&mut sdk, &mut best_sdk),
        ] {
            let start = Instant::now();
            let (seen, sum) = side();
            *best = (*best).min(start.elapsed());
            assert_eq!(seen, rows, "row count");
            assert_eq!(*checksum.get_or_insert(sum), sum, "the sides disagree");
        }
    }
    (best_raw, best_sdk)
}

/// Child process: one side on a file of its own, then its peak RSS.
fn child(case: &str, rows: u64) {
    let ext = if case.starts_with("csv") {
        "csv"
    } else {
        "json"
    };
    let path: PathBuf = std::env::temp_dir().join(format!(
        "mangrove-records-bench-{}.{ext}",
        std::process::id()
    ));
    {
        let file = std::fs::File::create(&path).expect("temp file");
        if ext == "csv" {
            write_csv(BufWriter::new(file), rows);
        } else {
            write_json(file, rows);
        }
    }
    let start = Instant::now();
    let (seen, _) = match case {
        "csv-sdk" | "json-sdk" => {
            let layout = if ext == "csv" {
                ExportFormat::Csv
            } else {
                ExportFormat::Json
            };
            let path = path.clone();
            runtime().block_on(async move {
                let file = tokio::fs::File::open(&path).await.expect("open");
                sdk_side(file, layout).await
            })
        }
        "csv-raw" => {
            let (mut rows, mut sum) = (0u64, 0u64);
            for r in csv::Reader::from_path(&path)
                .expect("open")
                .deserialize::<Row>()
            {
                rows += 1;
                sum = sum.wrapping_add(touch(&r.expect("valid record")));
            }
            (rows, sum)
        }
        "json-raw" => json_raw_side(&std::fs::read(&path).expect("read")),
        other => panic!("unknown case {other}"),
    };
    let secs = start.elapsed().as_secs_f64();
    let hwm = peak_rss_kib();
    let _ = std::fs::remove_file(&path);
    println!("rows={seen} secs={secs} hwm_kib={hwm}");
}

/// Runs `case` in a child process; returns its peak RSS in MiB.
fn peak_rss_of(exe: &Path, case: &str, rows: u64) -> Option<f64> {
    let out = Command::new(exe)
        .args(["--child", case, &rows.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "child {case} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|v| v.parse::<f64>().ok())
    };
    if field("rows=") != Some(rows as f64) {
        eprintln!("child {case} saw the wrong number of rows: {text}");
        return None;
    }
    field("hwm_kib=").map(|kib| kib / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows = std::env::var("MANGROVE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROWS);
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let case = args.get(i + 1).map(String::as_str).unwrap_or("");
        let rows = args.get(i + 2).and_then(|r| r.parse().ok()).unwrap_or(rows);
        child(case, rows);
        return;
    }

    let mut csv = Vec::new();
    write_csv(&mut csv, rows);
    let mut json = Vec::new();
    write_json(&mut json, rows);
    let csv = bytes::Bytes::from(csv);
    let json = bytes::Bytes::from(json);
    let rt = runtime();

    let (csv_raw, csv_sdk) = best_of_both(
        rows,
        || csv_raw_side(&csv),
        || {
            rt.block_on(sdk_side(
                std::io::Cursor::new(csv.clone()),
                ExportFormat::Csv,
            ))
        },
    );
    let (json_raw, json_sdk) = best_of_both(
        rows,
        || json_raw_side(&json),
        || {
            rt.block_on(sdk_side(
                std::io::Cursor::new(json.clone()),
                ExportFormat::Json,
            ))
        },
    );
    drop(rt);

    let exe = std::env::current_exe().expect("current exe");
    let rss = |case| peak_rss_of(&exe, case, rows);
    let (csv_raw_rss, csv_sdk_rss) = (rss("csv-raw"), rss("csv-sdk"));
    let (json_raw_rss, json_sdk_rss) = (rss("json-raw"), rss("json-sdk"));

    let mib = |n: usize| n as f64 / (1024.0 * 1024.0);
    let per_sec = |d: Duration| rows as f64 / d.as_secs_f64() / 1e6;
    let show_rss = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} MiB"));
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };

    println!();
    println!(
        "mangrove::records, {rows} rows of an 8-field struct (CSV {:.1} MiB, JSON {:.1} MiB); \
         best of {RUNS}; tokio multi-thread runtime, 2 workers",
        mib(csv.len()),
        mib(json.len())
    );
    println!();
    println!("| layout | side | Mrows/s | time | SDK/raw | target | peak RSS (own process) |");
    println!("|---|---|---:|---:|---:|---|---:|");
    let csv_ratio = csv_raw.as_secs_f64() / csv_sdk.as_secs_f64();
    let json_ratio = json_raw.as_secs_f64() / json_sdk.as_secs_f64();
    println!(
        "| CSV | csv::Reader::deserialize | {:.2} | {:.3} s | | | {} |",
        per_sec(csv_raw),
        csv_raw.as_secs_f64(),
        show_rss(csv_raw_rss)
    );
    println!(
        "| CSV | records::from_reader | {:.2} | {:.3} s | {csv_ratio:.2}x | >= {CSV_TARGET}x {} | {} |",
        per_sec(csv_sdk),
        csv_sdk.as_secs_f64(),
        verdict(csv_ratio >= CSV_TARGET),
        show_rss(csv_sdk_rss)
    );
    println!(
        "| JSON | serde_json::from_slice::<Vec<_>> | {:.2} | {:.3} s | | | {} |",
        per_sec(json_raw),
        json_raw.as_secs_f64(),
        show_rss(json_raw_rss)
    );
    let json_rss_ok = json_sdk_rss.is_some_and(|v| v <= JSON_RSS_TARGET_MIB);
    println!(
        "| JSON | records::from_reader | {:.2} | {:.3} s | {json_ratio:.2}x | >= {JSON_TARGET}x {}, RSS <= {JSON_RSS_TARGET_MIB} MiB {} | {} |",
        per_sec(json_sdk),
        json_sdk.as_secs_f64(),
        verdict(json_ratio >= JSON_TARGET),
        verdict(json_rss_ok),
        show_rss(json_sdk_rss)
    );
}
