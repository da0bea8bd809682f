//! Downloading an export's file: to disk, as a byte stream, as an [`AsyncRead`](tokio::io::AsyncRead), or as records.
//!
//! The file lives on a storage host behind the export's pre-signed `download_url`. It is fetched
//! with the client's second HTTP client, which sends **no `Authorization` header** (pre-signed URLs
//! reject it, and the API token must not leave the API), has a connect time-out and a read-idle
//! (stall) time-out but **no total time-out** (a 500 MB file may take minutes), and follows
//! redirects. Its settings are the client's [`DownloadPolicy`].
//!
//! # Resume, refresh, restart
//!
//! * **Interrupted** (connection lost, body cut short, nothing received for
//!   [`read_timeout`](DownloadPolicy::read_timeout), `5xx`/`408`/`429`): resumed where it stopped
//!   (`Range` with `If-Range: <ETag>`) after [`resume_backoff`](DownloadPolicy::resume_backoff),
//!   doubling each time up to 60 s, or after what the host asks with `Retry-After` (at most 60 s);
//!   at most [`max_resumes`](DownloadPolicy::max_resumes) times. A stream without an `ETag` is not
//!   resumed: without a validator, a range could splice two versions of the file.
//! * **URL refused** (`403`: URLs expire after 24 hours) or `404`: a fresh URL is read from the
//!   export's status and the download goes on where it was; an export cleaned up meanwhile (after
//!   7 days) is [`ExportError::Expired`].
//! * **The file changed** (another `ETag`), or the host ignored `Range`: a file download starts
//!   again from byte 0; a stream, which cannot take back what it handed out, skips the bytes it
//!   already gave if the `ETag` is the same, and otherwise ends with [`ExportError::Changed`].
//! * **Any other `4xx`**, or a fresh URL refused again: [`ExportError::DownloadStatus`].
//!
//! The size is checked against the export's `file_size_bytes` ([`ExportError::SizeMismatch`]),
//! and no download goes past [`max_file_bytes`](DownloadPolicy::max_file_bytes) (Mangrove
//! documents at most 500 MB per export; [`ExportError::FileTooLarge`]), so a storage host that
//! declares no size cannot stream without end.
//!
//! # The URL is a credential
//!
//! Anyone holding a `download_url` can read the file until it expires, so its query (the
//! signature) never appears in an error, a `Debug` output or a log line: transport errors lose
//! their URL, and what the storage host sends back (error bodies, echoed header values) is cut
//! short with every URL's query and the download URL's query values blanked.
//! [`CompletedExport::download_url`] still returns the whole URL.
//!
//! # Memory
//!
//! Memory stays bounded whatever the file's size: a file download queues at most 16 received
//! chunks for its writer thread, which writes 1 MiB at a time; a stream holds one chunk.

// One concept per file:
//
// * `mod.rs` (this file): the ways to read a completed export's file.
// * `download_to.rs`: `DownloadTo` (the `download_to` builder and its progress callback) and
//   `Downloaded` (how it went).
// * `transfer.rs`: one download over as many requests as it takes (resume, refresh, restart).
// * `resume.rs`: the pure rules the transfer follows (ranges, validators, which statuses resume,
//   how long to wait, the size limits).
// * `layout.rs`: whether a file holds CSV or JSON records.
// * `writer.rs`: the atomic file writer (temporary file, writer thread, sync, rename).

mod download_to;
mod layout;
mod resume;
mod transfer;
mod writer;

use std::future::Future;
use std::io;
use std::path::Path;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use serde::de::DeserializeOwned;
use tokio::io::AsyncBufRead;
use tokio_util::io::StreamReader;

use crate::error::ExportError;
use crate::export::CompletedExport;
use crate::records::{self, Records};

pub use download_to::{DownloadTo, Downloaded};
// Re-exported here too: first published at `mangrove::download::DownloadPolicy`.
pub use crate::settings::DownloadPolicy;

use transfer::Transfer;

impl CompletedExport {
    /// Downloads the file to `path`, replacing what is there.
    ///
    /// The bytes go to a temporary file `.<name>.<random>.part` next to it, created before any
    /// request (a missing directory is [`ExportError::Io`]), then synced and renamed to `path` once
    /// complete and size-checked: `path` never holds a partial file, even after a power loss. On
    /// any error, and when the download is dropped, the temporary file is removed.
    ///
    /// ```no_run
    /// # async fn run(completed: mangrove::CompletedExport) -> Result<(), mangrove::ExportError> {
    /// let file = completed
    ///     .download_to("projects.csv")
    ///     .on_progress(|bytes, total| eprint!("\r{bytes} / {total:?} bytes"))
    ///     .await?;
    /// println!("{} bytes, {} resumes", file.bytes, file.resumes);
    /// # Ok(()) }
    /// ```
    pub fn download_to(&self, path: impl AsRef<Path>) -> DownloadTo {
        DownloadTo::new(
            Transfer::new(self.clone(), true),
            path.as_ref().to_path_buf(),
        )
    }

    /// The file as a stream of byte chunks; it ends with an error if the total differs from
    /// `file_size_bytes`.
    pub fn bytes_stream(&self) -> BoxStream<'static, Result<Bytes, ExportError>> {
        stream(Transfer::new(self.clone(), false))
    }

    /// The file as an [`AsyncBufRead`] (and [`AsyncRead`](tokio::io::AsyncRead)) over
    /// [`bytes_stream`](Self::bytes_stream). A failure is an [`io::Error`] whose inner error is
    /// the [`ExportError`]: `e.get_ref().and_then(|e| e.downcast_ref::<ExportError>())`.
    pub fn reader(&self) -> impl AsyncBufRead + Send + Unpin + 'static {
        StreamReader::new(self.bytes_stream().map_err(io::Error::other))
    }

    /// The file's [`records`](mod@crate::records), decoded into `T` as the bytes arrive.
    ///
    /// The layout comes from the export's `format`, else the download URL's extension (`.csv`,
    /// `.json`), else the storage host's `Content-Type`; if none tells,
    /// [`ExportError::UnknownFormat`]. The first request is made before this returns, so a
    /// refused URL is an error here; later failures end the stream with
    /// [`RecordError::Download`](crate::records::RecordError::Download).
    ///
    /// ```no_run
    /// # async fn run(completed: mangrove::CompletedExport) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::TryStreamExt;
    /// let mut projects = completed.records::<mangrove::types::Project>().await?;
    /// while let Some(project) = projects.try_next().await? {
    ///     println!("{:?}", project.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn records<T>(
        &self,
    ) -> impl Future<Output = Result<Records<T>, ExportError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let mut transfer = Transfer::new(self.clone(), false);
        async move {
            // Until the first answer with a body: its `Content-Type` may be what names the layout.
            while !transfer.has_body() && !transfer.is_finished() {
                transfer.open().await?;
            }
            let layout = transfer.layout()?;
            let chunks = stream(transfer).map_err(io::Error::other);
            Ok(records::from_chunks(chunks, layout))
        }
    }
}

/// The bytes of a download: resumes by itself, ends after the first error.
fn stream(transfer: Transfer) -> BoxStream<'static, Result<Bytes, ExportError>> {
    futures::stream::try_unfold(transfer, |mut transfer| async move {
        Ok(transfer.next().await?.map(|chunk| (chunk, transfer)))
    })
    .boxed()
}
