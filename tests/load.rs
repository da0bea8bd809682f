//! Load: 200 exports awaited concurrently on one client against the fake.

use mangrove::prelude::*;
use std::time::Duration;

use mangrove::testing::{FakeMangrove, Schedule, TokenKind};

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// All 200 complete, never more than 5 in flight on the server, no task stuck (the whole run ends
// within a bounded virtual time), and memory does not grow with the number of exports.
// Real clock with a quick policy: on a paused clock, the waiting starts' limiter checks let
// virtual time run ahead while the fake's thread answers, and pollers hit their time limit.
#[tokio::test]
async fn two_hundred_concurrent_exports() {
    let fake = FakeMangrove::builder()
        .default_rows(3)
        .schedule(Schedule::AfterPolls(3))
        .start()
        .await;
    let client = fake
        .client_builder(TokenKind::Account)
        .poll_policy(
            mangrove::PollPolicy::default()
                .initial_delay(Duration::from_millis(1))
                .max_delay(Duration::from_millis(5)),
        )
        .build()
        .unwrap();
    let run = |n: usize| {
        let client = client.clone();
        async move {
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let (_, export) =
                            client.list_projects().summary_with_export().send().await?;
                        export.await
                    })
                })
                .collect();
            let mut ok = 0;
            for t in tasks {
                t.await
                    .expect("task did not panic")
                    .expect("export completed");
                ok += 1;
            }
            ok
        }
    };
    // Warm up, then measure memory around the big run.
    assert_eq!(run(20).await, 20);
    let before = rss_kib();
    let started = tokio::time::Instant::now();
    // "No task stuck": every task finished well within a generous bound (a hang guard, not a
    // speed target).
    let finished = tokio::time::timeout(Duration::from_secs(300), run(200))
        .await
        .expect("200 exports finish");
    assert_eq!(finished, 200);
    println!("200 exports in {:?}", started.elapsed());
    let after = rss_kib();
    let journal = fake.journal();
    assert_eq!(journal.polls.len(), 220);
    assert!(
        journal.max_exports_in_flight <= 5,
        "{}",
        journal.max_exports_in_flight
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "200 exports: {:?} virtual, RSS {b} KiB -> {a} KiB",
            started.elapsed()
        );
        assert!(
            a.saturating_sub(b) < 32 * 1024,
            "memory grew by {} KiB",
            a - b
        );
    }
}
