//! The client and models generated from `openapi.yaml` by `build.rs` (progenitor).
//!
//! Never edited by hand. [`Client`] has one method per operation (`client.list_projects()`,
//! `client.get_export()`, …) returning a request builder from [`builder`] (re-exported as
//! `mangrove::request`); request and response bodies are in [`types`], with their struct
//! builders in `types::builder`.
//!
//! `build.rs` documents what progenitor and typify leave undocumented (request setters from the
//! spec's parameters, struct builders and their setters from the fields, and a line naming the
//! JSON field for fields the spec does not describe), so the crate's `#![deny(missing_docs)]`
//! holds here too: a new undocumented public item of the generated code fails the build.
#![allow(
    clippy::all,
    clippy::pedantic,
    unused_imports,
    irrefutable_let_patterns
)]

// The types are generated into their own module, `crate::types` (see `split_types` in
// build.rs); the client code names them as `types::…` and `super::types::…`.
pub use crate::types;

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));

/// Not public API: the list builders' `response_mode` and `export_format` setters for the
/// crate's own wire-level tests of the fake (`testing` feature only; may change in any release).
///
/// The setters are crate-private on the builders (build pass `list_query_setters`): the
/// hand-written layer owns the mode and the format (`.summary()`, `.items()`, `.pages()`,
/// `.summary_with_export().format(..)`), so that no call can set them twice. These traits reach
/// them for tests that ask the fake for a raw mode it must answer (a summary of a list that
/// cannot export, …).
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod wire {
    /// Sets the `response_mode` query parameter of a list request.
    pub trait ResponseModeQuery: Sized {
        /// Sets the `response_mode` query parameter.
        fn response_mode(self, mode: super::types::ResponseMode) -> Self;
    }

    /// Sets the `export_format` query parameter of an exportable list request.
    pub trait ExportFormatQuery: Sized {
        /// Sets the `export_format` query parameter.
        fn export_format(self, format: crate::open_enum::ExportFormat) -> Self;
    }
}
