//! One contract, two slot stores (issue 23): every test here runs against the in-process
//! `LocalSlotStore` and against a `RedisSlotStore` on a real `redis-server`: admission up to
//! capacity, order, release, renewal, the bounded wait and the snapshot.

#[path = "common/fake.rs"]
mod fake;
#[path = "common/redis_server.rs"]
mod redis_server;

use mangrove::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use mangrove::slots::{
    Admission, LeaseRecord, LocalSlotStore, RedisSlotStore, SlotRequest, SlotStore,
};
use mangrove::testing::{FakeMangrove, Schedule, TokenKind};
use mangrove::{ExportError, PollPolicy, RetryPolicy};
use redis_server::RedisServer;
use tokio::time::Instant;

/// A store under test (and the Redis server behind it, kept alive).
struct Under {
    store: Arc<dyn SlotStore>,
    _redis: Option<RedisServer>,
}

/// Short real leases: Redis's clock cannot be faked. 300 ms leases are renewed every 100 ms; a
/// fresh namespace warms up for 150 ms.
const LEASE: Duration = Duration::from_millis(300);

fn redis_store(server: &RedisServer, holder: &str) -> Arc<dyn SlotStore> {
    Arc::new(
        RedisSlotStore::builder(server.url())
            .namespace("contract")
            .holder(holder)
            .lease(LEASE)
            .start_grace(Duration::from_millis(300))
            .build()
            .expect("store"),
    )
}

fn stores() -> Vec<(&'static str, Under)> {
    let redis = RedisServer::start();
    let store = redis_store(&redis, "contract-holder");
    vec![
        (
            "local",
            Under {
                store: Arc::new(LocalSlotStore::new()),
                _redis: None,
            },
        ),
        (
            "redis",
            Under {
                store,
                _redis: Some(redis),
            },
        ),
    ]
}

/// Asks until the store answers other than "warming up" (a new Redis namespace warms up first).
async fn admit(store: &dyn SlotStore, ticket: &str, lease: &str, capacity: usize) -> Admission {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let request = SlotRequest::new(ticket, lease, "contract-holder", capacity);
        match store.admit(&request).await.expect("store answers") {
            Admission::WarmingUp { remaining } if Instant::now() < deadline => {
                tokio::time::sleep(remaining).await
            }
            other => return other,
        }
    }
}

#[tokio::test]
async fn admits_up_to_capacity_then_queues() {
    for (name, under) in stores() {
        let store = &*under.store;
        for i in 0..5 {
            let answer = admit(store, &format!("t{i}"), &format!("l{i}"), 5).await;
            assert_eq!(answer, Admission::Granted, "{name}: slot {i}");
        }
        let sixth = admit(store, "t5", "l5", 5).await;
        assert_eq!(
            sixth,
            Admission::Queued {
                position: 0,
                held: 5
            },
            "{name}"
        );
        // A smaller capacity (another client's setting) is honoured too.
        let seventh = admit(store, "t6", "l6", 3).await;
        assert!(
            matches!(seventh, Admission::Queued { position: 1, .. }),
            "{name}: {seventh:?}"
        );
    }
}

#[tokio::test]
async fn waiters_are_served_in_arrival_order() {
    for (name, under) in stores() {
        let store = &*under.store;
        for i in 0..5 {
            admit(store, &format!("h{i}"), &format!("l{i}"), 5).await;
        }
        for (i, t) in ["a", "b", "c"].iter().enumerate() {
            let answer = admit(store, t, &format!("lease-{t}"), 5).await;
            assert_eq!(
                answer,
                Admission::Queued {
                    position: i,
                    held: 5
                },
                "{name}: {t}"
            );
        }
        assert!(store.release("l0").await.unwrap(), "{name}");
        // `b` asks first, but `a` is ahead of it: the one free slot is `a`'s.
        assert!(
            matches!(
                admit(store, "b", "lease-b", 5).await,
                Admission::Queued {
                    position: 1,
                    held: 4
                }
            ),
            "{name}"
        );
        assert_eq!(
            admit(store, "a", "lease-a", 5).await,
            Admission::Granted,
            "{name}"
        );
        assert!(
            matches!(
                admit(store, "b", "lease-b", 5).await,
                Admission::Queued {
                    position: 0,
                    held: 5
                }
            ),
            "{name}"
        );
        // A ticket that leaves lets the one behind it move up.
        store.leave_queue("b").await.unwrap();
        assert!(
            matches!(
                admit(store, "c", "lease-c", 5).await,
                Admission::Queued { position: 0, .. }
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn release_frees_once_and_wakes_a_waiter() {
    for (name, under) in stores() {
        let store = &*under.store;
        for i in 0..5 {
            admit(store, &format!("t{i}"), &format!("l{i}"), 5).await;
        }
        let changed = store.changed();
        // The Redis store's subscriber connects in the background.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let woken = tokio::spawn(changed);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = Instant::now();
        assert!(store.release("l3").await.unwrap(), "{name}");
        tokio::time::timeout(Duration::from_secs(2), woken)
            .await
            .unwrap_or_else(|_| panic!("{name}: a release wakes the waiters"))
            .unwrap();
        assert!(
            before.elapsed() < Duration::from_millis(500),
            "{name}: promptly"
        );
        assert!(!store.release("l3").await.unwrap(), "{name}: released once");
        assert_eq!(
            admit(store, "t9", "l9", 5).await,
            Admission::Granted,
            "{name}"
        );
    }
}

#[tokio::test]
async fn renewal_records_the_export_id_and_the_snapshot_names_holders() {
    for (name, under) in stores() {
        let store = &*under.store;
        admit(store, "t0", "l0", 5).await;
        admit(store, "t1", "l1", 5).await;
        let record = LeaseRecord::new("l1", "contract-holder", Some("exp_42".into()));
        let renewal = store.renew(&[record]).await.unwrap();
        assert_eq!(renewal.readded, 0, "{name}: nothing was lost");
        for i in 2..6 {
            admit(store, &format!("t{i}"), &format!("l{i}"), 5).await;
        }
        let snapshot = store.snapshot().await.unwrap();
        assert_eq!(snapshot.held(), 5, "{name}");
        assert_eq!(snapshot.queued, 1, "{name}: t5 waits");
        assert!(
            snapshot
                .holders
                .iter()
                .all(|h| h.holder == "contract-holder"),
            "{name}: {snapshot:?}"
        );
        let with_id: Vec<_> = snapshot
            .holders
            .iter()
            .filter_map(|h| h.export_id.as_deref())
            .collect();
        assert_eq!(with_id, ["exp_42"], "{name}");
        assert_eq!(store.holder_label(), store.holder_label(), "{name}: stable");
    }
}

#[tokio::test]
async fn renewal_keeps_a_lease_alive_past_its_length() {
    for (name, under) in stores() {
        let store = &*under.store;
        admit(store, "t0", "l0", 5).await;
        let record = LeaseRecord::new("l0", "contract-holder", Some("exp_1".into()));
        let every = store.renew_interval().unwrap_or(Duration::from_millis(100));
        let until = Instant::now() + 3 * LEASE;
        while Instant::now() < until {
            store.renew(std::slice::from_ref(&record)).await.unwrap();
            tokio::time::sleep(every).await;
        }
        let snapshot = store.snapshot().await.unwrap();
        assert_eq!(snapshot.held(), 1, "{name}");
        assert!(
            !snapshot.holders[0].lapsed,
            "{name}: renewed, so not lapsed"
        );
        assert!(
            snapshot.holders[0].age >= 3 * LEASE,
            "{name}: age counts from the grant"
        );
        // Nothing lapsed, so nothing to reclaim.
        let reclaim = store.claim_lapsed("someone").await.unwrap();
        assert!(reclaim.claimed.is_empty(), "{name}");
    }
}

/// Real time, tiny poll policy, one store per client.
fn client(fake: &FakeMangrove, store: Arc<dyn SlotStore>, wait: Duration) -> mangrove::Client {
    fake.client_builder(TokenKind::Account)
        .retry_policy(RetryPolicy::none())
        .poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(20)),
        )
        .export_slot_wait(wait)
        .slot_store(store)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_wait_is_bounded_and_names_the_holders() {
    for (name, under) in stores() {
        let fake = FakeMangrove::builder()
            .schedule(Schedule::After(Duration::from_secs(3600)))
            .start()
            .await;
        let client = client(&fake, under.store.clone(), Duration::from_millis(400));
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(fake::start_projects(&client).await);
        }
        let started = Instant::now();
        let sixth = tokio::time::timeout(
            Duration::from_secs(10),
            client.list_projects().summary_with_export().send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: the sixth start must not hang"));
        let waited = started.elapsed();
        let Err(ExportError::NoFreeSlot {
            held: 5,
            limit: 5,
            holders,
            ..
        }) = &sixth
        else {
            panic!("{name}: {sixth:?}")
        };
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
            "{name}: {waited:?}"
        );
        let ids: Vec<_> = holders.iter().filter_map(|h| h.export_id.clone()).collect();
        for export in &held {
            assert!(
                ids.iter().any(|id| id == export.id()),
                "{name}: {holders:?}"
            );
        }
        assert_eq!(fake.journal().max_exports_in_flight, 5, "{name}");
        assert!(
            fake.journal().requests_with_status(429).is_empty(),
            "{name}"
        );
        // The dashboard call sees the same.
        let snapshot = client.export_slots().await.unwrap().expect("a limiter");
        assert_eq!(snapshot.held(), 5, "{name}");
        drop(held);
    }
}

#[tokio::test]
async fn twenty_exports_through_five_slots_with_either_store() {
    for (name, under) in stores() {
        let fake = FakeMangrove::builder()
            .default_rows(2)
            .schedule(Schedule::AfterPolls(2))
            .start()
            .await;
        let client = client(&fake, under.store.clone(), Duration::from_secs(5));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let (_, export) = client.list_projects().summary_with_export().send().await?;
                export.await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let journal = fake.journal();
        assert_eq!(journal.polls.len(), 20, "{name}");
        assert_eq!(journal.max_exports_in_flight, 5, "{name}");
        assert!(journal.requests_with_status(429).is_empty(), "{name}");
        // Every slot is given back (the Redis releases run in the background).
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let held = under.store.snapshot().await.unwrap().held();
            if held == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{name}: {held} slots still held");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
