//! Several processes, one account: 4 worker processes × 5 exports of 1 s through the fake's 5
//! slots, with the in-process store (each process limits itself alone) and with the Redis store
//! (the processes share the slots), side by side in one run; then the cost of one admission
//! against a local Redis.
//!
//! ```text
//! cargo bench --bench slots          (needs redis-server on the PATH)
//! ```
//!
//! The workers are this binary re-executed (`MANGROVE_SLOTS_WORKER` set), pointed at one
//! `FakeMangrove` by URL and sharing nothing but Redis.

#[path = "../tests/common/redis_server.rs"]
mod redis_server;
#[path = "../tests/common/slots_worker.rs"]
mod slots_worker;

use std::time::{Duration, Instant};

use mangrove::slots::{Admission, RedisSlotStore, SlotRequest, SlotStore};
use mangrove::testing::{FakeMangrove, Schedule, TokenKind};
use redis_server::RedisServer;
use slots_worker::{Running, Worker};

const PROCESSES: usize = 4;
const EACH: usize = 5;
const SLOTS: usize = 5;
const EXPORT: Duration = Duration::from_secs(1);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if let Ok(mode) = std::env::var(slots_worker::MODE) {
        std::process::exit(runtime.block_on(slots_worker::run(&mode)));
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    runtime.block_on(bench());
}

struct Figures {
    makespan: Duration,
    starts: usize,
    refused: usize,
    slowest_wait: Duration,
    max_in_flight: usize,
}

async fn fleet(redis: Option<&RedisServer>, namespace: &str, processes: usize) -> Figures {
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(EXPORT))
        .default_rows(2)
        .start()
        .await;
    let worker = |i: usize| Worker {
        base_url: fake.base_url().to_string(),
        token: fake.token(TokenKind::Account).to_string(),
        redis_url: redis.map(RedisServer::url),
        namespace: namespace.to_string(),
        holder: format!("bench-{i}"),
        count: PROCESSES * EACH / processes,
        capacity: SLOTS,
        lease: Duration::from_secs(6),
        grace: Duration::from_secs(60),
        poll: Duration::from_millis(100),
    };
    let exe = std::env::current_exe().expect("bench binary");
    let began = Instant::now();
    let watcher = match (redis, std::env::var("SLOTS_BENCH_TIMELINE").is_ok()) {
        (Some(redis), true) => {
            let store = RedisSlotStore::builder(redis.url())
                .namespace(namespace)
                .build()
                .expect("store");
            Some(tokio::spawn(async move {
                loop {
                    if let Ok(s) = store.snapshot().await {
                        let who: Vec<_> = s
                            .holders
                            .iter()
                            .map(|h| {
                                format!("{}:{}", h.holder, h.export_id.as_deref().unwrap_or("-"))
                            })
                            .collect();
                        eprintln!(
                            "{:.2} held {} queued {} {:?}",
                            began.elapsed().as_secs_f64(),
                            s.held(),
                            s.queued,
                            who
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }))
        }
        _ => None,
    };
    let mut children: Vec<Running> = (0..processes)
        .map(|i| {
            Running(Some(
                worker(i).command("run", &exe, &[]).spawn().expect("worker"),
            ))
        })
        .collect();
    while !children
        .iter_mut()
        .all(|c| matches!(c.child().try_wait(), Ok(Some(_))))
    {
        assert!(began.elapsed() < Duration::from_secs(300), "workers hang");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let makespan = began.elapsed();
    if let Some(w) = watcher {
        w.abort();
    }
    let mut slowest_wait = Duration::ZERO;
    for child in children {
        let output = child.take().wait_with_output().expect("output");
        let lines = slots_worker::lines(&output.stdout);
        assert!(output.status.success(), "worker failed: {lines:?}");
        for line in lines {
            if let Some(wait) = line
                .rsplit(' ')
                .next()
                .and_then(|ms| ms.parse::<u64>().ok())
            {
                slowest_wait = slowest_wait.max(Duration::from_millis(wait));
            }
        }
    }
    let journal = fake.journal();
    if std::env::var("SLOTS_BENCH_TIMELINE").is_ok() {
        let starts: Vec<_> = journal
            .requests_to("list_projects")
            .iter()
            .map(|r| format!("{:.2}", r.at.as_secs_f64()))
            .collect();
        eprintln!("start times (fake clock): {}", starts.join(" "));
    }
    Figures {
        makespan,
        starts: journal.requests_to("list_projects").len(),
        refused: journal.requests_with_status(429).len(),
        slowest_wait,
        max_in_flight: journal.max_exports_in_flight,
    }
}

/// Waits out a new namespace's warm-up (once per Redis lifetime), so the fleet runs measure the
/// steady state; answers how long it took.
async fn warm(store: &RedisSlotStore) -> Duration {
    let began = Instant::now();
    loop {
        let request = SlotRequest::new("warm", "warm-lease", "bench", SLOTS);
        match store.admit(&request).await.expect("redis answers") {
            Admission::WarmingUp { remaining } => tokio::time::sleep(remaining).await,
            Admission::Granted => break,
            other => panic!("{other:?}"),
        }
    }
    store.release("warm-lease").await.expect("release");
    began.elapsed()
}

async fn bench() {
    let redis = RedisServer::start();
    let store = RedisSlotStore::builder(redis.url())
        .namespace("bench")
        .build()
        .expect("store");
    let warm_up = warm(&store).await;

    let ideal = EXPORT * (PROCESSES * EACH / SLOTS) as u32;
    println!(
        "{PROCESSES} processes x {EACH} exports of {EXPORT:?} through {SLOTS} slots (ideal makespan {ideal:?}); \
         machine shared with other builds: figures are noisy"
    );
    println!(
        "| store | makespan ÷ ideal | start requests | refused starts (429) | slowest export's wait | most in flight |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let sides = [
        ("reference: 1 process × 20 exports, in-process", None, 1),
        (
            "4 processes, in-process store (each alone)",
            None,
            PROCESSES,
        ),
        ("4 processes, Redis store (shared)", Some(&redis), PROCESSES),
    ];
    for (name, redis, processes) in sides {
        let f = fleet(redis, "bench", processes).await;
        println!(
            "| {name} | {:.2} | {} | {} | {:.2} s | {} |",
            f.makespan.as_secs_f64() / ideal.as_secs_f64(),
            f.starts,
            f.refused,
            f.slowest_wait.as_secs_f64(),
            f.max_in_flight,
        );
    }
    println!(
        "(first use of a namespace on a fresh Redis: warm-up {warm_up:.2?}, not counted above)"
    );

    // Cost per admission: one EVALSHA round trip to grant, one to give back.
    let rounds = 2_000;
    let mut admit_total = Duration::ZERO;
    let mut release_total = Duration::ZERO;
    for i in 0..rounds {
        let (ticket, lease) = (format!("t{i}"), format!("l{i}"));
        let t = Instant::now();
        let granted = store
            .admit(&SlotRequest::new(&ticket, &lease, "bench", SLOTS))
            .await
            .expect("admit");
        admit_total += t.elapsed();
        assert_eq!(granted, Admission::Granted);
        let t = Instant::now();
        store.release(&lease).await.expect("release");
        release_total += t.elapsed();
    }
    let ping = {
        let t = Instant::now();
        for _ in 0..rounds {
            redis.command("PING");
        }
        t.elapsed() / rounds
    };
    println!(
        "cost per admission against a local Redis ({rounds} rounds): admit 1 round trip, {:.0} µs; \
         release 1 round trip, {:.0} µs (reference: PING on a fresh TCP connection {:.0} µs)",
        (admit_total / rounds).as_secs_f64() * 1e6,
        (release_total / rounds).as_secs_f64() * 1e6,
        ping.as_secs_f64() * 1e6,
    );
}
