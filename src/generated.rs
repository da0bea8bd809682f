//! The client and models generated from `openapi.yaml` by `build.rs` (progenitor).
//!
//! Never edited by hand. [`Client`] has one method per operation (`client.list_projects()`,
//! `client.get_export()`, …) returning a builder from [`builder`]; request and response bodies are
//! in [`types`].
#![allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_imports,
    irrefutable_let_patterns
)]

// The types are generated into their own module, `crate::types` (see `split_types` in
// build.rs); the client code names them as `types::…` and `super::types::…`.
pub use crate::types;

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
