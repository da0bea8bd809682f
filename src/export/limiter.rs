//! The client-side export limiter: at most N exports of one client in flight.
//!
//! An account may run 5 exports at once. A slot is taken before an export is started and given
//! back when the export is seen to end (completed or failed) or when every handle to it is
//! dropped, so 50 exports awaited at once on one client never have more than 5 running.

use std::sync::{Arc, Mutex};

use tokio::sync::OwnedSemaphorePermit;

use crate::Client;

/// One taken slot, shared by the clones of an export handle.
#[derive(Debug, Default)]
pub(crate) struct Slot(Mutex<Option<OwnedSemaphorePermit>>);

impl Slot {
    /// Waits for a free slot on the client's limiter (no wait when the limiter is off).
    pub(crate) async fn acquire(client: &Client) -> Arc<Slot> {
        let permit = match &client.state().export_slots {
            Some(sem) => sem.clone().acquire_owned().await.ok(),
            None => None,
        };
        Arc::new(Slot(Mutex::new(permit)))
    }

    /// Gives the slot back (idempotent).
    pub(crate) fn release(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
