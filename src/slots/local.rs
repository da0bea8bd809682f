//! [`LocalSlotStore`]: the export slots counted in this process's memory (the default store).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{self, BoxFuture, FutureExt as _};
use tokio::sync::watch;
use tokio::time::Instant;

use super::store::{
    Admission, LeaseRecord, Reclaim, Renewal, SlotRequest, SlotStore, SlotStoreError,
};
use crate::slot_snapshot::{SlotHolder, SlotSnapshot};

/// The export slots of one process, in memory: every client built without
/// [`ClientBuilder::slot_store`](crate::ClientBuilder::slot_store) gets its own; share one
/// `Arc<LocalSlotStore>` between clients of one process to make them share the account's slots.
///
/// Its leases never lapse (it dies with its process, and so do its holders), so it has nothing to
/// renew or reclaim. Every call does its work when called; the futures are ready at once.
#[derive(Debug)]
pub struct LocalSlotStore {
    state: Mutex<State>,
    freed: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    /// Waiting tickets, in arrival order.
    queue: VecDeque<String>,
    /// Held slots by lease id.
    held: BTreeMap<String, Entry>,
}

#[derive(Debug)]
struct Entry {
    holder: String,
    export_id: Option<String>,
    since: Instant,
}

impl Default for LocalSlotStore {
    fn default() -> Self {
        LocalSlotStore::new()
    }
}

impl LocalSlotStore {
    /// An empty store.
    pub fn new() -> Self {
        LocalSlotStore {
            state: Mutex::new(State::default()),
            freed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        self.freed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl SlotStore for LocalSlotStore {
    fn admit(&self, r: &SlotRequest<'_>) -> BoxFuture<'static, Result<Admission, SlotStoreError>> {
        let mut s = self.lock();
        let position = match s.queue.iter().position(|t| t == r.ticket) {
            Some(p) => p,
            None => {
                s.queue.push_back(r.ticket.to_string());
                s.queue.len() - 1
            }
        };
        let held = s.held.len();
        // Granted while the tickets ahead of this one still leave a slot for it: order kept.
        let answer = if held + position < r.capacity.max(1) {
            s.queue.remove(position);
            let entry = Entry {
                holder: r.holder.to_string(),
                export_id: None,
                since: Instant::now(),
            };
            s.held.insert(r.lease.to_string(), entry);
            Admission::Granted
        } else {
            Admission::Queued { position, held }
        };
        future::ready(Ok(answer)).boxed()
    }

    fn leave_queue(&self, ticket: &str) -> BoxFuture<'static, Result<(), SlotStoreError>> {
        let mut s = self.lock();
        let before = s.queue.len();
        s.queue.retain(|t| t != ticket);
        let left = s.queue.len() != before;
        drop(s);
        if left {
            // The tickets behind it moved up.
            self.wake();
        }
        future::ready(Ok(())).boxed()
    }

    fn renew(&self, leases: &[LeaseRecord]) -> BoxFuture<'static, Result<Renewal, SlotStoreError>> {
        let mut s = self.lock();
        for record in leases {
            if let Some(entry) = s.held.get_mut(&record.lease) {
                entry.export_id.clone_from(&record.export_id);
            }
            // A slot released meanwhile is not added again: in one process nothing is lost.
        }
        future::ready(Ok(Renewal::default())).boxed()
    }

    fn release(&self, lease: &str) -> BoxFuture<'static, Result<bool, SlotStoreError>> {
        let removed = self.lock().held.remove(lease).is_some();
        if removed {
            self.wake();
        }
        future::ready(Ok(removed)).boxed()
    }

    fn claim_lapsed(&self, _claimer: &str) -> BoxFuture<'static, Result<Reclaim, SlotStoreError>> {
        future::ready(Ok(Reclaim::default())).boxed()
    }

    fn free_lapsed(
        &self,
        _lease: &str,
        _claimer: &str,
    ) -> BoxFuture<'static, Result<bool, SlotStoreError>> {
        future::ready(Ok(false)).boxed()
    }

    fn changed(&self) -> BoxFuture<'static, ()> {
        let mut rx = self.freed.subscribe();
        async move {
            if rx.changed().await.is_err() {
                future::pending::<()>().await;
            }
        }
        .boxed()
    }

    fn renew_interval(&self) -> Option<Duration> {
        None
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<SlotSnapshot, SlotStoreError>> {
        let s = self.lock();
        let now = Instant::now();
        let mut holders: Vec<_> = s
            .held
            .values()
            .map(|e| {
                (
                    e.since,
                    SlotHolder::new(&e.holder, e.export_id.clone(), now - e.since),
                )
            })
            .collect();
        holders.sort_by_key(|(since, _)| *since);
        let snapshot = SlotSnapshot::new(
            holders.into_iter().map(|(_, h)| h).collect(),
            s.queue.len(),
            None,
        );
        future::ready(Ok(snapshot)).boxed()
    }
}
