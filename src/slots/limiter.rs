//! The client-side export limiter: at most N exports of one client running at once (the account
//! runs 5), counted as the server counts them: exports *running*, not exports someone awaits.
//!
//! A slot is taken before a start (waiters are served in arrival order) and given back when anyone
//! sees the export end (its poller, a `status()` seeing `completed`, `failed` or a 404) or every
//! handle to it is dropped. A waiting start checks, at its poll policy's pace, the held exports
//! nobody looked at lately, and frees those that ended on the server (one waiter checks at a
//! time). The wait ends with [`ExportError::NoFreeSlot`] when no slot came free for
//! [`ClientBuilder::export_slot_wait`]: a bound on a stall, not on a queue that keeps moving.
//!
//! [`ClientBuilder::export_slot_wait`]: crate::ClientBuilder::export_slot_wait
//!
//! This module sits below `export` in the module layers: it asks about held exports through
//! [`ExportProbe`], which the export layer implements, instead of calling the poller itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use futures::future::BoxFuture;

use crate::error::ExportError;
use crate::open_enum::ExportStatus;
use crate::saved_export::SavedExport;
use crate::settings::PollPolicy;

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

/// The limiter of one client (shared by its clones). Its semaphore queues waiting starts in
/// arrival order; each holder keeps a permit until its slot is given back.
#[derive(Debug)]
pub(crate) struct Limiter {
    capacity: usize,
    permits: Arc<Semaphore>,
    state: Mutex<LimiterState>,
}

#[derive(Debug, Default)]
struct LimiterState {
    next_key: u64,
    holders: BTreeMap<u64, Holder>,
    /// A waiter is checking the holders' statuses.
    checking: bool,
    /// Slots given back so far (progress: a waiter's bound restarts when it grows).
    releases: u64,
}

#[derive(Debug)]
struct Holder {
    _permit: OwnedSemaphorePermit,
    /// Known once the server answered the start.
    export: Option<SavedExport>,
    /// When someone last saw the export still running.
    seen_running: Option<Instant>,
}

impl Limiter {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Limiter {
            capacity,
            permits: Arc::new(Semaphore::new(capacity)),
            state: Mutex::new(LimiterState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Slots free right now.
    pub(crate) fn free(&self) -> usize {
        self.permits.available_permits()
    }

    fn hold(&self, permit: OwnedSemaphorePermit) -> u64 {
        let mut s = self.lock();
        let key = s.next_key;
        s.next_key += 1;
        let holder = Holder {
            _permit: permit,
            export: None,
            seen_running: None,
        };
        s.holders.insert(key, holder);
        key
    }

    /// Gives a slot back (its permit goes to the first waiter); idempotent.
    fn release(&self, key: u64) {
        let mut s = self.lock();
        if s.holders.remove(&key).is_some() {
            s.releases += 1;
        }
    }

    fn releases(&self) -> u64 {
        self.lock().releases
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
}

/// Clears the limiter's `checking` flag when a check ends (or its future is dropped).
struct Checking<'a>(&'a Limiter);

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        self.0.lock().checking = false;
    }
}

/// One export's place in the limiter; given back when dropped (every handle gone) or released.
#[derive(Debug)]
pub(crate) struct Slot {
    limiter: Option<Arc<Limiter>>,
    key: u64,
}

impl Slot {
    /// Waits for a free slot (none needed when the client has no limit). While waiting, checks
    /// the held exports at `policy`'s pace and frees those that ended; gives up with
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
        // Pinned once, so the place in the semaphore's queue is kept across the checks.
        let permit = Arc::clone(&limiter.permits).acquire_owned();
        tokio::pin!(permit);
        let started = Instant::now();
        let mut releases = limiter.releases();
        let mut deadline = started.checked_add(bound);
        let mut round = 1u32;
        let mut next_check = started.checked_add(policy.delay_after(round));
        loop {
            let wake = match (next_check, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                permit = &mut permit => {
                    // The semaphore is never closed; should it be, there is no slot to wait for.
                    let Ok(permit) = permit else {
                        return Ok(Arc::new(Slot { limiter: None, key: 0 }));
                    };
                    let key = limiter.hold(permit);
                    return Ok(Arc::new(Slot { limiter: Some(limiter), key }));
                }
                () = sleep => {}
            }
            let now = Instant::now();
            let seen = limiter.releases();
            if seen != releases {
                // The queue moved: the bound counts from here.
                releases = seen;
                deadline = now.checked_add(bound);
            }
            if deadline.is_some_and(|d| now >= d) {
                return Err(ExportError::NoFreeSlot {
                    held: limiter.lock().holders.len(),
                    limit: limiter.capacity,
                    waited: now.saturating_duration_since(started),
                });
            }
            if next_check.is_some_and(|at| now >= at) {
                check_holders(probe, &limiter, policy.delay_after(round)).await;
                round = round.saturating_add(1);
                next_check = Instant::now().checked_add(policy.delay_after(round));
            }
        }
    }

    /// Records the started export's id and status URL, so waiting starts can check on it.
    pub(crate) fn started(&self, export: SavedExport) {
        if let Some(limiter) = &self.limiter {
            if let Some(h) = limiter.lock().holders.get_mut(&self.key) {
                h.export = Some(export);
            }
        }
    }

    /// Someone saw this export: frees the slot if the status is terminal, else notes it running.
    pub(crate) fn observed(&self, status: &ExportStatus) {
        match status {
            ExportStatus::Completed | ExportStatus::Failed => self.release(),
            _ => {
                if let Some(limiter) = &self.limiter {
                    limiter.seen_running(self.key);
                }
            }
        }
    }

    /// Gives the slot back (idempotent).
    pub(crate) fn release(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.release(self.key);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}

/// One round of status checks on the exports holding slots (skipped when another waiter is
/// already checking). Exports the server reports `completed`, `failed` or gone (404) free
/// their slot; any other answer or failure leaves it taken.
async fn check_holders(probe: &dyn ExportProbe, limiter: &Limiter, fresh: Duration) {
    let Some(due) = limiter.due_for_check(fresh) else {
        return;
    };
    let _checking = Checking(limiter);
    for (key, saved) in due {
        let id = saved.id.clone();
        match probe.probe(saved).await {
            Probe::Ended => {
                tracing::debug!(export_id = %id, "export limiter: a held export has ended; slot freed");
                limiter.release(key);
            }
            Probe::Running => limiter.seen_running(key),
            Probe::Unknown => {}
        }
    }
}
