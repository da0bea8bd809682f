//! What a slot store reports about the account's export slots: who holds them, how many wait, and
//! whether admissions are paused. A bottom-layer module of plain data (it depends on nothing else
//! of this crate), so that `error` can name the holders without depending on `slots`; published
//! as `mangrove::slots::{SlotHolder, SlotSnapshot}`.

use std::fmt;
use std::time::Duration;

/// One held export slot as the slot store sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotHolder {
    /// Who holds it: the holder label of the process (by default `host/pid N`; set it with
    /// `RedisSlotStore::builder(..).holder(..)`).
    pub holder: String,
    /// The export started with the slot, once the server answered the start.
    pub export_id: Option<String>,
    /// Time since the slot was taken.
    pub age: Duration,
    /// The holder stopped renewing its lease (it may have died); the slot stays taken until the
    /// server says the export ended (or, without an export id, until the grace period is over).
    pub lapsed: bool,
}

impl SlotHolder {
    /// A holder entry (for [`SlotStore`](crate::slots::SlotStore) implementations).
    pub fn new(holder: impl Into<String>, export_id: Option<String>, age: Duration) -> Self {
        SlotHolder {
            holder: holder.into(),
            export_id,
            age,
            lapsed: false,
        }
    }

    /// Marks the entry as lapsed (its lease ran out).
    pub fn lapsed(mut self, lapsed: bool) -> Self {
        self.lapsed = lapsed;
        self
    }
}

impl fmt::Display for SlotHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let export = self.export_id.as_deref().unwrap_or("start unanswered");
        // Whole seconds: enough to tell a stuck holder from a busy one.
        write!(f, "{} ({export}, {}s", self.holder, self.age.as_secs())?;
        if self.lapsed {
            f.write_str(", lease lapsed")?;
        }
        f.write_str(")")
    }
}

/// Formats a list of holders for an error message: `a (exp_1, 3s), b (exp_2, 1s)`, or `none
/// known`.
#[doc(hidden)]
pub struct HolderList<'a>(pub &'a [SlotHolder]);

impl fmt::Display for HolderList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none known");
        }
        for (i, h) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{h}")?;
        }
        Ok(())
    }
}

/// The state of the export slots at one moment, for dashboards (`Client::export_slots`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotSnapshot {
    /// The slots held, oldest first.
    pub holders: Vec<SlotHolder>,
    /// Starts waiting in the store's queue (with the Redis store: heads of every process's queue).
    pub queued: usize,
    /// Admissions are paused for this long (after the store lost its data, live holders first
    /// re-add their slots).
    pub warming_up: Option<Duration>,
}

impl SlotSnapshot {
    /// A snapshot (for [`SlotStore`](crate::slots::SlotStore) implementations).
    pub fn new(holders: Vec<SlotHolder>, queued: usize, warming_up: Option<Duration>) -> Self {
        SlotSnapshot {
            holders,
            queued,
            warming_up,
        }
    }

    /// Slots held.
    pub fn held(&self) -> usize {
        self.holders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_lists_name_holder_export_and_age() {
        let a = SlotHolder::new(
            "web-1/pid 7",
            Some("exp_1".into()),
            Duration::from_millis(3_400),
        );
        let b = SlotHolder::new("cron/pid 9", None, Duration::from_secs(61)).lapsed(true);
        assert_eq!(
            HolderList(&[a, b]).to_string(),
            "web-1/pid 7 (exp_1, 3s), cron/pid 9 (start unanswered, 61s, lease lapsed)"
        );
        assert_eq!(HolderList(&[]).to_string(), "none known");
    }
}
