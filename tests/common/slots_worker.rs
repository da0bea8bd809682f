//! A worker process for the multi-process slot tests and the slots bench: the test (or bench)
//! binary re-executed with `MANGROVE_SLOTS_WORKER=<mode>`, pointed at one `FakeMangrove` by URL
//! and sharing nothing with its siblings but Redis. It reports on stdout, one `worker: …` line per
//! event.
//!
//! Modes: `run` starts `COUNT` exports at once and awaits them (`worker: done ID WAIT_MS`);
//! `hold` starts `COUNT` exports, prints `worker: holding` and sleeps (to be killed).
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mangrove::prelude::*;
use mangrove::slots::{LocalSlotStore, RedisSlotStore, SlotStore};
use mangrove::{PollPolicy, RetryPolicy};

/// Set to the mode in a worker's environment.
pub const MODE: &str = "MANGROVE_SLOTS_WORKER";

/// What a worker is told.
#[derive(Clone, Debug)]
pub struct Worker {
    pub base_url: String,
    pub token: String,
    /// `None`: the in-process store (each worker limits itself alone).
    pub redis_url: Option<String>,
    pub namespace: String,
    pub holder: String,
    pub count: usize,
    pub capacity: usize,
    pub lease: Duration,
    pub grace: Duration,
    pub poll: Duration,
}

impl Worker {
    /// The command that runs this worker: `exe` with `args` (e.g. the test's name).
    pub fn command(&self, mode: &str, exe: &std::path::Path, args: &[&str]) -> Command {
        let mut command = Command::new(exe);
        command
            .args(args)
            .env(MODE, mode)
            .env("W_BASE_URL", &self.base_url)
            .env("W_TOKEN", &self.token)
            .env("W_NAMESPACE", &self.namespace)
            .env("W_HOLDER", &self.holder)
            .env("W_COUNT", self.count.to_string())
            .env("W_CAPACITY", self.capacity.to_string())
            .env("W_LEASE_MS", self.lease.as_millis().to_string())
            .env("W_GRACE_MS", self.grace.as_millis().to_string())
            .env("W_POLL_MS", self.poll.as_millis().to_string())
            .env_remove("W_REDIS_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = &self.redis_url {
            command.env("W_REDIS_URL", url);
        }
        command
    }

    fn from_env() -> Worker {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        let num = |name: &str| var(name).parse::<u64>().unwrap_or(0);
        Worker {
            base_url: var("W_BASE_URL"),
            token: var("W_TOKEN"),
            redis_url: std::env::var("W_REDIS_URL").ok(),
            namespace: var("W_NAMESPACE"),
            holder: var("W_HOLDER"),
            count: num("W_COUNT") as usize,
            capacity: num("W_CAPACITY") as usize,
            lease: Duration::from_millis(num("W_LEASE_MS")),
            grace: Duration::from_millis(num("W_GRACE_MS")),
            poll: Duration::from_millis(num("W_POLL_MS")),
        }
    }

    /// The slot store this worker's client uses.
    pub fn store(&self) -> Arc<dyn SlotStore> {
        match &self.redis_url {
            Some(url) => Arc::new(
                RedisSlotStore::builder(url)
                    .namespace(&self.namespace)
                    .holder(&self.holder)
                    .lease(self.lease)
                    .start_grace(self.grace)
                    .build()
                    .expect("redis store"),
            ),
            None => Arc::new(LocalSlotStore::new()),
        }
    }

    /// The worker's client: fast polls, a generous slot wait.
    pub fn client(&self) -> mangrove::Client {
        mangrove::Client::builder()
            .base_url(&self.base_url)
            .token(&self.token)
            .retry_policy(RetryPolicy::none())
            .export_concurrency(self.capacity)
            .poll_policy(
                PollPolicy::default()
                    .initial_delay(self.poll)
                    .max_delay(self.poll),
            )
            .export_slot_wait(Duration::from_secs(30))
            .slot_store(self.store())
            .build()
            .expect("worker client")
    }
}

/// Runs the worker of `mode` (from the environment) to its end; answers the exit code.
pub async fn run(mode: &str) -> i32 {
    if std::env::var("SLOTS_WORKER_TRACE").is_ok() {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::stderr)
            .init();
    }
    let worker = Worker::from_env();
    let client = worker.client();
    match mode {
        "run" => {
            let mut tasks = Vec::new();
            for _ in 0..worker.count {
                let client = client.clone();
                tasks.push(tokio::spawn(async move {
                    let asked = Instant::now();
                    let (_, export) = client.list_projects().summary_with_export().send().await?;
                    let waited = asked.elapsed();
                    let done = export.await?;
                    Ok::<_, mangrove::ExportError>((done.id().to_string(), waited))
                }));
            }
            let mut code = 0;
            for task in tasks {
                match task.await {
                    Ok(Ok((id, waited))) => println!("worker: done {id} {}", waited.as_millis()),
                    Ok(Err(e)) => {
                        println!("worker: error {e}");
                        code = 1;
                    }
                    Err(e) => {
                        println!("worker: error {e}");
                        code = 1;
                    }
                }
            }
            code
        }
        "hold" => {
            let mut held = Vec::new();
            for _ in 0..worker.count {
                match client.list_projects().summary_with_export().send().await {
                    Ok((_, export)) => {
                        println!("worker: started {}", export.id());
                        held.push(export);
                    }
                    Err(e) => {
                        println!("worker: error {e}");
                        return 1;
                    }
                }
            }
            println!("worker: holding");
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(held);
            0
        }
        other => {
            println!("worker: error unknown mode {other}");
            2
        }
    }
}

/// What follows `worker: ` in a line of a worker's output (the test harness may have printed
/// `test worker_entry_point ... ` on the same line first).
fn event(line: &str) -> Option<&str> {
    line.find("worker: ")
        .map(|at| &line[at + "worker: ".len()..])
}

/// The `worker: …` lines of a finished worker's output.
pub fn lines(output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter_map(|l| event(l).map(str::to_string))
        .collect()
}

/// A worker process that is killed (SIGKILL) and reaped when dropped: a failing test leaves no
/// worker behind.
pub struct Running(pub Option<std::process::Child>);

impl Running {
    /// The child, taken out (it is then the caller's to reap).
    pub fn take(mut self) -> std::process::Child {
        self.0.take().expect("a running worker")
    }

    pub fn child(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("a running worker")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for a worker's line starting with `prefix` (reading its stdout on a thread); answers
/// the lines seen so far, or panics after `within`.
pub fn wait_for_line(
    child: &mut std::process::Child,
    prefix: &str,
    within: Duration,
) -> Vec<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(l) = event(&line) {
                    seen.push(l.to_string());
                    if l.starts_with(prefix) {
                        return seen;
                    }
                }
            }
            Err(_) => break,
        }
    }
    panic!("no `worker: {prefix}` line within {within:?}; saw {seen:?}");
}
