//! [`DownloadTo`]: what [`download_to`](crate::CompletedExport::download_to) returns (await it),
//! with its progress callback; and [`Downloaded`], how the download went.

use std::fmt;
use std::future::IntoFuture;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt as _;

use super::transfer::Transfer;
use super::writer::to_file;
use crate::error::ExportError;

/// How a [`download_to`](crate::CompletedExport::download_to) went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The file's size in bytes (checked against the export's `file_size_bytes`).
    pub bytes: u64,
    /// Resumes after interruptions.
    pub resumes: u32,
    /// Fresh download URLs fetched because the storage host refused the URL (expired).
    pub url_refreshes: u32,
    /// Times the download started again from byte 0 (the file changed on the storage host, or it
    /// ignored `Range`).
    pub restarts: u32,
}

/// A progress callback: `(bytes so far, total)`.
pub(super) type ProgressFn = Arc<dyn Fn(u64, Option<u64>) + Send + Sync + 'static>;

/// A file download made by
/// [`CompletedExport::download_to`](crate::CompletedExport::download_to); `.await` it. Nothing
/// is fetched until it is awaited.
#[must_use = "a download does nothing until it is awaited"]
pub struct DownloadTo {
    transfer: Transfer,
    path: PathBuf,
}

impl DownloadTo {
    pub(super) fn new(transfer: Transfer, path: PathBuf) -> Self {
        DownloadTo { transfer, path }
    }

    /// Calls `f(bytes, total)` when an answer arrives, after each chunk of the body, and at the
    /// end: `bytes` received so far (back to 0 if the download starts over), `total` the export's
    /// `file_size_bytes`, else what the storage host declared. Keep `f` quick: it runs on the task
    /// that downloads.
    pub fn on_progress(mut self, f: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        self.transfer.set_progress(Arc::new(f));
        self
    }
}

impl fmt::Debug for DownloadTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The export's `Debug` shows its URL without the query (the signature).
        write!(
            f,
            "DownloadTo({:?}, {:?})",
            self.transfer.export(),
            self.path
        )
    }
}

impl IntoFuture for DownloadTo {
    type Output = Result<Downloaded, ExportError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        to_file(self.transfer, self.path).boxed()
    }
}
