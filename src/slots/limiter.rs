//! The client-side export limiter: at most N exports running at once (the account runs 5),
//! counted as the server counts them: exports *running*, not exports someone awaits.
//!
//! The policy lives here; the count lives in a [`SlotStore`] (in this process's memory by
//! default, or shared by several processes, e.g. through Redis).
//!
//! - Starts of one process wait in arrival order (a fair mutex, the *gate*); only the first of
//!   them (the head) asks the store, with one ticket for its whole wait, so the store sees one
//!   waiter per process and serves processes in their order of arrival.
//! - A slot is given back when anyone sees the export end (its poller, a `status()` seeing
//!   `completed`, `failed` or a 404) or every handle to it is dropped.
//! - While waiting, the head checks, at its poll policy's pace, this process's held exports that
//!   nobody looked at lately and frees those that ended on the server (one waiter checks at a
//!   time), and asks the store for slots whose holder stopped renewing (a process that died): it
//!   checks their exports with the server and frees those the server says ended, completed,
//!   failed or gone. A lapsed lease alone frees nothing: the dead process's export may still run.
//! - Held slots are renewed in the background when the store's leases can lapse.
//! - The wait ends with [`ExportError::NoFreeSlot`] (naming the holders) when no slot came free
//!   for [`ClientBuilder::export_slot_wait`]: a bound on a stall, not on a queue that keeps
//!   moving. When the store itself failed for that long, [`ExportError::SlotStoreUnavailable`].
//!
//! [`ClientBuilder::export_slot_wait`]: crate::ClientBuilder::export_slot_wait
//!
//! This module sits below `export` in the module layers: it asks about held exports through
//! [`ExportProbe`], which the export layer implements, instead of calling the poller itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::time::Instant;

use futures::future::BoxFuture;

use super::store::{Admission, LeaseRecord, SlotRequest, SlotStore, SlotStoreError};
use crate::error::ExportError;
use crate::open_enum::ExportStatus;
use crate::saved_export::SavedExport;
use crate::settings::PollPolicy;
use crate::slot_snapshot::SlotHolder;

/// What a waiting start learns when it asks the server about a held export
/// (`GET /exports/{id}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `completed`, `failed`, or gone (404: cleaned up): the server no longer counts it.
    Ended,
    /// Any other status: still counted by the server.
    Running,
    /// No answer worth acting on (a transient failure, an undecodable body): the slot stays taken,
    /// because only the server's word frees a slot whose export may still run.
    Unknown,
}

/// Asks the server whether a held export has ended. Implemented by the export layer (which knows
/// how to read a status); the limiter only calls it, so this module does not depend on `export`.
pub(crate) trait ExportProbe: Send + Sync {
    /// The server's word on `export`.
    fn probe(&self, export: SavedExport) -> BoxFuture<'_, Probe>;
}

/// The limiter of one client (shared by its clones).
#[derive(Debug)]
pub(crate) struct Limiter {
    capacity: usize,
    store: Arc<dyn SlotStore>,
    /// This process's holder label (computed once).
    label: String,
    /// The queue of this process's waiting starts: tokio's mutex is fair (first come, first
    /// served), and its holder is the head, the only start that talks to the store.
    gate: tokio::sync::Mutex<()>,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    next_key: u64,
    holders: BTreeMap<u64, Holder>,
    /// A waiter is checking the holders' statuses.
    checking: bool,
    /// Grows whenever the queue moves (a slot given, given back, or freed in another process):
    /// a waiter's bound restarts when it grows.
    progress: u64,
    /// The background renewal task runs.
    renewing: bool,
}

#[derive(Debug)]
struct Holder {
    lease: String,
    /// Known once the server answered the start.
    export: Option<SavedExport>,
    /// When someone last saw the export still running.
    seen_running: Option<Instant>,
}

/// A random id for a ticket or a lease: unique across processes (random bits and the pid).
fn new_id(kind: &str) -> String {
    format!("{kind}{:016x}{:x}", fastrand::u64(..), std::process::id())
}

/// Runs a store call that was made from synchronous code (a `Drop`) to its end, on the current
/// runtime if there is one. A store that does its work when called (the in-process one) has
/// already done it; without a runtime, a Redis slot lapses and is reclaimed after a check.
///
/// Answers the spawned task, for callers that can wait for it: a process that exits right
/// after its last export ended must give that slot back first, or it stays taken until its lease
/// lapses and a waiter checks the export.
fn finish_in_background<T: Send + 'static>(
    call: BoxFuture<'static, Result<T, SlotStoreError>>,
) -> Option<tokio::task::JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    Some(runtime.spawn(async move {
        if let Err(e) = call.await {
            tracing::warn!(error = %e, "export slots: the slot store did not take a change");
        }
    }))
}

impl Limiter {
    pub(crate) fn new(capacity: usize, store: Arc<dyn SlotStore>) -> Self {
        Limiter {
            capacity: capacity.max(1),
            label: store.holder_label(),
            store,
            gate: tokio::sync::Mutex::new(()),
            state: Mutex::new(LimiterState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store behind this limiter.
    pub(crate) fn store(&self) -> &Arc<dyn SlotStore> {
        &self.store
    }

    /// Slots held by this client.
    pub(crate) fn held_here(&self) -> usize {
        self.lock().holders.len()
    }

    fn progress(&self) -> u64 {
        self.lock().progress
    }

    fn moved(&self) {
        let mut s = self.lock();
        s.progress = s.progress.wrapping_add(1);
    }

    fn hold(self: &Arc<Self>, lease: String) -> u64 {
        let mut s = self.lock();
        let key = s.next_key;
        s.next_key += 1;
        let holder = Holder {
            lease,
            export: None,
            seen_running: None,
        };
        s.holders.insert(key, holder);
        s.progress = s.progress.wrapping_add(1);
        if let Some(every) = self.store.renew_interval() {
            if !s.renewing {
                s.renewing = true;
                tokio::spawn(renew_leases(Arc::downgrade(self), every));
            }
        }
        key
    }

    /// Gives a slot back (the store wakes the first waiter); idempotent. Answers the store call
    /// running in the background, if any.
    fn release(&self, key: u64) -> Option<tokio::task::JoinHandle<()>> {
        let removed = {
            let mut s = self.lock();
            let removed = s.holders.remove(&key);
            if removed.is_some() {
                s.progress = s.progress.wrapping_add(1);
            }
            removed
        };
        let holder = removed?;
        finish_in_background(self.store.release(&holder.lease))
    }

    fn record(&self, holder: &Holder) -> LeaseRecord {
        LeaseRecord::new(
            holder.lease.clone(),
            self.label.clone(),
            holder.export.as_ref().map(|e| e.id.clone()),
        )
    }

    /// The held exports not seen running within `fresh`, unless another waiter is checking.
    fn due_for_check(&self, fresh: Duration) -> Option<Vec<(u64, SavedExport)>> {
        let mut s = self.lock();
        if s.checking {
            return None;
        }
        let now = Instant::now();
        let due: Vec<_> = s
            .holders
            .iter()
            .filter(|(_, h)| {
                h.seen_running
                    .is_none_or(|at| now.saturating_duration_since(at) >= fresh)
            })
            .filter_map(|(k, h)| h.export.clone().map(|e| (*k, e)))
            .collect();
        s.checking = true;
        Some(due)
    }

    fn seen_running(&self, key: u64) {
        if let Some(h) = self.lock().holders.get_mut(&key) {
            h.seen_running = Some(Instant::now());
        }
    }

    /// The typed error of a wait that ran out, naming the holders the store knows of.
    async fn no_free_slot(&self, waited: Duration) -> ExportError {
        let snapshot = tokio::time::timeout(Duration::from_secs(1), self.store.snapshot()).await;
        let holders: Vec<SlotHolder> = match snapshot {
            Ok(Ok(s)) => s.holders,
            _ => Vec::new(),
        };
        let held = if holders.is_empty() {
            self.held_here()
        } else {
            holders.len()
        };
        ExportError::NoFreeSlot {
            held,
            limit: self.capacity,
            waited,
            holders,
        }
    }
}

/// Renews this limiter's held slots every `every` while it holds any (re-adding those the store
/// lost); ends when none is held or the limiter is gone.
async fn renew_leases(limiter: Weak<Limiter>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(limiter) = limiter.upgrade() else {
            return;
        };
        let records: Vec<LeaseRecord> = {
            let mut s = limiter.lock();
            if s.holders.is_empty() {
                s.renewing = false;
                return;
            }
            s.holders.values().map(|h| limiter.record(h)).collect()
        };
        match limiter.store.renew(&records).await {
            Ok(r) if r.readded > 0 => tracing::warn!(
                readded = r.readded,
                held_here = records.len(),
                "export slots: the slot store had lost held slots (restarted?); added them again"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "export slots: renewing held slots failed"),
        }
    }
}

/// Clears the limiter's `checking` flag when a check ends (or its future is dropped).
struct Checking<'a>(&'a Limiter);

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        self.0.lock().checking = false;
    }
}

/// Takes a waiting ticket out of the store's queue when its start stops waiting without a slot.
struct Ticket {
    store: Arc<dyn SlotStore>,
    id: String,
    queued: bool,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.queued {
            // Nobody to wait for it here; a ticket not re-sent lapses anyway.
            drop(finish_in_background(self.store.leave_queue(&self.id)));
        }
    }
}

/// How long a start still waits: the bound counts from the last time the queue moved.
struct Bound {
    bound: Duration,
    deadline: Option<Instant>,
    progress: u64,
}

impl Bound {
    /// The bound ran out (restarting it first if the queue moved since the last look).
    fn over(&mut self, limiter: &Limiter) -> bool {
        let now = Instant::now();
        let seen = limiter.progress();
        if seen != self.progress {
            self.progress = seen;
            self.deadline = now.checked_add(self.bound);
        }
        self.deadline.is_some_and(|d| now >= d)
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}

/// One export's place in the limiter; given back when dropped (every handle gone) or released.
#[derive(Debug)]
pub(crate) struct Slot {
    limiter: Option<Arc<Limiter>>,
    key: u64,
}

impl Slot {
    /// Waits for a free slot (none needed when the client has no limit). While waiting, checks
    /// held exports at `policy`'s pace and frees those that ended; gives up with
    /// [`ExportError::NoFreeSlot`] when no slot came free for `bound`.
    pub(crate) async fn acquire(
        limiter: Option<Arc<Limiter>>,
        probe: &dyn ExportProbe,
        policy: &PollPolicy,
        bound: Duration,
    ) -> Result<Arc<Slot>, ExportError> {
        let Some(limiter) = limiter else {
            return Ok(Arc::new(Slot {
                limiter: None,
                key: 0,
            }));
        };
        let started = Instant::now();
        let mut wait = Bound {
            bound,
            deadline: started.checked_add(bound),
            progress: limiter.progress(),
        };
        // The process's queue. Pinned once, so the place in it is kept across the looks at the
        // bound.
        let gate = limiter.gate.lock();
        tokio::pin!(gate);
        let _head = loop {
            tokio::select! {
                biased;
                head = &mut gate => break head,
                () = sleep_until(wait.deadline) => {}
            }
            if wait.over(&limiter) {
                return Err(limiter.no_free_slot(started.elapsed()).await);
            }
        };
        head_wait(&limiter, probe, policy, started, wait).await
    }

    /// Records the started export's id (here and in the store), so waiting starts of this and
    /// other processes can check on it.
    pub(crate) async fn started(&self, export: SavedExport) {
        let Some(limiter) = &self.limiter else {
            return;
        };
        let record = {
            let mut s = limiter.lock();
            let Some(h) = s.holders.get_mut(&self.key) else {
                return;
            };
            h.export = Some(export);
            limiter.record(h)
        };
        if let Err(e) = limiter.store.renew(&[record]).await {
            // The renewal task sends it again.
            tracing::warn!(error = %e, "export slots: recording the export id failed");
        }
    }

    /// Someone saw this export: frees the slot if the status is terminal (and waits until the
    /// store took it), else notes it running.
    pub(crate) async fn observed(&self, status: &ExportStatus) {
        match status {
            ExportStatus::Completed | ExportStatus::Failed => self.released().await,
            _ => {
                if let Some(limiter) = &self.limiter {
                    limiter.seen_running(self.key);
                }
            }
        }
    }

    /// Gives the slot back (idempotent) without waiting for the store.
    pub(crate) fn release(&self) {
        if let Some(limiter) = &self.limiter {
            drop(limiter.release(self.key));
        }
    }

    /// Gives the slot back (idempotent) and waits until the store took it: the release runs on
    /// its own task, so it completes even if this future is dropped.
    pub(crate) async fn released(&self) {
        if let Some(task) = self.limiter.as_ref().and_then(|l| l.release(self.key)) {
            let _ = task.await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// The head of the process's queue: asks the store until it grants a slot, checking held
/// exports at the poll policy's pace meanwhile.
async fn head_wait(
    limiter: &Arc<Limiter>,
    probe: &dyn ExportProbe,
    policy: &PollPolicy,
    started: Instant,
    mut wait: Bound,
) -> Result<Arc<Slot>, ExportError> {
    let store = Arc::clone(&limiter.store);
    let mut ticket = Ticket {
        store: Arc::clone(&store),
        id: new_id("t"),
        queued: true,
    };
    let lease = new_id("l");
    // Re-asked at least this often: a Redis ticket that is not re-sent lapses.
    let reask = store.renew_interval();
    let mut round = 1u32;
    let mut next_check = started.checked_add(policy.delay_after(round));
    let mut failure: Option<SlotStoreError>;
    let mut failures = 0u32;
    let mut last_position: Option<usize> = None;
    let mut reclaimed = 0usize;
    loop {
        // Made before the attempt: a slot freed after the attempt wakes this head.
        let changed = store.changed();
        let request = SlotRequest::new(&ticket.id, &lease, &limiter.label, limiter.capacity);
        let attempt = store.admit(&request);
        let now = Instant::now();
        // A store that does not answer must not hold the start past its bound.
        let answer = match wait.deadline {
            Some(d) => tokio::time::timeout_at(d.max(now + Duration::from_millis(1)), attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(SlotStoreError::new("no answer from the slot store in time"))
                }),
            None => attempt.await,
        };
        let waited_ms = started.elapsed().as_millis() as u64;
        let mut retry_at = reask.and_then(|every| Instant::now().checked_add(every));
        match answer {
            Ok(Admission::Granted) => {
                ticket.queued = false;
                let key = limiter.hold(lease);
                tracing::debug!(
                    held_here = limiter.held_here(),
                    capacity = limiter.capacity,
                    waited_ms,
                    reclaimed,
                    "export slots: slot granted"
                );
                return Ok(Arc::new(Slot {
                    limiter: Some(Arc::clone(limiter)),
                    key,
                }));
            }
            Ok(Admission::Queued { position, held }) => {
                failure = None;
                failures = 0;
                if last_position.is_some_and(|p| position < p) {
                    limiter.moved();
                }
                last_position = Some(position);
                tracing::debug!(
                    held,
                    capacity = limiter.capacity,
                    queue_position = position,
                    waited_ms,
                    "export slots: waiting for a slot"
                );
            }
            Ok(Admission::WarmingUp { remaining }) => {
                failure = None;
                failures = 0;
                tracing::info!(
                    remaining_ms = remaining.as_millis() as u64,
                    waited_ms,
                    "export slots: the slot store lost its data; admissions wait while holders \
                     re-add their slots"
                );
                retry_at = earliest([retry_at, Instant::now().checked_add(remaining)]);
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, waited_ms, "export slots: the slot store failed");
                failure = Some(e);
                // 50 ms, doubling up to 1 s: a store that comes back is seen soon.
                let backoff =
                    Duration::from_millis(50 << failures.min(5)).min(Duration::from_secs(1));
                retry_at = earliest([retry_at, Instant::now().checked_add(backoff)]);
            }
        }
        let wake = earliest([retry_at, next_check, wait.deadline]);
        tokio::select! {
            () = changed => limiter.moved(),
            () = sleep_until(wake) => {}
        }
        if wait.over(limiter) {
            let waited = started.elapsed();
            return Err(match failure {
                Some(e) => ExportError::SlotStoreUnavailable {
                    message: e.message().to_string(),
                    waited,
                },
                None => limiter.no_free_slot(waited).await,
            });
        }
        if next_check.is_some_and(|at| Instant::now() >= at) {
            check_holders(probe, limiter, policy.delay_after(round)).await;
            reclaimed += reclaim_lapsed(probe, limiter, &ticket.id).await;
            round = round.saturating_add(1);
            next_check = Instant::now().checked_add(policy.delay_after(round));
        }
    }
}

/// One round of status checks on this process's exports holding slots (skipped when another
/// waiter is already checking). Exports the server reports `completed`, `failed` or gone (404)
/// free their slot; any other answer or failure leaves it taken.
async fn check_holders(probe: &dyn ExportProbe, limiter: &Limiter, fresh: Duration) {
    let Some(due) = limiter.due_for_check(fresh) else {
        return;
    };
    let _checking = Checking(limiter);
    for (key, saved) in due {
        let id = saved.id.clone();
        match probe.probe(saved).await {
            Probe::Ended => {
                tracing::debug!(export_id = %id, "export slots: a held export has ended; slot freed");
                drop(limiter.release(key));
            }
            Probe::Running => limiter.seen_running(key),
            Probe::Unknown => {}
        }
    }
}

/// Slots whose holder stopped renewing (a process that died): this waiter claims them, asks the
/// server about their exports and frees those that ended. Answers how many it freed.
async fn reclaim_lapsed(probe: &dyn ExportProbe, limiter: &Limiter, claimer: &str) -> usize {
    let store = &limiter.store;
    let reclaim = match store.claim_lapsed(claimer).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "export slots: asking for lapsed slots failed");
            return 0;
        }
    };
    let mut freed = reclaim.freed_without_export;
    if freed > 0 {
        tracing::warn!(
            reclaimed = freed,
            "export slots: freed slots whose holder died before its start was answered (grace \
             period over)"
        );
        limiter.moved();
    }
    for (lease, export_id) in reclaim.claimed {
        if probe.probe(SavedExport::from(export_id.clone())).await != Probe::Ended {
            continue;
        }
        match store.free_lapsed(&lease, claimer).await {
            Ok(true) => {
                freed += 1;
                limiter.moved();
                tracing::info!(
                    export_id = %export_id,
                    reclaimed = 1,
                    "export slots: a dead holder's export has ended; slot freed"
                );
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "export slots: freeing a lapsed slot failed"),
        }
    }
    freed
}
