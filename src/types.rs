//! Types used as operation parameters and responses, generated from `openapi.yaml`'s schemas at
//! build time (typify, through progenitor): one struct or enum per schema, with serde derives
//! (and `schemars::JsonSchema` with the feature `schemars`), and a struct builder for each in
//! [`builder`] (`types::builder::Batch`, …).
//!
//! Plain data: this module depends on nothing of the client, so every layer of the crate can
//! name a type without depending on the client (see the README's architecture section). Where
//! the docs leave a type open, the spec maps it to a hand-written type ([`crate::ExportFormat`],
//! [`crate::lenient::LooseId`], …).
//!
//! Every public item is documented (build passes `builder_docs` and `fallback_docs` fill in what
//! the spec does not describe), so the crate's `#![deny(missing_docs)]` holds here too.
#![allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    irrefutable_let_patterns
)]

include!(concat!(env!("OUT_DIR"), "/types.rs"));
