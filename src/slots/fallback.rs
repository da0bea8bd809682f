//! [`FallbackSlotStore`]: a shared store, and this process's own count while the shared one
//! fails (an explicit opt-in: by default a failing store ends the wait with a typed error).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::future::{self, BoxFuture, FutureExt as _};

use super::local::LocalSlotStore;
use super::store::{
    Admission, LeaseRecord, Reclaim, Renewal, SlotRequest, SlotStore, SlotStoreError,
};
use crate::slot_snapshot::SlotSnapshot;

/// Uses `primary` (e.g. a [`RedisSlotStore`](super::SlotStore)) and, while it fails, an
/// in-process [`LocalSlotStore`]: this process then limits its own exports alone, so processes
/// together may start more than the account runs; the server's 429 stays the final word (the
/// start gives its slot back, waits and queues again). Each slot is given back to the store that
/// granted it. Opt in with `MANGROVE_REDIS_FALLBACK=local` or by wrapping a store:
///
/// ```
/// use std::sync::Arc;
/// use mangrove::slots::{FallbackSlotStore, LocalSlotStore};
/// # let shared = Arc::new(LocalSlotStore::new());
/// let store = FallbackSlotStore::new(shared);
/// ```
#[derive(Debug)]
pub struct FallbackSlotStore {
    primary: Arc<dyn SlotStore>,
    local: Arc<LocalSlotStore>,
    /// Leases the local store granted.
    local_leases: Arc<Mutex<HashSet<String>>>,
}

impl FallbackSlotStore {
    /// `primary`, with the in-process fallback.
    pub fn new(primary: Arc<dyn SlotStore>) -> Self {
        FallbackSlotStore {
            primary,
            local: Arc::new(LocalSlotStore::new()),
            local_leases: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    fn leases(&self) -> MutexGuard<'_, HashSet<String>> {
        self.local_leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_local(&self, lease: &str) -> bool {
        self.leases().contains(lease)
    }
}

impl SlotStore for FallbackSlotStore {
    fn admit(&self, r: &SlotRequest<'_>) -> BoxFuture<'static, Result<Admission, SlotStoreError>> {
        let shared = self.primary.admit(r);
        let local = Arc::clone(&self.local);
        let leases = Arc::clone(&self.local_leases);
        let (ticket, lease, holder, capacity) = (
            r.ticket.to_string(),
            r.lease.to_string(),
            r.holder.to_string(),
            r.capacity,
        );
        async move {
            match shared.await {
                Ok(answer) => Ok(answer),
                Err(e) => {
                    tracing::warn!(error = %e, "export slots: the shared slot store failed; counting in this process alone (fallback)");
                    let request = SlotRequest::new(&ticket, &lease, &holder, capacity);
                    let answer = local.admit(&request).await?;
                    if answer == Admission::Granted {
                        leases.lock().unwrap_or_else(|e| e.into_inner()).insert(lease);
                    }
                    Ok(answer)
                }
            }
        }
        .boxed()
    }

    fn leave_queue(&self, ticket: &str) -> BoxFuture<'static, Result<(), SlotStoreError>> {
        let local = self.local.leave_queue(ticket);
        let shared = self.primary.leave_queue(ticket);
        async move {
            local.await?;
            shared.await
        }
        .boxed()
    }

    fn renew(&self, leases: &[LeaseRecord]) -> BoxFuture<'static, Result<Renewal, SlotStoreError>> {
        let (here, shared): (Vec<_>, Vec<_>) = leases
            .iter()
            .cloned()
            .partition(|l| self.is_local(&l.lease));
        let local = self.local.renew(&here);
        let shared = (!shared.is_empty()).then(|| self.primary.renew(&shared));
        async move {
            local.await?;
            match shared {
                Some(call) => call.await,
                None => Ok(Renewal::default()),
            }
        }
        .boxed()
    }

    fn release(&self, lease: &str) -> BoxFuture<'static, Result<bool, SlotStoreError>> {
        if self.leases().remove(lease) {
            self.local.release(lease)
        } else {
            self.primary.release(lease)
        }
    }

    fn claim_lapsed(&self, claimer: &str) -> BoxFuture<'static, Result<Reclaim, SlotStoreError>> {
        self.primary.claim_lapsed(claimer)
    }

    fn free_lapsed(
        &self,
        lease: &str,
        claimer: &str,
    ) -> BoxFuture<'static, Result<bool, SlotStoreError>> {
        self.primary.free_lapsed(lease, claimer)
    }

    fn changed(&self) -> BoxFuture<'static, ()> {
        let (a, b) = (self.primary.changed(), self.local.changed());
        async move {
            future::select(a, b).await;
        }
        .boxed()
    }

    fn renew_interval(&self) -> Option<Duration> {
        self.primary.renew_interval()
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<SlotSnapshot, SlotStoreError>> {
        let shared = self.primary.snapshot();
        let local = self.local.snapshot();
        async move {
            match shared.await {
                Ok(s) => Ok(s),
                Err(_) => local.await,
            }
        }
        .boxed()
    }

    fn holder_label(&self) -> String {
        self.primary.holder_label()
    }
}
