//! The client-side export limiter never hangs (issue 14, part 2).
//!
//! It counts running exports as the server does: a start waiting for a slot checks the held
//! exports' statuses at the poll policy's pace and frees those that ended; any observation of a
//! terminal status gives the slot back; the wait is bounded and ends in `ExportError::NoFreeSlot`.

#[path = "common/fake.rs"]
mod fake;

use mangrove::prelude::*;
use std::time::Duration;

use futures::StreamExt;
use mangrove::testing::{FakeMangrove, Schedule, TokenKind};
use mangrove::{Client, Export, ExportError, PollPolicy, RetryPolicy};
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);

/// A fake whose exports finish `after` on its own clock, whether polled or not.
async fn fake_after(after: Duration) -> FakeMangrove {
    FakeMangrove::builder()
        .schedule(Schedule::After(after))
        .start()
        .await
}

/// Real time with a tiny poll policy (20 ms between checks): tokio's paused clock would jump to
/// the next timer while the fake (on its own thread) answers, which makes waits meaningless.
fn client(fake: &FakeMangrove, slot_wait: Duration) -> Client {
    fake.client_builder(TokenKind::Account)
        .retry_policy(RetryPolicy::none())
        .poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(20)),
        )
        .export_slot_wait(slot_wait)
        .build()
        .unwrap()
}

async fn hold_five(client: &Client) -> Vec<Export> {
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(fake::start_projects(client).await);
    }
    held
}

async fn sixth(client: &Client) -> Result<Export, ExportError> {
    client
        .list_projects()
        .summary_with_export()
        .send()
        .await
        .map(|(_, e)| e)
}

#[tokio::test]
async fn five_held_handles_and_a_sixth_start_end_in_a_typed_error_within_the_bound() {
    let fake = fake_after(100 * HOUR).await;
    let client = client(&fake, Duration::from_millis(300));
    let held = hold_five(&client).await;
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(10), sixth(&client))
        .await
        .expect("the sixth start must not hang")
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            err,
            ExportError::NoFreeSlot {
                held: 5,
                limit: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
        "ended at the bound: {waited:?}"
    );
    assert_eq!(
        err.status(),
        None,
        "a client-side refusal has no HTTP status"
    );
    let text = err.to_string();
    assert!(
        text.contains("5 unfinished exports hold the export slots")
            && text.contains("await or drop"),
        "{text}"
    );
    // It names the holders: this process's label and each export id.
    let ExportError::NoFreeSlot { holders, .. } = &err else {
        unreachable!()
    };
    assert_eq!(holders.len(), 5);
    for (holder, export) in holders.iter().zip(&held) {
        assert!(
            holder
                .holder
                .contains(&format!("pid {}", std::process::id())),
            "{holder:?}"
        );
        assert!(!holder.lapsed);
        assert!(text.contains(export.id()), "{text}");
        assert!(holders
            .iter()
            .any(|h| h.export_id.as_deref() == Some(export.id())));
    }
    // It asked the server about the held exports meanwhile, and sent no sixth start.
    let journal = fake.journal();
    assert!(
        journal.polls.values().sum::<u32>() >= 5,
        "{:?}",
        journal.polls
    );
    assert_eq!(journal.max_exports_in_flight, 5);
    drop(held);
}

#[tokio::test]
async fn status_seeing_completed_frees_the_slot() {
    let fake = FakeMangrove::builder()
        .schedule(Schedule::AfterPolls(1))
        .start()
        .await;
    // A zero wait: the sixth start succeeds only if a slot is free right now.
    let client = client(&fake, Duration::ZERO);
    let held = hold_five(&client).await;
    assert!(
        matches!(sixth(&client).await, Err(ExportError::NoFreeSlot { .. })),
        "all five slots are held"
    );
    let snapshot = held[0].status().await.unwrap();
    assert_eq!(snapshot.status, mangrove::ExportStatus::Completed);
    let sixth = sixth(&client).await.expect("status() gave the slot back");
    assert!(matches!(
        client.list_projects().summary_with_export().send().await,
        Err(ExportError::NoFreeSlot { .. })
    ));
    drop((held, sixth));
}

#[tokio::test]
async fn statuses_seeing_the_end_frees_the_slot() {
    let fake = FakeMangrove::builder()
        .schedule(Schedule::FailAfterPolls {
            polls: 1,
            message: "boom".into(),
        })
        .start()
        .await;
    let client = client(&fake, Duration::ZERO);
    let held = hold_five(&client).await;
    let mut stream = held[2].statuses();
    assert!(matches!(
        stream.next().await,
        Some(Err(ExportError::Failed { .. }))
    ));
    assert!(
        sixth(&client).await.is_ok(),
        "a failed export frees its slot"
    );
}

#[tokio::test]
async fn a_held_unawaited_export_that_ends_on_the_server_frees_its_slot_for_a_waiting_start() {
    let fake = fake_after(HOUR).await;
    let client = client(&fake, Duration::from_secs(30));
    let held = hold_five(&client).await;
    // Nobody awaits the five. The exports finish on the server an hour later.
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { sixth(&client).await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!waiting.is_finished(), "no slot is free yet");
    fake.advance(2 * HOUR);
    let export = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the waiting start noticed the ended exports")
        .unwrap()
        .expect("and started");
    assert!(export.id().starts_with("exp_"));
    let journal = fake.journal();
    assert!(
        held.iter().any(|e| journal.polls_of(e.id()) >= 1),
        "the limiter asked the server: {:?}",
        journal.polls
    );
}

#[tokio::test]
async fn dropping_held_handles_frees_their_slots() {
    // No server-side limit here: the five exports keep running there.
    let fake = FakeMangrove::builder()
        .schedule(Schedule::After(100 * HOUR))
        .export_limit(None)
        .start()
        .await;
    let client = client(&fake, Duration::ZERO);
    let mut held = hold_five(&client).await;
    held.pop();
    assert!(sixth(&client).await.is_ok());
}

#[tokio::test]
async fn fifty_awaited_exports_still_queue_through_five_slots() {
    // The bound is on a stall, not on the queue: a queue that moves keeps going even when the
    // whole run takes far longer than the bound.
    let fake = FakeMangrove::builder()
        .default_rows(2)
        .schedule(Schedule::AfterPolls(3))
        .start()
        .await;
    // Each export takes at least 2 polls 60 ms apart after a 60 ms first wait; 10 waves take
    // well over the 500 ms bound.
    let client = fake
        .client_builder(TokenKind::Account)
        .poll_policy(
            PollPolicy::default()
                .initial_delay(Duration::from_millis(60))
                .max_delay(Duration::from_millis(60)),
        )
        .export_slot_wait(Duration::from_millis(500))
        .build()
        .unwrap();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let (_, export) = client.list_projects().summary_with_export().send().await?;
            export.await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let journal = fake.journal();
    assert_eq!(journal.polls.len(), 50);
    assert!(
        started.elapsed() > Duration::from_millis(500),
        "the run outlasted the bound"
    );
    assert_eq!(journal.max_exports_in_flight, 5);
    assert!(journal.requests_with_status(429).is_empty());
}
