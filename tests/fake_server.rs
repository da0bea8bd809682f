//! The `fake_server` example stops when it is told to: SIGTERM (what `kill`, systemd and
//! container runtimes send) and SIGINT (Ctrl-C) each make it exit with status 0.
//!
//! The example binary lives next to this test (`target/<profile>/examples`). It is (re)built
//! first with the same cargo, so the test never runs a stale binary (a no-op when `cargo test`
//! already built the examples).
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the server may take to exit. Generous on purpose: this checks that the signal stops
/// it, not how fast (a busy CI machine must not fail it).
const EXIT_BOUND: Duration = Duration::from_secs(10);

/// Both tests may want to build the example: one build at a time.
static BUILD: Mutex<()> = Mutex::new(());

/// The example binary, built first if it is missing or stale.
fn example() -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    // target/<profile>/deps/fake_server-<hash> -> target/<profile>/examples/fake_server
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("fake_server{}", std::env::consts::EXE_SUFFIX));
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", "fake_server"])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "cargo build --example fake_server failed");
    assert!(path.exists(), "{} after the build", path.display());
    path
}

/// Starts the server and waits until it prints that it is serving.
fn start() -> Child {
    let mut child = Command::new(example())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the example starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                let ready = line.starts_with("Serving until");
                seen.push(line);
                if ready {
                    break;
                }
            }
            _ => {
                let _ = child.kill();
                panic!("fake_server ended before serving; it printed {seen:?}");
            }
        }
    }
    // Keep reading (and dropping) its output, so a full pipe never blocks it.
    std::thread::spawn(move || for _ in lines {});
    child
}

/// Sends `signal` to `child` with kill(1) and waits up to [`EXIT_BOUND`] for it to exit.
fn stop_with(mut child: Child, signal: &str) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(sent.success(), "kill -{signal} failed");
    let deadline = Instant::now() + EXIT_BOUND;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fake_server did not exit within {EXIT_BOUND:?} of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_stops_the_fake_server() {
    let status = stop_with(start(), "TERM");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

#[test]
fn sigint_stops_the_fake_server() {
    let status = stop_with(start(), "INT");
    assert!(status.success(), "exit status after SIGINT: {status:?}");
}
