//! Downloading a large export file: the SDK's `download_to` side by side with `curl -o`, on
//! loopback, against the fake server's storage origin.
//!
//! Run with `cargo bench --bench download` (set `MANGROVE_BENCH_MB` for another size; default
//! 500). Prints one table:
//!
//! * the parent process starts `FakeMangrove` with enough project rows for a file of the asked
//!   size, exports them as CSV through the API and waits for `completed`;
//! * the SDK side runs in a child process of its own (this executable, re-run with `--child`):
//!   a `Client` for the fake's base URL attaches to the export by id, then `download_to` a file.
//!   The child reports the download's wall time and its peak RSS (`VmHWM`), so the fake's memory
//!   is not counted;
//! * the reference is `curl -s -o FILE URL` on the same `download_url`;
//! * each side runs three times, alternating, best time kept; every file is checked against the
//!   expected size and the two sides' files must be identical.

use mangrove::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use mangrove::testing::{Collection, FakeMangrove, TokenKind};
use mangrove::{Client, Export};

mod common;
use common::{machine, peak_rss_kib, run_curl};

const DEFAULT_MB: u64 = 500;
const RUNS: usize = 3;
/// Bytes per CSV row of the fake's projects, measured: sizes the export to the asked megabytes.
const BYTES_PER_PROJECT_ROW: u64 = 416;
const SPEED_TARGET: f64 = 0.9;
const RSS_TARGET_MIB: f64 = 32.0;

/// Child process: attach to the export, download it, print `seconds bytes peak_kib`.
fn child(flavor: &str, base_url: &str, token: &str, id: &str, out: &Path) -> Result<(), String> {
    let runtime = match flavor {
        "current" => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let client = Client::builder()
            .base_url(base_url)
            .token(token)
            .build()
            .map_err(|e| e.to_string())?;
        let completed = Export::attach(&client, id)
            .await
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let file = completed
            .download_to(out)
            .await
            .map_err(|e| e.to_string())?;
        let seconds = started.elapsed().as_secs_f64();
        println!("{seconds} {} {}", file.bytes, peak_rss_kib());
        Ok(())
    })
}

struct Run {
    seconds: f64,
    peak_kib: u64,
}

fn run_sdk(flavor: &str, base_url: &str, token: &str, id: &str, out: &Path) -> Result<Run, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .args(["--child", flavor, base_url, token, id])
        .arg(out)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "SDK child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace();
    let seconds = fields.next().and_then(|v| v.parse().ok());
    let _bytes = fields.next();
    let peak_kib = fields.next().and_then(|v| v.parse().ok());
    match (seconds, peak_kib) {
        (Some(seconds), Some(peak_kib)) => Ok(Run { seconds, peak_kib }),
        _ => Err(format!("SDK child printed {text:?}")),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (Ok(fa), Ok(fb)) = (std::fs::File::open(a), std::fs::File::open(b)) else {
        return false;
    };
    let (mut ra, mut rb) = (
        std::io::BufReader::with_capacity(1 << 20, fa),
        std::io::BufReader::with_capacity(1 << 20, fb),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = ra.read(&mut ba).unwrap_or(usize::MAX);
        let nb = rb.read(&mut bb).unwrap_or(usize::MAX);
        if na != nb || na == usize::MAX {
            return false;
        }
        if na == 0 {
            return true;
        }
        if ba[..na] != bb[..nb] {
            return false;
        }
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn parent() -> Result<(), String> {
    let megabytes = std::env::var("MANGROVE_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MB);
    let rows = (megabytes * 1_000_000 / BYTES_PER_PROJECT_ROW).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;

    // The fake and its storage origin live on this runtime while the children download.
    let (fake, id, url, size) = runtime.block_on(async {
        let fake = FakeMangrove::builder()
            .rows(Collection::Projects, rows)
            .start()
            .await;
        let client = fake.client(TokenKind::Account);
        let prepared = Instant::now();
        let (_, export) = client
            .list_projects()
            .summary_with_export()
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let completed = export.await.map_err(|e| e.to_string())?;
        let size = completed.file_size_bytes().unwrap_or(0);
        eprintln!(
            "export of {rows} projects ready: {size} bytes in {:.1?}",
            prepared.elapsed()
        );
        Ok::<_, String>((
            fake,
            completed.id().to_string(),
            completed.download_url().to_string(),
            size,
        ))
    })?;
    let _guard = runtime.enter();

    let base_url = fake.base_url().to_string();
    let token = fake.token(TokenKind::Account);
    let sdk_out: PathBuf = dir.path().join("sdk.csv");
    let curl_out: PathBuf = dir.path().join("curl.csv");
    let (mut sdk_current, mut sdk_multi, mut curl) = (Vec::new(), Vec::new(), Vec::new());
    let mut curl_found = true;
    for _ in 0..RUNS {
        for (flavor, runs) in [("current", &mut sdk_current), ("multi", &mut sdk_multi)] {
            let run = run_sdk(flavor, &base_url, token, &id, &sdk_out)?;
            let written = std::fs::metadata(&sdk_out).map(|m| m.len()).unwrap_or(0);
            if written != size {
                return Err(format!("SDK wrote {written} bytes, expected {size}"));
            }
            runs.push(run);
        }
        if curl_found {
            match run_curl(&url, &curl_out)? {
                Some((seconds, _)) => {
                    let written = std::fs::metadata(&curl_out).map(|m| m.len()).unwrap_or(0);
                    if written != size {
                        return Err(format!("curl wrote {written} bytes, expected {size}"));
                    }
                    curl.push(seconds);
                }
                None => curl_found = false,
            }
        }
    }
    let identical = !curl_found || same_file(&sdk_out, &curl_out);
    drop(fake);

    let mib = size as f64 / (1024.0 * 1024.0);
    let best = |v: &mut dyn Iterator<Item = f64>| v.fold(f64::INFINITY, f64::min);
    let curl_best = best(&mut curl.iter().copied());
    println!();
    println!(
        "download of one {mib:.0} MiB export file over loopback ({})",
        machine()
    );
    println!("best of {RUNS}; the fake's storage origin runs in the parent process; peak RSS is");
    println!("the SDK child's (VmHWM); curl's time includes its process start (~5 ms)\n");
    println!("| side | MiB/s | seconds | vs curl | peak RSS | targets |");
    println!("|---|---|---|---|---|---|");
    let mut all_ok = true;
    for (name, runs) in [
        ("SDK `download_to`, current-thread runtime", &sdk_current),
        ("SDK `download_to`, multi-thread runtime", &sdk_multi),
    ] {
        let seconds = best(&mut runs.iter().map(|r| r.seconds));
        let peak_mib = runs.iter().map(|r| r.peak_kib).max().unwrap_or(0) as f64 / 1024.0;
        let ratio = curl_best / seconds;
        let ok = (!curl_found || ratio >= SPEED_TARGET) && peak_mib <= RSS_TARGET_MIB;
        all_ok &= ok;
        println!(
            "| {name} | {:.0} | {seconds:.2} | {} | {peak_mib:.1} MiB | {} |",
            mib / seconds,
            if curl_found {
                format!("{ratio:.2}×")
            } else {
                "-".into()
            },
            mark(ok)
        );
    }
    if curl_found {
        println!(
            "| `curl -s -o` | {:.0} | {curl_best:.2} | 1.00× | - | - |",
            mib / curl_best
        );
    } else {
        println!("| curl: not found | - | - | - | - | - |");
    }
    println!();
    println!(
        "targets: ≥ {SPEED_TARGET}× curl and ≤ {RSS_TARGET_MIB} MiB peak RSS: {}",
        mark(all_ok)
    );
    println!("files identical: {}", if identical { "yes" } else { "NO" });
    if !identical {
        return Err("the SDK's file differs from curl's".into());
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.iter().position(|a| a == "--child") {
        Some(i) => match &args[i + 1..] {
            [flavor, base_url, token, id, out, ..] => {
                child(flavor, base_url, token, id, Path::new(out))
            }
            _ => Err("usage: --child current|multi BASE_URL TOKEN ID OUT".into()),
        },
        // `cargo bench` passes `--bench`; nothing else is expected.
        None => parent(),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
