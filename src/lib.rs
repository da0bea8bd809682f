#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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
pub mod resource;
pub mod retry;
pub mod summary;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use client::{AuthScheme, ClientBuilder};
pub use decode::DecodeError;
pub use download::DownloadPolicy;
pub use error::{Error, ExportError};
pub use export::{CompletedExport, Export, ExportSnapshot, PollPolicy, SavedExport};
pub use generated::{builder, types, Client, ResponseValue};
pub use open_enum::ExportStatus;
pub use pagination::Pages;
pub use resource::{Exportable, ListRequest};
pub use retry::{RateLimit, RetryPolicy};
pub use summary::{ListBody, Page, Summary};
pub use types::ExportFormat;
