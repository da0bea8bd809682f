//! Several processes, one account (issue 23): real worker processes (this test binary
//! re-executed, see `common/slots_worker.rs`) against one `FakeMangrove` by URL, sharing nothing
//! but a real `redis-server`.

#[path = "common/redis_server.rs"]
mod redis_server;
#[path = "common/slots_worker.rs"]
mod slots_worker;

use mangrove::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use mangrove::slots::{RedisSlotStore, SlotStore};
use mangrove::testing::{FakeMangrove, Fault, Schedule, TokenKind};
use mangrove::PollPolicy;
use redis_server::RedisServer;
use slots_worker::{Running, Worker};
use tokio::time::Instant;

/// Not a test of its own: the entry point of the worker processes the tests below start (it
/// returns at once when the test harness runs it).
#[test]
fn worker_entry_point() {
    let Ok(mode) = std::env::var(slots_worker::MODE) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = runtime.block_on(slots_worker::run(&mode));
    std::process::exit(code);
}

const LEASE: Duration = Duration::from_millis(600);

fn worker(fake: &FakeMangrove, redis: &RedisServer, holder: &str, count: usize) -> Worker {
    Worker {
        base_url: fake.base_url().to_string(),
        token: fake.token(TokenKind::Account).to_string(),
        redis_url: Some(redis.url()),
        namespace: "procs".into(),
        holder: holder.into(),
        count,
        capacity: 5,
        lease: LEASE,
        grace: Duration::from_millis(800),
        poll: Duration::from_millis(50),
    }
}

fn spawn(worker: &Worker, mode: &str) -> Running {
    let exe = std::env::current_exe().expect("test binary");
    let child = worker
        .command(
            mode,
            &exe,
            &[
                "worker_entry_point",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ],
        )
        .spawn()
        .expect("worker process");
    Running(Some(child))
}

/// Waits (at most 60 s) for the workers to exit; answers their outputs. A worker still running
/// then is killed when its guard drops.
async fn finish(mut children: Vec<Running>) -> Vec<std::process::Output> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !children
        .iter_mut()
        .all(|c| matches!(c.child().try_wait(), Ok(Some(_))))
    {
        assert!(
            Instant::now() < deadline,
            "the workers did not finish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    children
        .into_iter()
        .map(|c| c.take().wait_with_output().expect("worker output"))
        .collect()
}

/// This process as one more member of the fleet (its own store: only Redis is shared).
fn parent_client(fake: &FakeMangrove, w: &Worker) -> mangrove::Client {
    let store: Arc<dyn SlotStore> = w.store();
    fake.client_builder(TokenKind::Account)
        .export_concurrency(w.capacity)
        .poll_policy(
            PollPolicy::default()
                .initial_delay(w.poll)
                .max_delay(w.poll),
        )
        .export_slot_wait(Duration::from_secs(10))
        .slot_store(store)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_of_five_exports_share_the_five_slots() {
    let redis = RedisServer::start();
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(Duration::from_millis(400)))
        .default_rows(2)
        .start()
        .await;
    let children: Vec<_> = (0..4)
        .map(|i| spawn(&worker(&fake, &redis, &format!("w{i}"), 5), "run"))
        .collect();
    let outputs = finish(children).await;
    for (i, output) in outputs.iter().enumerate() {
        let lines = slots_worker::lines(&output.stdout);
        assert!(output.status.success(), "worker {i}: {lines:?}");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("done ")).count(),
            5,
            "worker {i}: {lines:?}"
        );
    }
    let journal = fake.journal();
    assert_eq!(
        journal.requests_to("list_projects").len(),
        20,
        "one start each"
    );
    assert!(
        journal.requests_with_status(429).is_empty(),
        "no refused start"
    );
    assert_eq!(
        journal.max_exports_in_flight, 5,
        "never more than 5 in flight"
    );
    assert_eq!(journal.polls.len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holders_slots_are_reused_only_after_its_exports_ended() {
    let redis = RedisServer::start();
    let run_for = Duration::from_millis(1500);
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(run_for))
        .default_rows(2)
        .start()
        .await;
    let w = worker(&fake, &redis, "doomed", 5);
    let mut doomed = spawn(&w, "hold");
    let lines = tokio::task::block_in_place(|| {
        slots_worker::wait_for_line(doomed.child(), "holding", Duration::from_secs(20))
    });
    let held: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("started ").map(str::to_string))
        .collect();
    assert_eq!(held.len(), 5, "{lines:?}");
    drop(doomed); // SIGKILL, reaped
    let killed = Instant::now();

    // The rest of the fleet (this process) wants the five slots.
    let client = parent_client(
        &fake,
        &Worker {
            holder: "survivor".into(),
            ..w.clone()
        },
    );
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (_, export) = client.list_projects().summary_with_export().send().await?;
            export.await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every export completes");
    }
    let journal = fake.journal();
    assert!(
        journal.requests_with_status(429).is_empty(),
        "no refused start"
    );
    assert_eq!(journal.max_exports_in_flight, 5);
    let starts = journal.requests_to("list_projects");
    assert_eq!(starts.len(), 10);
    // The dead holder's exports ended `run_for` after their starts; no survivor start came
    // before the first of them ended.
    let first_end = starts[0].at + run_for;
    assert!(
        starts[5..].iter().all(|s| s.at >= first_end),
        "a slot was reused before the server said its export ended: {:?} vs {first_end:?}",
        starts.iter().map(|s| s.at).collect::<Vec<_>>()
    );
    for id in &held {
        assert!(
            journal.polls_of(id) >= 1,
            "the survivors asked the server about {id}"
        );
    }
    eprintln!(
        "killed holder: five slots reused {:?} after the SIGKILL",
        killed.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_killed_before_its_start_was_answered_frees_the_slot_after_the_grace_period() {
    let redis = RedisServer::start();
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(Duration::from_millis(200)))
        .default_rows(2)
        .start()
        .await;
    // The doomed process's start reaches the server; the answer would come 30 s later.
    fake.inject(Fault::start_lost().delay(Duration::from_secs(30)));
    let w = Worker {
        capacity: 1,
        ..worker(&fake, &redis, "doomed", 1)
    };
    let doomed = spawn(&w, "run");
    let watcher = RedisSlotStore::builder(redis.url())
        .namespace("procs")
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let snapshot = watcher.snapshot().await;
        if let Ok(s) = snapshot {
            if s.held() == 1 && s.holders[0].export_id.is_none() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the doomed worker never took its slot"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its start is on the way (the fake holds the answer back).
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(doomed); // SIGKILL, reaped
    let killed = Instant::now();

    let client = parent_client(
        &fake,
        &Worker {
            holder: "survivor".into(),
            ..w.clone()
        },
    );
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .expect("the slot came back");
    let back = killed.elapsed();
    assert!(back >= w.grace, "not before the grace period: {back:?}");
    assert!(
        back < LEASE + w.grace + Duration::from_secs(1),
        "soon after the lease lapsed and the grace period ended: {back:?}"
    );
    export.await.unwrap();
    assert!(fake.journal().requests_with_status(429).is_empty());
    eprintln!("killed before the answer: slot back {back:?} after the SIGKILL");
}
