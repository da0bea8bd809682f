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

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
