#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Builder setters that store their argument (`.into()` the field's type) in the field of the
/// same name: one line each where they are declared instead of five.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $field(mut self, value: $ty) -> Self {
            self.$field = value.into();
            self
        }
    )*};
}

pub mod client;
pub mod decode;
pub mod download;
pub mod error;
pub mod export;
mod generated;
pub mod lenient;
pub mod open_enum;
pub mod pagination;
pub mod records;
mod redact;
pub mod resource;
pub mod retry;
mod saved_export;
pub mod settings;
mod slot_snapshot;
pub mod slots;
pub mod summary;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod tls;
pub mod types;
mod wire;

pub use client::{AuthScheme, ClientBuilder};
pub use decode::DecodeError;
pub use error::{Error, ExportError};
pub use export::{CompletedExport, Export, ExportSnapshot, SavedExport};
/// The request builders: one per operation, made by the [`Client`] method of the same name
/// (`client.list_batches()` is a [`request::ListBatches`]); set its parameters, then `.send()`.
/// (Not to be confused with `types::builder`, the builders of request and response bodies.)
pub use generated::builder as request;
/// The former name of [`request`] (it collided with `types::builder`).
#[doc(hidden)]
pub use generated::builder;
/// Not public API (`testing` feature): raw query setters for the crate's wire-level tests.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub use generated::wire as __wire;
pub use generated::{Client, ResponseValue};
pub use open_enum::{ExportFormat, ExportStatus, ResourceType};
pub use pagination::{Items, Pages};
pub use resource::{Exportable, ListRequest};
pub use retry::RateLimit;
pub use settings::{DownloadPolicy, PollPolicy, RetryPolicy};
pub use summary::{ListBody, Page, Summary};

/// `use mangrove::prelude::*;` brings the methods the crate adds to the generated list builders
/// into scope (`.summary()`, `.items()`, `.pages()`, `.summary_with_export()`), with the types
/// most calls name.
pub mod prelude {
    pub use crate::resource::{Exportable, ListRequest};
    pub use crate::{Client, Error, ExportError, ExportFormat, ResourceType};
}
