//! The account's export slots: how many exports may run at once, and who holds them.
//!
//! An account runs at most 5 exports at once. The client's limiter keeps that promise: a start
//! waits for a slot before it asks the server. Where the slots are counted is a [`SlotStore`]:
//! [`LocalSlotStore`] (the default) counts them in this process; with the `redis` feature,
//! [`RedisSlotStore`] shares them with every process that uses the same Redis and namespace.

mod fallback;
mod limiter;
mod local;
#[cfg(feature = "redis")]
mod redis;
mod store;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisSlotStore, RedisSlotStoreBuilder};
#[doc(hidden)]
pub use crate::slot_snapshot::HolderList;
pub use crate::slot_snapshot::{SlotHolder, SlotSnapshot};
pub use fallback::FallbackSlotStore;
pub(crate) use limiter::{ExportProbe, Limiter, Probe, Slot};
pub use local::LocalSlotStore;
pub use store::{
    default_holder_label, Admission, LeaseRecord, Reclaim, Renewal, SlotRequest, SlotStore,
    SlotStoreError,
};
