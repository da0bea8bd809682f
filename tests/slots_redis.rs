//! What the Redis slot store does beyond the shared contract (issue 23): lapsed leases free
//! nothing by themselves, one claimer per lapsed slot, the grace period for slots without an
//! export id, the warm-up after Redis lost its data, and the typed error when Redis is down.
//! Real `redis-server`, short real leases (Redis's clock cannot be faked).

#[path = "common/fake.rs"]
mod fake;
#[path = "common/redis_server.rs"]
mod redis_server;

use mangrove::prelude::*;
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use mangrove::slots::{Admission, LeaseRecord, RedisSlotStore, SlotRequest, SlotStore};
use mangrove::testing::{FakeMangrove, Schedule, TokenKind};
use mangrove::{ExportError, PollPolicy, RetryPolicy};
use redis_server::RedisServer;
use tokio::time::Instant;

const LEASE: Duration = Duration::from_millis(300);
const GRACE: Duration = Duration::from_millis(400);

fn store(server: &RedisServer, holder: &str) -> Arc<RedisSlotStore> {
    Arc::new(
        RedisSlotStore::builder(server.url())
            .namespace("acme-test")
            .holder(holder)
            .lease(LEASE)
            .start_grace(GRACE)
            .timeout(Duration::from_millis(300))
            .build()
            .expect("store"),
    )
}

/// Asks until the store answers other than "warming up".
async fn admit(store: &dyn SlotStore, ticket: &str, lease: &str, capacity: usize) -> Admission {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let request = SlotRequest::new(ticket, lease, "test", capacity);
        match store.admit(&request).await.expect("store answers") {
            Admission::WarmingUp { remaining } if Instant::now() < deadline => {
                tokio::time::sleep(remaining).await
            }
            other => return other,
        }
    }
}

#[tokio::test]
async fn keys_share_one_hash_tag_and_hold_no_token() {
    let server = RedisServer::start();
    let store = store(&server, "web-1");
    admit(&*store, "t", "l", 5).await;
    let keys = server.command("KEYS *");
    assert!(keys.contains("{mgv:acme-test}:leases"), "{keys}");
    for line in keys.lines().filter(|l| l.contains(':')) {
        assert!(line.starts_with("{mgv:acme-test}:"), "{line}");
    }
    assert!(!keys.contains("tok_"), "{keys}");
    assert!(
        !format!("{store:?}").contains("127.0.0.1"),
        "the URL stays out of Debug"
    );
}

#[tokio::test]
async fn a_lapsed_slot_is_claimed_by_one_waiter_and_freed_only_when_asked() {
    let server = RedisServer::start();
    let dead = store(&server, "dead");
    let waiter = store(&server, "waiter");
    assert_eq!(admit(&*dead, "t", "l-dead", 1).await, Admission::Granted);
    dead.renew(&[LeaseRecord::new("l-dead", "dead", Some("exp_dead".into()))])
        .await
        .unwrap();
    // Not lapsed yet: nothing to claim.
    assert!(waiter.claim_lapsed("w1").await.unwrap().claimed.is_empty());
    tokio::time::sleep(LEASE + Duration::from_millis(50)).await;
    let snapshot = waiter.snapshot().await.unwrap();
    assert!(snapshot.holders[0].lapsed, "{snapshot:?}");
    // Lapsed, yet still held: a lease proves the holder alive, not the slot free.
    assert!(matches!(
        admit(&*waiter, "t2", "l2", 1).await,
        Admission::Queued { held: 1, .. }
    ));
    let first = waiter.claim_lapsed("w1").await.unwrap();
    assert_eq!(
        first.claimed,
        [("l-dead".to_string(), "exp_dead".to_string())]
    );
    assert!(
        waiter.claim_lapsed("w2").await.unwrap().claimed.is_empty(),
        "claimed by one waiter at a time"
    );
    assert!(
        !waiter.free_lapsed("l-dead", "w2").await.unwrap(),
        "not w2's claim"
    );
    assert!(waiter.free_lapsed("l-dead", "w1").await.unwrap());
    assert_eq!(admit(&*waiter, "t2", "l2", 1).await, Admission::Granted);
}

#[tokio::test]
async fn a_holder_that_comes_back_keeps_its_slot() {
    let server = RedisServer::start();
    let slow = store(&server, "slow");
    admit(&*slow, "t", "l", 1).await;
    let record = LeaseRecord::new("l", "slow", Some("exp_1".into()));
    slow.renew(std::slice::from_ref(&record)).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(50)).await;
    let claimed = slow.claim_lapsed("w").await.unwrap();
    assert_eq!(claimed.claimed.len(), 1);
    // The holder renews before the claimer's check ends: the claim is void.
    assert_eq!(slow.renew(&[record]).await.unwrap().readded, 0);
    assert!(!slow.free_lapsed("l", "w").await.unwrap());
    assert_eq!(slow.snapshot().await.unwrap().held(), 1);
}

#[tokio::test]
async fn a_lapsed_slot_without_export_id_is_freed_after_the_grace_period() {
    let server = RedisServer::start();
    let s = store(&server, "s");
    admit(&*s, "t", "l", 1).await;
    let taken = Instant::now();
    let mut freed_after = None;
    while taken.elapsed() < Duration::from_secs(3) {
        let reclaim = s.claim_lapsed("w").await.unwrap();
        assert!(
            reclaim.claimed.is_empty(),
            "no export id: nothing to ask the server"
        );
        if reclaim.freed_without_export == 1 {
            freed_after = Some(taken.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let freed_after = freed_after.expect("freed after the grace period");
    assert!(freed_after >= LEASE + GRACE, "{freed_after:?}");
    assert!(
        freed_after < LEASE + GRACE + Duration::from_millis(500),
        "{freed_after:?}"
    );
    assert_eq!(s.snapshot().await.unwrap().held(), 0);
}

#[tokio::test]
async fn after_redis_lost_its_data_admissions_wait_while_holders_re_add() {
    let mut server = RedisServer::start();
    let holder = store(&server, "holder");
    let other = store(&server, "other");
    admit(&*holder, "t", "l", 1).await;
    server.restart();
    // The connection manager reconnects; the renewal re-adds the slot and starts the warm-up.
    let record = LeaseRecord::new("l", "holder", Some("exp_1".into()));
    let mut readded = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while readded.is_none() && Instant::now() < deadline {
        match holder.renew(std::slice::from_ref(&record)).await {
            Ok(r) => readded = Some(r.readded),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    assert_eq!(readded, Some(1), "the lost slot was added again");
    let answer = other
        .admit(&SlotRequest::new("t2", "l2", "other", 1))
        .await
        .unwrap();
    assert!(matches!(answer, Admission::WarmingUp { .. }), "{answer:?}");
    assert!(other.snapshot().await.unwrap().warming_up.is_some());
    // After the warm-up the re-added slot still counts.
    assert!(matches!(
        admit(&*other, "t2", "l2", 1).await,
        Admission::Queued { held: 1, .. }
    ));
}

#[tokio::test]
async fn redis_down_for_longer_than_the_slot_wait_is_a_typed_error() {
    let mut server = RedisServer::start();
    let fake = FakeMangrove::start().await;
    let client = fake
        .client_builder(TokenKind::Account)
        .retry_policy(RetryPolicy::none())
        .poll_policy(PollPolicy::default().initial_delay(Duration::from_millis(20)))
        .export_slot_wait(Duration::from_millis(800))
        .slot_store(store(&server, "s"))
        .build()
        .unwrap();
    server.stop();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        client.list_projects().summary_with_export().send(),
    )
    .await
    .expect("no hang");
    let waited = started.elapsed();
    let Err(err @ ExportError::SlotStoreUnavailable { .. }) = result else {
        panic!("{result:?}")
    };
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(
        err.to_string().contains("slot store is unreachable"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("redis://"),
        "no URL in the error: {err}"
    );
    assert!(
        fake.journal().requests_to("list_projects").is_empty(),
        "nothing sent"
    );
}

#[tokio::test]
async fn from_env_needs_a_namespace_and_reads_the_url() {
    // Only this test touches these variables in this binary.
    std::env::set_var("MANGROVE_REDIS_URL", "redis://127.0.0.1:1");
    std::env::remove_var("MANGROVE_REDIS_NAMESPACE");
    let err = mangrove::Client::builder()
        .token("t")
        .from_env()
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("MANGROVE_REDIS_NAMESPACE"),
        "{err}"
    );
    std::env::set_var("MANGROVE_REDIS_NAMESPACE", "{bad}");
    let err = mangrove::Client::builder()
        .token("t")
        .from_env()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("namespace"), "{err}");
    std::env::set_var("MANGROVE_REDIS_NAMESPACE", "acme-prod");
    let client = mangrove::Client::builder()
        .token("t")
        .from_env()
        .build()
        .unwrap();
    // Port 1: nobody listens; the snapshot call reports it as a store error.
    assert!(client.export_slots().await.is_err());
    std::env::remove_var("MANGROVE_REDIS_URL");
    std::env::remove_var("MANGROVE_REDIS_NAMESPACE");
}

#[tokio::test]
async fn a_waiting_start_reclaims_a_dead_holders_ended_export() {
    let server = RedisServer::start();
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(Duration::from_millis(600)))
        .start()
        .await;
    // A "dead" holder: it took the only slot, recorded its export, and never renewed again.
    let dead = store(&server, "dead");
    let client = fake.client(TokenKind::Account);
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    let created = Instant::now();
    admit(&*dead, "t", "l-dead", 1).await;
    dead.renew(&[LeaseRecord::new(
        "l-dead",
        "dead",
        Some(export.id().to_string()),
    )])
    .await
    .unwrap();
    let waiting = fake
        .client_builder(TokenKind::Account)
        .export_concurrency(1)
        .poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(50))
                .max_delay(Duration::from_millis(50)),
        )
        .export_slot_wait(Duration::from_secs(5))
        .slot_store(store(&server, "waiter"))
        .build()
        .unwrap();
    let (_, second) = waiting
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .unwrap();
    assert!(
        created.elapsed() >= Duration::from_millis(600),
        "granted only after the export ended on the server: {:?}",
        created.elapsed()
    );
    assert!(fake.journal().requests_with_status(429).is_empty());
    assert!(
        fake.journal().polls_of(export.id()) >= 1,
        "the waiter asked the server"
    );
    second.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_run_holders_re_add_and_nobody_is_admitted_meanwhile() {
    let mut server = RedisServer::start();
    let run_for = Duration::from_millis(1500);
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(run_for))
        .default_rows(2)
        .start()
        .await;
    let build = |holder: &str| {
        fake.client_builder(TokenKind::Account)
            .poll_policy(
                PollPolicy::default()
                    .initial_delay(Duration::from_millis(50))
                    .max_delay(Duration::from_millis(50)),
            )
            .export_slot_wait(Duration::from_secs(10))
            .slot_store(store(&server, holder))
            .build()
            .unwrap()
    };
    let (first, second) = (build("first"), build("second"));
    let mut running = Vec::new();
    for _ in 0..5 {
        let (_, export) = first
            .list_projects()
            .summary_with_export()
            .send()
            .await
            .unwrap();
        running.push(tokio::spawn(export.into_future()));
    }
    server.restart();
    // Right after the restart Redis is empty: only the warm-up keeps `second` out until
    // `first` has re-added its five slots.
    let waiting = tokio::spawn(async move {
        second
            .list_projects()
            .summary_with_export()
            .send()
            .await
            .map(|(_, e)| e)
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Ok(Some(s)) = first.export_slots().await {
            if s.held() == 5 && s.holders.iter().all(|h| h.holder == "first") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the five slots were not re-added"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let late = waiting
        .await
        .unwrap()
        .expect("admitted once a slot really came free");
    for r in running {
        r.await.unwrap().unwrap();
    }
    late.await.unwrap();
    let journal = fake.journal();
    assert!(
        journal.requests_with_status(429).is_empty(),
        "no refused start"
    );
    assert_eq!(journal.max_exports_in_flight, 5);
    let starts = journal.requests_to("list_projects");
    assert!(
        starts[5].at >= starts[0].at + run_for,
        "the sixth start waited for a real end: {:?}",
        starts.iter().map(|s| s.at).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn falling_back_to_the_process_alone_is_an_explicit_opt_in() {
    let mut server = RedisServer::start();
    let fake = FakeMangrove::builder()
        .schedule(Schedule::AfterPolls(1))
        .start()
        .await;
    let shared = store(&server, "s");
    server.stop();
    let client = fake
        .client_builder(TokenKind::Account)
        .retry_policy(RetryPolicy::none())
        .export_slot_wait(Duration::from_millis(500))
        .slot_store(Arc::new(mangrove::slots::FallbackSlotStore::new(shared)))
        .build()
        .unwrap();
    // Redis is down: the start goes ahead on this process's own count.
    let (_, export) = client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .expect("the fallback admits");
    let snapshot = client.export_slots().await.unwrap().unwrap();
    assert_eq!(snapshot.held(), 1, "counted locally: {snapshot:?}");
    export.await.unwrap();
    let snapshot = client.export_slots().await.unwrap().unwrap();
    assert_eq!(
        snapshot.held(),
        0,
        "given back to the store that granted it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_started_outside_the_sdk_gives_the_slot_back_and_the_start_still_completes() {
    let server = RedisServer::start();
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(Duration::from_millis(800)))
        .default_rows(2)
        .start()
        .await;
    // "In the web app": one of the account's 5 slots is taken without the SDK knowing.
    let outside = fake
        .start_external_export(mangrove::testing::Collection::Projects)
        .expect("a free slot on the fake");
    let client = fake
        .client_builder(TokenKind::Account)
        .poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(50))
                .max_delay(Duration::from_millis(50)),
        )
        .export_slot_wait(Duration::from_secs(10))
        .slot_store(store(&server, "sdk"))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (_, export) = client.list_projects().summary_with_export().send().await?;
            export.await
        }));
    }
    // The store granted 5 slots; the server refuses the fifth start (429). While that start
    // waits to try again, its slot is back in the store: 4 held.
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.journal().requests_with_status(429).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the server never refused a start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The journal shows the 429 as soon as the fake answers; the SDK gives the slot back right
    // after reading it, and then waits out the server's Retry-After (seconds).
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let held = client.export_slots().await.unwrap().unwrap().held();
        if held == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refused start kept its slot: {held} held"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("the refused start queued again and completed");
    }
    let journal = fake.journal();
    assert!(journal.max_exports_in_flight <= 5);
    assert_eq!(journal.polls.len(), 5, "five SDK exports polled to the end");
    assert!(
        !journal.polls.contains_key(&outside),
        "the outside export is not the SDK's"
    );
}
