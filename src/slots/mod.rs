//! The account's export slots: how many exports may run at once, and who holds them.
//!
//! An account runs at most 5 exports at once. [`limiter`] keeps that promise for the exports of one
//! client; a start waits for a slot before it asks the server.

pub(crate) mod limiter;

pub(crate) use limiter::{ExportProbe, Limiter, Probe, Slot};
