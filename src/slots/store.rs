//! [`SlotStore`]: where the account's export slots are counted. The limiter keeps the policy
//! (arrival order inside a process, the bounded wait, checking held exports with the server); the
//! store keeps the shared state: who holds a slot, who waits, in which order.
//!
//! Two stores come with the crate: [`LocalSlotStore`](super::LocalSlotStore) (the default: one
//! client, or the clients of one process that share it) and, with the `redis` feature,
//! `RedisSlotStore` (every process that uses the same Redis and
//! namespace).

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::slot_snapshot::SlotSnapshot;

/// The shared state of the export slots, behind the client's limiter
/// ([`ClientBuilder::slot_store`](crate::ClientBuilder::slot_store)).
///
/// The limiter calls it like this: only the first start waiting in a process (the head of its
/// queue) calls [`admit`](SlotStore::admit), again and again with the same ticket until it is
/// granted (at least every [`renew_interval`](SlotStore::renew_interval), so the ticket stays
/// alive), waiting in between on [`changed`](SlotStore::changed). A granted slot is recorded
/// with [`renew`](SlotStore::renew) once the server answered the start (with its export id), and
/// then renewed every `renew_interval` while held; it is given back with
/// [`release`](SlotStore::release). A waiting head also asks, at its poll policy's pace, for
/// slots whose holder stopped renewing ([`claim_lapsed`](SlotStore::claim_lapsed)), checks their
/// exports with the server and frees those that ended ([`free_lapsed`](SlotStore::free_lapsed)).
///
/// Semantics every store must keep:
/// - a slot is granted only while fewer than `capacity` are held, and waiting tickets are served
///   in the order they first arrived;
/// - a lapsed lease frees nothing by itself: the export may still run on the server. A lapsed
///   slot with an export id is handed to one claimer at a time; without an export id it is freed
///   after a grace period;
/// - [`renew`](SlotStore::renew) re-adds a slot the store lost (after losing its data) and
///   admissions pause while holders may still be re-adding theirs.
///
/// Calls that change state may do their work when called or when the future is polled: the
/// limiter gives slots back from `Drop`, where it calls [`release`](SlotStore::release) and
/// spawns the future on the current tokio runtime (if any).
pub trait SlotStore: Send + Sync + fmt::Debug + 'static {
    /// One admission attempt for `request.ticket`: granted, or the ticket's place in the queue.
    fn admit(
        &self,
        request: &SlotRequest<'_>,
    ) -> BoxFuture<'static, Result<Admission, SlotStoreError>>;

    /// The ticket gave up waiting (its start was dropped or ran out of time).
    fn leave_queue(&self, ticket: &str) -> BoxFuture<'static, Result<(), SlotStoreError>>;

    /// Renews these held slots (and records their export ids); re-adds any the store lost.
    fn renew(&self, leases: &[LeaseRecord]) -> BoxFuture<'static, Result<Renewal, SlotStoreError>>;

    /// Gives a slot back; wakes a waiter. `Ok(false)` if it was not held (already freed).
    fn release(&self, lease: &str) -> BoxFuture<'static, Result<bool, SlotStoreError>>;

    /// Lapsed slots (their holder stopped renewing) to check with the server, each claimed by
    /// `claimer` for a while so that one waiter checks it. Frees, on the way, lapsed slots without
    /// an export id whose grace period is over.
    fn claim_lapsed(&self, claimer: &str) -> BoxFuture<'static, Result<Reclaim, SlotStoreError>>;

    /// Frees a lapsed slot whose export the server reports ended, if it is still lapsed and
    /// still claimed by `claimer` (a holder that came back keeps it).
    fn free_lapsed(
        &self,
        lease: &str,
        claimer: &str,
    ) -> BoxFuture<'static, Result<bool, SlotStoreError>>;

    /// Resolves when a slot may have come free after this call was made (pending forever if the
    /// store cannot tell: the limiter re-asks on its own timer too).
    fn changed(&self) -> BoxFuture<'static, ()>;

    /// How often held slots must be renewed and waiting tickets re-sent; `None` when leases
    /// never lapse (an in-process store dies with its process).
    fn renew_interval(&self) -> Option<Duration>;

    /// Who holds the slots, how many wait.
    fn snapshot(&self) -> BoxFuture<'static, Result<SlotSnapshot, SlotStoreError>>;

    /// The label this process's slots carry (shown in [`SlotHolder`](super::SlotHolder)).
    fn holder_label(&self) -> String {
        default_holder_label()
    }
}

/// `host/pid N`: which process holds a slot, readable in an error message.
pub fn default_holder_label() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/pid {}", std::process::id())
}

/// One admission attempt (see [`SlotStore::admit`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SlotRequest<'a> {
    /// The waiting start's place in the queue (the same on every attempt).
    pub ticket: &'a str,
    /// The id the slot gets if granted.
    pub lease: &'a str,
    /// The holder label.
    pub holder: &'a str,
    /// How many slots the account has.
    pub capacity: usize,
}

impl<'a> SlotRequest<'a> {
    /// An attempt (for tests of [`SlotStore`] implementations).
    pub fn new(ticket: &'a str, lease: &'a str, holder: &'a str, capacity: usize) -> Self {
        SlotRequest {
            ticket,
            lease,
            holder,
            capacity,
        }
    }
}

/// The answer to an admission attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// The slot is held under the request's lease id.
    Granted,
    /// Not yet: `position` tickets are ahead of this one, `held` slots are taken.
    Queued {
        /// Tickets ahead of this one (0: next).
        position: usize,
        /// Slots taken.
        held: usize,
    },
    /// The store lost its data recently: nobody is admitted until live holders re-added theirs.
    WarmingUp {
        /// Time left.
        remaining: Duration,
    },
}

/// A held slot as its holder renews it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LeaseRecord {
    /// The lease id.
    pub lease: String,
    /// The holder label.
    pub holder: String,
    /// The export started with the slot, once known.
    pub export_id: Option<String>,
}

impl LeaseRecord {
    /// A record (for tests of [`SlotStore`] implementations).
    pub fn new(
        lease: impl Into<String>,
        holder: impl Into<String>,
        export_id: Option<String>,
    ) -> Self {
        LeaseRecord {
            lease: lease.into(),
            holder: holder.into(),
            export_id,
        }
    }
}

/// What a renewal found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Renewal {
    /// Slots the store had lost and that were added again.
    pub readded: usize,
}

impl Renewal {
    /// A renewal outcome.
    pub fn new(readded: usize) -> Self {
        Renewal { readded }
    }
}

/// Lapsed slots handed to one claimer (see [`SlotStore::claim_lapsed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reclaim {
    /// `(lease id, export id)` of lapsed slots to check with the server.
    pub claimed: Vec<(String, String)>,
    /// Lapsed slots without an export id freed because their grace period was over.
    pub freed_without_export: usize,
}

impl Reclaim {
    /// A reclaim outcome.
    pub fn new(claimed: Vec<(String, String)>, freed_without_export: usize) -> Self {
        Reclaim {
            claimed,
            freed_without_export,
        }
    }
}

/// A slot store could not do what was asked (e.g. Redis unreachable). Never contains a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SlotStoreError {
    message: String,
}

impl SlotStoreError {
    /// An error with this message (no credentials in it).
    pub fn new(message: impl Into<String>) -> Self {
        SlotStoreError {
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}
