//! What the benchmarks share: the peak RSS of this process, a timed `curl` download (the
//! reference side) and a one-line description of the machine.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// This process's peak resident set size (`VmHWM`), in KiB; 0 where `/proc` has none.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `curl -s -f -o out url`, timed (process start included): the seconds and the bytes curl
/// fetched; `None` when curl is not installed.
pub fn run_curl(url: &str, out: &Path) -> Result<Option<(f64, u64)>, String> {
    let started = Instant::now();
    let output = match Command::new("curl")
        .args(["-s", "-f", "-w", "%{size_download}", "-o"])
        .arg(out)
        .arg(url)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!("curl failed: {}", output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let bytes = text
        .trim()
        .parse()
        .map_err(|_| format!("curl printed {text:?}"))?;
    Ok(Some((seconds, bytes)))
}

/// "N cores, CPU model" for the table's heading.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}")
}
