//! Downloading an export's file: to disk, as a byte stream, as an [`AsyncRead`](tokio::io::AsyncRead), or as records.
//!
//! ```no_run
//! # async fn run(completed: mangrove::CompletedExport) -> Result<(), mangrove::ExportError> {
//! // The file, atomically and size-checked:
//! let file = completed.download_to("projects.csv").await?;
//! println!("{} bytes in {:?} ({} resumes)", file.bytes, file.elapsed, file.resumes);
//!
//! // The same with a progress bar (any `Fn(Progress)`; here indicatif-style):
//! completed
//!     .download()
//!     .on_progress(|p| {
//!         if let Some(total) = p.total {
//!             eprint!("\r{} / {total} bytes", p.bytes);
//!         }
//!     })
//!     .to_file("projects.csv")
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # How the file is fetched
//!
//! The file lives on a storage host behind the export's pre-signed `download_url`. It is fetched
//! with the client's **second HTTP client**, which carries **no `Authorization` header** (pre-signed
//! URLs reject it, and the API token must not leave the API), has a connect time-out and a
//! read-idle (stall) time-out but **no total time-out** (a 500 MB file may take minutes), and
//! follows redirects. Its settings are the client's [`DownloadPolicy`].
//!
//! # Resume, refresh, restart
//!
//! * **Interrupted** (connection dropped or reset, body cut short, nothing received for
//!   [`read_timeout`](DownloadPolicy::read_timeout), a `5xx`/`408`/`429` answer): the download goes
//!   on where it stopped with `Range: bytes=N-` and `If-Range: <ETag>`, after
//!   [`resume_backoff`](DownloadPolicy::resume_backoff) (doubling each time), at most
//!   [`max_resumes`](DownloadPolicy::max_resumes) times per download.
//! * **URL expired** (`403` from the storage host; a `download_url` is valid 24 hours) or file not
//!   found (`404`): the export's status is read again for a freshly signed URL
//!   ([`Export::status`](crate::Export::status)) and the download goes on from where it was. If
//!   the export itself is gone (status `404`, exports are cleaned up after 7 days) the error is
//!   [`ExportError::Expired`].
//! * **The file changed, or the host ignored `Range`** (`200` instead of `206`): a file download
//!   ([`download_to`](CompletedExport::download_to)) starts again from byte 0, truncating its
//!   temporary file. A stream ([`bytes_stream`](CompletedExport::bytes_stream)) cannot take back
//!   bytes it has handed out: it skips the bytes it already gave if the `ETag` is unchanged, and
//!   otherwise ends with [`ExportError::Changed`].
//! * **Any other `4xx`** ends the download with [`ExportError::DownloadStatus`].
//!
//! Every way ends with the byte count checked against the export's `file_size_bytes`
//! ([`ExportError::SizeMismatch`]).
//!
//! # The URL is a credential
//!
//! Anyone holding a `download_url` can read the file until it expires, so its query string (the
//! signature) never appears in an error (`Display`, `Debug`, any `source()`), a `Debug` output or
//! a tracing event: transport errors lose their URL, and what the storage host sends back (error
//! bodies, echoed header values) is cut to a short prefix with every URL's query and the download
//! URL's query values blanked. [`CompletedExport::download_url`] still returns the whole URL.
//!
//! # Memory
//!
//! Memory stays bounded whatever the file size: [`download_to`](CompletedExport::download_to)
//! collects the received bytes into blocks of 1 MiB and hands them to one writer thread through a
//! queue of 4 blocks (about 6 MiB in flight at most); streams hold one received chunk at a time.

use std::fmt;
use std::future::Future;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, TryStreamExt as _};
use reqwest::header::{
    HeaderMap, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, RANGE,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::io::AsyncBufRead;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::{Error, ExportError};
use crate::export::{redact_query, CompletedExport};
use crate::open_enum::ExportFormat;
use crate::records::{self, Records};
use crate::retry::{header_str, Backoff};

/// Bytes per write to disk (and the size of the blocks queued for the writer thread).
const WRITE_BLOCK: usize = 1024 * 1024;
/// Blocks queued for the writer thread before the download waits for the disk.
const WRITE_QUEUE: usize = 4;
/// Progress callbacks are made at most once per this many bytes (plus at start, restart and end).
const PROGRESS_STEP: u64 = 64 * 1024;
/// Longest wait between resumes, however often the backoff has doubled.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Bytes of an error body read for the error message (the rest is never read).
const ERROR_BODY: usize = 2048;
/// Characters of the storage host's own words (an error message, a header value) kept in an
/// error message.
const MAX_ECHO: usize = 300;

/// How export files are downloaded. Set it with
/// [`ClientBuilder::download_policy`](crate::ClientBuilder::download_policy).
///
/// ```
/// use std::time::Duration;
/// use mangrove::{Client, DownloadPolicy};
/// # fn main() -> Result<(), mangrove::Error> {
/// let client = Client::builder()
///     .token("my-token")
///     .download_policy(
///         DownloadPolicy::default()
///             .read_timeout(Duration::from_secs(60)) // slow storage host
///             .max_resumes(10),
///     )
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DownloadPolicy {
    /// Time limit for opening a connection to the storage host (default 10 s).
    pub connect_timeout: Duration,
    /// Longest time without receiving a byte before the download counts as stalled and is resumed
    /// (default 30 s). There is no limit on the total time of a download.
    pub read_timeout: Duration,
    /// How many times one download is resumed after an interruption (default 5). Each resume is
    /// one more request; when they are used up the download fails with
    /// [`ExportError::Interrupted`]. Fetching a fresh URL after an expiry does not count.
    pub max_resumes: u32,
    /// Wait before the first resume (default 500 ms); it doubles for each further resume, up to
    /// 60 s.
    pub resume_backoff: Duration,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        DownloadPolicy {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_resumes: 5,
            resume_backoff: Duration::from_millis(500),
        }
    }
}

impl DownloadPolicy {
    /// Sets the connect time-out.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the read-idle (stall) time-out.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// Sets how many times an interrupted download is resumed.
    pub fn max_resumes(mut self, n: u32) -> Self {
        self.max_resumes = n;
        self
    }

    /// Sets the wait before the first resume.
    pub fn resume_backoff(mut self, d: Duration) -> Self {
        self.resume_backoff = d;
        self
    }

    /// The storage-side HTTP client: no auth headers, no total time-out.
    pub(crate) fn http_client(
        &self,
        pool_idle: Option<Duration>,
    ) -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .user_agent(crate::client::user_agent())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .pool_idle_timeout(pool_idle)
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the download HTTP client: {e}")))
    }

    /// The waits before resumes: doubling from `resume_backoff`, at most [`MAX_BACKOFF`].
    fn schedule(&self) -> Backoff {
        Backoff {
            initial: self.resume_backoff,
            factor: 2.0,
            max: MAX_BACKOFF,
            jitter: false,
        }
    }
}

/// How far a download has got, passed to [`Download::on_progress`] callbacks.
///
/// `bytes` can go back to 0 when a file download has to start over (the file changed on the
/// storage host); a progress bar should simply follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes received so far.
    pub bytes: u64,
    /// The file's size: the export's `file_size_bytes`, else what the storage host declared.
    pub total: Option<u64>,
    /// Resumes after interruptions so far.
    pub resumes: u32,
}

impl Progress {
    /// `bytes / total` between 0 and 1, if the total is known (an empty file is 1).
    pub fn fraction(&self) -> Option<f64> {
        self.total.map(|total| {
            if total == 0 {
                1.0
            } else {
                (self.bytes as f64 / total as f64).min(1.0)
            }
        })
    }
}

/// A finished [`download_to`](CompletedExport::download_to): where the file is and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The file's path, as passed to `download_to`.
    pub path: PathBuf,
    /// The file's size in bytes (checked against the export's `file_size_bytes`).
    pub bytes: u64,
    /// Resumes after interruptions.
    pub resumes: u32,
    /// Fresh download URLs fetched because the storage host refused the URL (expired).
    pub url_refreshes: u32,
    /// Times the download started again from byte 0 (the file changed on the storage host, or it
    /// ignored `Range`).
    pub restarts: u32,
    /// Time from the first request until the file was in place.
    pub elapsed: Duration,
}

type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync + 'static>;

/// A download being set up: add a progress callback, then pick where the bytes go. Made by
/// [`CompletedExport::download`]. Nothing is fetched until [`to_file`](Self::to_file),
/// [`records`](Self::records) is awaited or the stream or reader is first polled.
///
/// ```no_run
/// # async fn run(completed: mangrove::CompletedExport) -> Result<(), mangrove::ExportError> {
/// // With indicatif:  let bar = indicatif::ProgressBar::no_length();
/// completed
///     .download()
///     .on_progress(move |p| {
///         // bar.set_length(p.total.unwrap_or(0)); bar.set_position(p.bytes);
///         let _ = p.fraction();
///     })
///     .to_file("export.csv")
///     .await?;
/// # Ok(()) }
/// ```
#[must_use = "a download does nothing until `to_file`, `into_stream`, `into_reader` or `records` is used"]
#[derive(Clone)]
pub struct Download {
    export: CompletedExport,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("export", &self.export)
            .field("on_progress", &self.progress.is_some())
            .finish()
    }
}

impl Download {
    /// Calls `f` as bytes arrive: once when the first answer arrives (`bytes` 0 and the total),
    /// at most once per 64 KiB after that, after a resume or restart, and once at the end with
    /// `bytes == total`. Keep it quick: it runs on the task that downloads.
    pub fn on_progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Downloads the file to `path`; see [`CompletedExport::download_to`].
    pub fn to_file(
        self,
        path: impl AsRef<Path>,
    ) -> impl Future<Output = Result<Downloaded, ExportError>> + Send + 'static {
        let path = path.as_ref().to_path_buf();
        let transfer = Transfer::new(self.export, self.progress, Mode::File);
        to_file(transfer, path)
    }

    /// The file as a stream of byte chunks; see [`CompletedExport::bytes_stream`].
    pub fn into_stream(self) -> DownloadStream {
        DownloadStream::new(Transfer::new(self.export, self.progress, Mode::Stream))
    }

    /// The file as an [`AsyncBufRead`]; see [`CompletedExport::reader`].
    pub fn into_reader(self) -> impl AsyncBufRead + Send + Unpin + 'static {
        reader(self.into_stream())
    }

    /// The file's records; see [`CompletedExport::records`].
    pub fn records<T>(
        self,
    ) -> impl Future<Output = Result<Records<T>, ExportError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let transfer = Transfer::new(self.export, self.progress, Mode::Stream);
        async move {
            let mut transfer = transfer;
            transfer.prime().await?;
            let layout = transfer.layout()?;
            Ok(records::from_reader(
                reader(DownloadStream::new(transfer)),
                layout,
            ))
        }
    }
}

impl CompletedExport {
    /// Sets up a download with options (a progress callback); see [`Download`].
    pub fn download(&self) -> Download {
        Download {
            export: self.clone(),
            progress: None,
        }
    }

    /// Downloads the file to `path` and returns its size and how the download went.
    ///
    /// The bytes go to a temporary file in the same directory (`.<name>.<random>.part`), which is
    /// renamed to `path` only once every byte has arrived and the size matches the export's
    /// `file_size_bytes`: there is never a partial file under `path`. An existing file at `path`
    /// is replaced. Before the rename the file's bytes are synced to disk (`sync_all`), and after
    /// it, on Unix, the directory is synced too (best effort: a failure there is only logged), so
    /// that after a power loss `path` holds the whole file or its previous content, never a
    /// partial one. The directory of `path` is checked before the storage host is asked for
    /// anything ([`ExportError::Io`] with [`io::ErrorKind::NotFound`] when it is missing). On
    /// any error, and when the returned future is dropped, the temporary file is removed. Interruptions are resumed, an expired URL is refreshed, a changed file is
    /// fetched again from the start (see the [module docs](crate::download)).
    ///
    /// ```no_run
    /// use mangrove::prelude::*;
    /// # async fn run(client: mangrove::Client) -> Result<(), mangrove::ExportError> {
    /// use mangrove::ExportError;
    /// let (_summary, export) = client.list_projects().summary_with_export().send().await?;
    /// let completed = export.await?;
    /// match completed.download_to("projects.csv").await {
    ///     Ok(file) => println!("{} bytes, {} resumes", file.bytes, file.resumes),
    ///     Err(ExportError::Expired { .. }) => eprintln!("the export was cleaned up; start a new one"),
    ///     Err(ExportError::SizeMismatch { .. }) => eprintln!("try again"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn download_to(
        &self,
        path: impl AsRef<Path>,
    ) -> impl Future<Output = Result<Downloaded, ExportError>> + Send + 'static {
        self.download().to_file(path)
    }

    /// The file as a stream of byte chunks (`Result<Bytes, ExportError>`), for uploading it
    /// elsewhere or parsing it yourself. Interruptions are resumed and an expired URL is
    /// refreshed transparently; the stream ends with an error if the total differs from
    /// `file_size_bytes`. Nothing is fetched until it is first polled.
    ///
    /// ```no_run
    /// # async fn run(completed: mangrove::CompletedExport) -> Result<(), mangrove::ExportError> {
    /// use futures::TryStreamExt;
    /// let mut stream = completed.bytes_stream();
    /// let mut lines = 0;
    /// while let Some(chunk) = stream.try_next().await? {
    ///     lines += chunk.iter().filter(|&&b| b == b'\n').count();
    /// }
    /// println!("{lines} lines");
    /// # Ok(()) }
    /// ```
    pub fn bytes_stream(&self) -> DownloadStream {
        self.download().into_stream()
    }

    /// The file as an [`AsyncBufRead`] (and [`AsyncRead`](tokio::io::AsyncRead)), e.g. for
    /// [`tokio::io::copy`] or a decompressor, over [`bytes_stream`](Self::bytes_stream).
    ///
    /// A failure surfaces as an [`io::Error`] whose inner error is the [`ExportError`]:
    /// `e.get_ref().and_then(|e| e.downcast_ref::<ExportError>())`.
    ///
    /// ```no_run
    /// # async fn run(completed: mangrove::CompletedExport) -> std::io::Result<()> {
    /// use tokio::io::AsyncBufReadExt;
    /// let mut lines = completed.reader().lines();
    /// while let Some(line) = lines.next_line().await? {
    ///     println!("{line}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn reader(&self) -> impl AsyncBufRead + Send + Unpin + 'static {
        self.download().into_reader()
    }

    /// The file's records, decoded into `T` as the bytes arrive (memory stays flat however large
    /// the file); see [`records`](mod@crate::records) for the CSV and JSON conventions and the
    /// per-record errors.
    ///
    /// The layout comes from the export's `format`; if the server did not say, from the download
    /// URL's extension (`.csv`, `.json`), then from the storage host's `Content-Type`. If none of
    /// them tells, the error is [`ExportError::UnknownFormat`] (no guessing). The first request
    /// is made before this returns, so an expired export or a refused URL is an error here; later
    /// download failures end the stream with a
    /// [`RecordError::Download`](crate::records::RecordError::Download) holding the [`ExportError`].
    ///
    /// ```no_run
    /// # async fn run(completed: mangrove::CompletedExport) -> Result<(), Box<dyn std::error::Error>> {
    /// use futures::TryStreamExt;
    /// use mangrove::types::Project;
    /// let mut projects = completed.records::<Project>().await?;
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
        self.download().records()
    }
}

/// The bytes of an export file as a [`Stream`] of `Result<Bytes, ExportError>`, made by
/// [`CompletedExport::bytes_stream`] or [`Download::into_stream`]. Resumes by itself; ends after
/// the first error.
#[must_use = "streams do nothing unless polled"]
pub struct DownloadStream {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, ExportError>> + Send + 'static>>,
}

impl fmt::Debug for DownloadStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadStream").finish_non_exhaustive()
    }
}

impl DownloadStream {
    fn new(transfer: Transfer) -> Self {
        let inner = futures::stream::unfold(Some(transfer), |state| async move {
            let mut transfer = state?;
            match transfer.next().await {
                Ok(Some(Event::Data(chunk))) => Some((Ok(chunk), Some(transfer))),
                // A stream transfer never restarts; should it, the bytes handed out are void.
                Ok(Some(Event::Restart)) => {
                    let received = transfer.handed_out;
                    Some((Err(ExportError::Changed { received }), None))
                }
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        });
        DownloadStream {
            inner: Box::pin(inner),
        }
    }
}

impl Stream for DownloadStream {
    type Item = Result<Bytes, ExportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

fn reader(stream: DownloadStream) -> impl AsyncBufRead + Send + Unpin + 'static {
    tokio_util::io::StreamReader::new(stream.map_err(io::Error::other))
}

// ---------------------------------------------------------------------------------------------
// The transfer: one logical download over as many HTTP requests as it takes.

/// Whether the consumer can take back bytes (a file can be truncated, a stream cannot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    File,
    Stream,
}

/// What a transfer yields.
enum Event {
    /// The next bytes of the file.
    Data(Bytes),
    /// Everything handed out so far is void: the file starts again at byte 0.
    Restart,
}

struct Transfer {
    export: CompletedExport,
    http: reqwest::Client,
    policy: DownloadPolicy,
    mode: Mode,
    progress: Option<ProgressFn>,
    /// The current pre-signed URL (refreshed when it expires).
    url: String,
    /// The body being read.
    response: Option<reqwest::Response>,
    /// The strong ETag of the object being read, for `If-Range`.
    etag: Option<String>,
    /// The storage host's `Content-Type`.
    content_type: Option<String>,
    /// The object's size as the storage host declared it.
    total: Option<u64>,
    /// Bytes of the file handed to the consumer (the position of the next byte).
    handed_out: u64,
    /// Leading bytes of the current body that were handed out already.
    skip: u64,
    /// The next request asks for the whole file, not a range.
    from_start: bool,
    resumes: u32,
    url_refreshes: u32,
    restarts: u32,
    /// A fresh URL was fetched and has not delivered a byte yet.
    refreshed: bool,
    /// `handed_out` at the last progress callback.
    reported: Option<u64>,
    finished: bool,
    started: Option<Instant>,
}

impl Transfer {
    fn new(export: CompletedExport, progress: Option<ProgressFn>, mode: Mode) -> Self {
        let state = export.client.state();
        Transfer {
            http: state.download.clone(),
            policy: state.download_policy.clone(),
            url: export.download_url.clone(),
            export,
            mode,
            progress,
            response: None,
            etag: None,
            content_type: None,
            total: None,
            handed_out: 0,
            skip: 0,
            from_start: false,
            resumes: 0,
            url_refreshes: 0,
            restarts: 0,
            refreshed: false,
            reported: None,
            finished: false,
            started: None,
        }
    }

    fn expected(&self) -> Option<u64> {
        self.export.file_size_bytes
    }

    /// Makes requests until a body is open (or the file turns out complete).
    async fn prime(&mut self) -> Result<(), ExportError> {
        // Nothing has been handed out yet, so `open` cannot ask for a restart here.
        while self.response.is_none() && !self.finished {
            self.open().await?;
        }
        Ok(())
    }

    /// The next bytes, a restart, or `None` at the end of a complete file.
    async fn next(&mut self) -> Result<Option<Event>, ExportError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            let Some(response) = self.response.as_mut() else {
                if let Some(event) = self.open().await? {
                    return Ok(Some(event));
                }
                continue;
            };
            match response.chunk().await {
                Ok(Some(mut chunk)) => {
                    if self.skip > 0 {
                        let skip = usize::try_from(self.skip)
                            .unwrap_or(usize::MAX)
                            .min(chunk.len());
                        let _ = chunk.split_to(skip);
                        self.skip -= skip as u64;
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    self.handed_out = self.handed_out.saturating_add(chunk.len() as u64);
                    self.refreshed = false;
                    if let Some(expected) = self.expected() {
                        if self.handed_out > expected {
                            self.finished = true;
                            self.response = None;
                            return Err(ExportError::SizeMismatch {
                                expected,
                                actual: self.handed_out,
                            });
                        }
                    }
                    self.report(false);
                    return Ok(Some(Event::Data(chunk)));
                }
                Ok(None) => {
                    self.response = None;
                    match self.total {
                        Some(total) if self.handed_out < total => {
                            let received = self.handed_out;
                            self.interrupted(
                                format!("the body ended after {received} of {total} bytes").into(),
                            )
                            .await?;
                        }
                        _ => {
                            self.complete()?;
                            return Ok(None);
                        }
                    }
                }
                Err(e) => {
                    self.response = None;
                    // The error's URL is the pre-signed one: its query is a credential.
                    let e = e.without_url();
                    tracing::debug!(
                        export_id = %self.export.id,
                        received = self.handed_out,
                        timeout = e.is_timeout(),
                        "download interrupted: {e}"
                    );
                    self.interrupted(Box::new(e)).await?;
                }
            }
        }
    }

    /// The end of the file: checks the size and reports the last progress.
    fn complete(&mut self) -> Result<(), ExportError> {
        self.finished = true;
        self.response = None;
        if let Some(expected) = self.expected() {
            if self.handed_out != expected {
                return Err(ExportError::SizeMismatch {
                    expected,
                    actual: self.handed_out,
                });
            }
        }
        self.report(true);
        Ok(())
    }

    /// One request. `Ok(None)`: a body is open, or the caller should try again (after a resume
    /// or refresh); `Ok(Some(Restart))`: a body from byte 0 is open and what was handed out is
    /// void.
    async fn open(&mut self) -> Result<Option<Event>, ExportError> {
        self.started.get_or_insert_with(Instant::now);
        let mut request = self.http.get(&self.url);
        if self.handed_out > 0 && !self.from_start {
            match &self.etag {
                Some(etag) => {
                    request = request
                        .header(RANGE, format!("bytes={}-", self.handed_out))
                        .header(IF_RANGE, etag.as_str());
                }
                // Without a validator a range could splice two versions of the file.
                None if self.mode == Mode::File => {}
                None => {
                    return Err(ExportError::Interrupted {
                        received: self.handed_out,
                        attempts: self.resumes.saturating_add(1),
                        source: "the storage host sent no ETag, so the stream cannot be resumed \
                                 safely (download_to can: it starts the file again)"
                            .into(),
                    })
                }
            }
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                // The error's URL is the pre-signed one (or where it redirected): a credential.
                let e = e.without_url();
                tracing::debug!(export_id = %self.export.id, "download request failed: {e}");
                self.interrupted(Box::new(e)).await?;
                return Ok(None);
            }
        };
        match response.status() {
            StatusCode::OK => Ok(self.accept_whole(response)?),
            StatusCode::PARTIAL_CONTENT => self.accept_range(response).await,
            StatusCode::RANGE_NOT_SATISFIABLE => self.range_not_satisfiable(response).await,
            status @ (StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) => {
                let error = self.status_error(response).await;
                self.refresh(status, error).await?;
                Ok(None)
            }
            status
                if status.is_server_error()
                    || status == StatusCode::REQUEST_TIMEOUT
                    || status == StatusCode::TOO_MANY_REQUESTS =>
            {
                let error = self.status_error(response).await;
                self.interrupted(Box::new(error)).await?;
                Ok(None)
            }
            _ => Err(self.status_error(response).await),
        }
    }

    /// A `200`: the whole file from byte 0.
    fn accept_whole(&mut self, response: reqwest::Response) -> Result<Option<Event>, ExportError> {
        let headers = response.headers();
        let etag = strong_etag(headers);
        let length = header_str(headers, CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let content_type = header_str(headers, CONTENT_TYPE).map(str::to_owned);
        let restart = if self.handed_out == 0 {
            false
        } else {
            match self.mode {
                Mode::File => true,
                // The host ignored `Range` but the file is the same: skip what was handed out.
                Mode::Stream if etag.is_some() && etag == self.etag => {
                    self.skip = self.handed_out;
                    false
                }
                Mode::Stream => {
                    self.finished = true;
                    return Err(ExportError::Changed {
                        received: self.handed_out,
                    });
                }
            }
        };
        if restart {
            tracing::info!(
                export_id = %self.export.id,
                received = self.handed_out,
                "the storage host sent the whole file instead of the rest (the file changed or \
                 Range was ignored); starting again from byte 0"
            );
            self.handed_out = 0;
            self.skip = 0;
            self.restarts = self.restarts.saturating_add(1);
        }
        self.from_start = false;
        self.etag = etag;
        self.total = length;
        self.content_type = content_type;
        self.response = Some(response);
        self.report(true);
        Ok(restart.then_some(Event::Restart))
    }

    /// A `206`: the rest of the file from where the `Content-Range` says.
    async fn accept_range(
        &mut self,
        response: reqwest::Response,
    ) -> Result<Option<Event>, ExportError> {
        let headers = response.headers();
        let range = header_str(headers, CONTENT_RANGE).and_then(ContentRange::parse);
        let Some(ContentRange::Bytes { first, size, .. }) = range else {
            let value = header_str(headers, CONTENT_RANGE).map(|v| self.scrub(v));
            return Err(ExportError::InvalidDownload {
                message: format!(
                    "a 206 answer without a usable Content-Range (got {})",
                    value.as_deref().unwrap_or("none")
                ),
            });
        };
        let etag = strong_etag(headers);
        if etag.is_some() && self.etag.is_some() && etag != self.etag {
            // `If-Range` should have prevented this: the host does not honour it.
            drop(response);
            return self
                .start_over("the file changed on the storage host")
                .await;
        }
        if first > self.handed_out {
            return Err(ExportError::InvalidDownload {
                message: format!(
                    "asked for bytes from {} but the answer starts at byte {first}",
                    self.handed_out
                ),
            });
        }
        self.skip = self.handed_out - first;
        if size.is_some() {
            self.total = size;
        }
        if self.etag.is_none() {
            self.etag = etag;
        }
        if let Some(content_type) = header_str(headers, CONTENT_TYPE) {
            self.content_type = Some(content_type.to_owned());
        }
        self.response = Some(response);
        self.report(true);
        Ok(None)
    }

    /// A `416`: either everything has been received already, or the file is not what it was.
    async fn range_not_satisfiable(
        &mut self,
        response: reqwest::Response,
    ) -> Result<Option<Event>, ExportError> {
        let range = header_str(response.headers(), CONTENT_RANGE).and_then(ContentRange::parse);
        drop(response);
        if let Some(ContentRange::Unsatisfied { size }) = range {
            if size == self.handed_out {
                // The previous body declared more than the file holds; the file is complete.
                self.total = Some(size);
                self.complete()?;
                return Ok(None);
            }
        }
        self.start_over("the storage host cannot serve the rest of the file (416)")
            .await
    }

    /// What was received cannot be continued: a file starts over from byte 0 (counted as an
    /// interruption); a stream, whose bytes the caller already has, ends with `Changed`.
    async fn start_over(&mut self, why: &str) -> Result<Option<Event>, ExportError> {
        match self.mode {
            Mode::File => {
                self.from_start = true;
                self.interrupted(why.into()).await?;
                Ok(None)
            }
            Mode::Stream => {
                self.finished = true;
                Err(ExportError::Changed {
                    received: self.handed_out,
                })
            }
        }
    }

    /// The storage host refused the URL (`403`, usually expired) or lost the file (`404`): read
    /// the export's status for a fresh URL. A fresh URL refused again is final.
    async fn refresh(&mut self, status: StatusCode, error: ExportError) -> Result<(), ExportError> {
        if self.refreshed {
            self.finished = true;
            return Err(match error {
                ExportError::DownloadStatus { status, message } => ExportError::DownloadStatus {
                    status,
                    message: format!(
                        "{message} (a freshly signed download URL was refused too; if this \
                         persists start a new export)"
                    ),
                },
                other => other,
            });
        }
        tracing::info!(
            export_id = %self.export.id,
            %status,
            url = %redact_query(&self.url),
            "the storage host refused the download URL; fetching a fresh one from the export's status"
        );
        let snapshot = self
            .export
            .export()
            .status()
            .await
            .inspect_err(|_| self.finished = true)?;
        let url = snapshot
            .raw
            .download_url
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                self.finished = true;
                ExportError::InvalidResponse {
                    id: self.export.id.clone(),
                    message: format!(
                    "the download URL was refused (HTTP {status}) and the export's status ({}) \
                     carries no new download_url",
                    snapshot.status
                ),
                }
            })?;
        self.url = url;
        self.refreshed = true;
        self.url_refreshes = self.url_refreshes.saturating_add(1);
        Ok(())
    }

    /// An interruption: wait and let the caller resume, or give up.
    async fn interrupted(
        &mut self,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    ) -> Result<(), ExportError> {
        if self.resumes >= self.policy.max_resumes {
            self.finished = true;
            return Err(ExportError::Interrupted {
                received: self.handed_out,
                attempts: self.resumes.saturating_add(1),
                source,
            });
        }
        self.resumes += 1;
        let wait = self.policy.schedule().delay(self.resumes);
        tracing::info!(
            export_id = %self.export.id,
            received = self.handed_out,
            resume = self.resumes,
            ?wait,
            "download interrupted ({source}); resuming"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn report(&mut self, force: bool) {
        let Some(callback) = &self.progress else {
            return;
        };
        let due = match self.reported {
            None => true,
            Some(last) => {
                force || self.handed_out < last || self.handed_out - last >= PROGRESS_STEP
            }
        };
        if due {
            self.reported = Some(self.handed_out);
            callback(Progress {
                bytes: self.handed_out,
                total: self.expected().or(self.total),
                resumes: self.resumes,
            });
        }
    }

    /// The records layout: the export's format, else the URL's extension, else `Content-Type`.
    fn layout(&self) -> Result<ExportFormat, ExportError> {
        let format = self.export.format.as_ref();
        match format {
            Some(ExportFormat::Csv) => return Ok(ExportFormat::Csv),
            Some(ExportFormat::Json) => return Ok(ExportFormat::Json),
            _ => {}
        }
        let extension = url_extension(&self.export.download_url);
        match extension.as_deref() {
            Some("csv") => return Ok(ExportFormat::Csv),
            Some("json") => return Ok(ExportFormat::Json),
            _ => {}
        }
        let content_type = self.content_type.clone();
        if let Some(layout) = content_type.as_deref().and_then(layout_of_content_type) {
            return Ok(layout);
        }
        Err(ExportError::UnknownFormat {
            format: format.map(|f| self.scrub(f.as_str())),
            extension: extension.map(|e| self.scrub(&e)),
            content_type: content_type.map(|c| self.scrub(&c)),
        })
    }

    /// Text from the storage host (or derived from the URL), safe to put in an error: see
    /// [`scrub`].
    fn scrub(&self, text: &str) -> String {
        scrub(text, &[&self.url, &self.export.download_url])
    }

    /// A [`ExportError::DownloadStatus`] from an error answer, with the storage host's message (scrubbed
    /// of the URL's credentials) and a hint. Reads at most [`ERROR_BODY`] bytes of the body, for at
    /// most the policy's read time-out.
    async fn status_error(&self, response: reqwest::Response) -> ExportError {
        let final_url = response.url().to_string();
        let (status, body) = error_prefix(response, self.policy.read_timeout).await;
        let text = String::from_utf8_lossy(&body);
        let said = match (xml_element(&text, "Code"), xml_element(&text, "Message")) {
            (Some(code), Some(message)) => format!("{message} ({code})"),
            (None, Some(message)) => message.to_owned(),
            _ => text.split_whitespace().collect::<Vec<_>>().join(" "),
        };
        let said = scrub(&said, &[&self.url, &self.export.download_url, &final_url]);
        let said = if said.is_empty() {
            status.canonical_reason().unwrap_or("no message").to_owned()
        } else {
            said
        };
        status_message(status, said)
    }
}

/// The lower-case extension of a URL's last path segment.
fn url_extension(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let name = url.path_segments()?.next_back()?;
    let (_, extension) = name.rsplit_once('.')?;
    (!extension.is_empty()).then(|| extension.to_ascii_lowercase())
}

fn layout_of_content_type(value: &str) -> Option<ExportFormat> {
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    match essence.as_str() {
        "text/csv" | "application/csv" | "text/comma-separated-values" => Some(ExportFormat::Csv),
        "application/json" | "text/json" => Some(ExportFormat::Json),
        other if other.ends_with("+json") => Some(ExportFormat::Json),
        _ => None,
    }
}

/// The `ETag` if it is strong (`If-Range` needs a strong validator).
fn strong_etag(headers: &HeaderMap) -> Option<String> {
    header_str(headers, ETAG)
        .filter(|etag| etag.starts_with('"') && etag.len() >= 2)
        .map(str::to_owned)
}

/// A `Content-Range` header.
#[derive(Debug, PartialEq, Eq)]
enum ContentRange {
    /// `bytes first-last/size` (`size` may be `*`).
    Bytes {
        first: u64,
        last: u64,
        size: Option<u64>,
    },
    /// `bytes */size` (on a 416).
    Unsatisfied { size: u64 },
}

impl ContentRange {
    fn parse(value: &str) -> Option<ContentRange> {
        let rest = value.trim().strip_prefix("bytes")?.trim_start();
        let (range, size) = rest.split_once('/')?;
        let size = size.trim();
        if range.trim() == "*" {
            return Some(ContentRange::Unsatisfied {
                size: size.parse().ok()?,
            });
        }
        let (first, last) = range.split_once('-')?;
        let first: u64 = first.trim().parse().ok()?;
        let last: u64 = last.trim().parse().ok()?;
        let size = if size == "*" {
            None
        } else {
            Some(size.parse().ok()?)
        };
        if last < first || size.is_some_and(|s| last >= s) {
            return None;
        }
        Some(ContentRange::Bytes { first, last, size })
    }
}

/// The status and at most the first [`ERROR_BODY`] bytes of an error answer's body, read for at
/// most `limit` in all (a trickling error page must not hold the download up). The rest of the
/// body is never read: the response is dropped, which closes its connection.
async fn error_prefix(mut response: reqwest::Response, limit: Duration) -> (StatusCode, Vec<u8>) {
    let mut body = Vec::new();
    // On a time-out or a broken body, what arrived so far is the message.
    let read = crate::retry::read_into(&mut response, ERROR_BODY, &mut body);
    let _ = tokio::time::timeout(limit, read).await;
    (response.status(), body)
}

/// The [`ExportError::DownloadStatus`] for `status`, with what the storage host said (already scrubbed)
/// cut to [`MAX_ECHO`] characters, and a hint.
fn status_message(status: StatusCode, said: String) -> ExportError {
    let said = truncate_chars(&said, MAX_ECHO);
    let hint = match status.as_u16() {
        400 => "; the storage host rejected the request: check for a proxy that adds headers",
        403 => "; the download URL was refused (pre-signed URLs expire after 24 hours)",
        404 => "; the file is no longer on the storage host: start a new export",
        408 | 429 | 500..=599 => "; the storage host kept failing: try again later",
        _ => "",
    };
    ExportError::DownloadStatus {
        status,
        message: format!("{said}{hint}"),
    }
}

/// At most `max` characters of `text`, with `…` when cut.
fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Text the storage host sent (an error body, a header value), made safe to show in an error or
/// a log line, and cut to [`MAX_ECHO`] characters: every URL in it loses its query and fragment
/// (pre-signed URLs carry their credential there), so does any `path?name=value` word, and every
/// query value (and the whole query) of the given URLs is blanked wherever it appears.
pub(crate) fn scrub(text: &str, urls: &[&str]) -> String {
    let mut out = redact_urls(text);
    for url in urls {
        for secret in url_secrets(url) {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "<redacted>");
            }
        }
    }
    truncate_chars(&out, MAX_ECHO)
}

/// `text` with every URL (and every `path?name=value` word) cut at its query and fragment, which
/// become `?<redacted>`; nothing else changes.
pub(crate) fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let is_delimiter = |c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`');
    for c in text.chars() {
        if is_delimiter(c) {
            out.push_str(&scrub_word(&word));
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    out.push_str(&scrub_word(&word));
    out
}

/// One word of [`redact_urls`]: a URL or `…?a=b` word without its query and fragment.
fn scrub_word(word: &str) -> std::borrow::Cow<'_, str> {
    let cut = word.find(['?', '#']);
    let Some(cut) = cut else {
        return word.into();
    };
    let (base, rest) = word.split_at(cut);
    if base.contains("://") || rest.contains('=') {
        format!("{base}?<redacted>").into()
    } else {
        word.into()
    }
}

/// The parts of a URL that are credentials: its whole query and fragment, and each query value
/// of 8 characters or more, raw and percent-decoded (longest first).
fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let (query, fragment) = match url::Url::parse(url) {
        Ok(parsed) => (
            parsed.query().map(str::to_owned),
            parsed.fragment().map(str::to_owned),
        ),
        Err(_) => {
            let (rest, fragment) = match url.split_once('#') {
                Some((rest, fragment)) => (rest, Some(fragment.to_owned())),
                None => (url, None),
            };
            (rest.split_once('?').map(|(_, q)| q.to_owned()), fragment)
        }
    };
    for part in [&query, &fragment].into_iter().flatten() {
        secrets.push(part.clone());
        for pair in part.split('&') {
            let value = pair.split_once('=').map_or(pair, |(_, v)| v);
            secrets.push(value.to_owned());
            let decoded: String = url::form_urlencoded::parse(format!("x={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            secrets.push(decoded);
        }
    }
    secrets.retain(|s| s.chars().count() >= 8);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// The text of the first `<name>…</name>` element, if any.
fn xml_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&close)?;
    Some(text[start..end].trim())
}

// ---------------------------------------------------------------------------------------------
// download_to: a temporary file, one writer thread, an atomic rename.

/// What the download task sends the writer thread.
enum Block {
    Bytes(Bytes),
    /// Truncate the file and write from byte 0 again.
    Restart,
}

async fn to_file(mut transfer: Transfer, path: PathBuf) -> Result<Downloaded, ExportError> {
    let io_error = |path: &Path, source: io::Error| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    // A target that cannot be written is known before the storage host is asked for anything.
    check_target(&path).await.map_err(|e| io_error(&path, e))?;
    // Typed answers (expired export, refused URL) come before anything touches the disk.
    transfer.prime().await?;

    let target = path.clone();
    let (file, temp) = tokio::task::spawn_blocking(move || create_temp(&target))
        .await
        .map_err(|e| io_error(&path, io::Error::other(e)))?
        .map_err(|e| io_error(&path, e))?;
    // From here on `temp` removes the temporary file when dropped: on errors and when this future
    // is dropped, even while the writer thread still holds the file open.
    let (blocks, queue) = mpsc::channel::<Block>(WRITE_QUEUE);
    // A plain thread, not `spawn_blocking`: a blocking task that lives as long as the transfer
    // would stop tokio's paused test clock from auto-advancing, so stall timeouts could never
    // fire in users' tests. The thread ends when `blocks` is dropped.
    let (done, writer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mangrove-download-writer".into())
        .spawn(move || {
            let _ = done.send(write_blocks(file, queue));
        })
        .map_err(|e| io_error(&path, e))?;

    let fetched = fetch_blocks(&mut transfer, &blocks).await;
    drop(blocks);
    let written = writer
        .await
        .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
    match (fetched, written) {
        (Ok(()), Ok(bytes)) if bytes == transfer.handed_out => {}
        (Ok(()), Ok(bytes)) => {
            return Err(io_error(
                &path,
                io::Error::other(format!(
                    "{bytes} bytes were written but {} were received",
                    transfer.handed_out
                )),
            ))
        }
        // The writer stopped first (disk full, …): its error is the cause.
        (Err(Fetch::WriterGone) | Ok(()), Err(e)) => return Err(io_error(&path, e)),
        (Err(Fetch::WriterGone), Ok(_)) => {
            return Err(io_error(
                &path,
                io::Error::other("the writer thread stopped"),
            ))
        }
        (Err(Fetch::Failed(e)), _) => return Err(e),
    }

    // The writer thread synced the file's bytes; after the rename, the directory entry.
    let target = path.clone();
    tokio::task::spawn_blocking(move || {
        temp.persist(&target)?;
        sync_parent(&target);
        Ok::<(), tempfile::PathPersistError>(())
    })
    .await
    .map_err(|e| io_error(&path, io::Error::other(e)))?
    .map_err(|e| io_error(&path, e.error))?;
    Ok(Downloaded {
        path,
        bytes: transfer.handed_out,
        resumes: transfer.resumes,
        url_refreshes: transfer.url_refreshes,
        restarts: transfer.restarts,
        elapsed: transfer.started.map(|s| s.elapsed()).unwrap_or_default(),
    })
}

enum Fetch {
    Failed(ExportError),
    WriterGone,
}

/// Reads the transfer and queues blocks of [`WRITE_BLOCK`] bytes for the writer thread.
async fn fetch_blocks(transfer: &mut Transfer, blocks: &mpsc::Sender<Block>) -> Result<(), Fetch> {
    let mut pending = BytesMut::new();
    loop {
        match transfer.next().await.map_err(Fetch::Failed)? {
            Some(Event::Data(chunk)) => {
                if pending.is_empty() && chunk.len() >= WRITE_BLOCK {
                    blocks
                        .send(Block::Bytes(chunk))
                        .await
                        .map_err(|_| Fetch::WriterGone)?;
                    continue;
                }
                if pending.capacity() == 0 {
                    pending.reserve(WRITE_BLOCK);
                }
                pending.extend_from_slice(&chunk);
                if pending.len() >= WRITE_BLOCK {
                    let block = pending.split().freeze();
                    blocks
                        .send(Block::Bytes(block))
                        .await
                        .map_err(|_| Fetch::WriterGone)?;
                }
            }
            Some(Event::Restart) => {
                pending.clear();
                blocks
                    .send(Block::Restart)
                    .await
                    .map_err(|_| Fetch::WriterGone)?;
            }
            None => break,
        }
    }
    if !pending.is_empty() {
        let block = pending.split().freeze();
        blocks
            .send(Block::Bytes(block))
            .await
            .map_err(|_| Fetch::WriterGone)?;
    }
    Ok(())
}

/// The writer thread: writes blocks in order until the queue closes; returns the file's length.
fn write_blocks(file: std::fs::File, mut queue: mpsc::Receiver<Block>) -> io::Result<u64> {
    use std::io::Seek as _;
    let mut file = file;
    let mut written: u64 = 0;
    let mut flushed: u64 = 0;
    while let Some(block) = queue.blocking_recv() {
        match block {
            Block::Bytes(bytes) => {
                file.write_all(&bytes)?;
                written = written.saturating_add(bytes.len() as u64);
                if written - flushed >= WRITEBACK_EVERY {
                    start_writeback(&file, flushed, written - flushed);
                    flushed = written;
                }
            }
            Block::Restart => {
                file.set_len(0)?;
                file.rewind()?;
                written = 0;
                flushed = 0;
            }
        }
    }
    file.flush()?;
    // On disk before the rename: otherwise a power loss can leave the final name pointing at an
    // empty or partial file.
    file.sync_all()?;
    Ok(written)
}

/// How often the writer asks the kernel to start writing the file back to disk.
const WRITEBACK_EVERY: u64 = 16 * 1024 * 1024;

/// Starts writing `len` bytes from `offset` back to disk without waiting (Linux
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that the `sync_all` before the rename finds
/// little left to write and the download keeps close to the network's speed. Best effort: a
/// failure only means more work for `sync_all`.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd as _;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is open for the call's duration; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

/// The directory `path` goes in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// `path` names a file in an existing directory (checked before any request is made).
async fn check_target(path: &Path) -> io::Result<()> {
    if path.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ));
    }
    let dir = parent_dir(path);
    match tokio::fs::metadata(dir).await {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("{} is not a directory", dir.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("the directory {} does not exist", dir.display()),
        )),
        Err(e) => Err(e),
    }
}

/// Best effort: syncs the directory of `path` after the rename, so the new name survives a power
/// loss too (Unix only; elsewhere, and when the directory cannot be opened or synced, nothing
/// happens: the file's bytes are synced already).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        if let Ok(dir) = std::fs::File::open(parent_dir(path)) {
            if let Err(e) = dir.sync_all() {
                tracing::debug!("syncing the directory of the downloaded file failed: {e}");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// A temporary file next to `path`: `.<name>.<random>.part`, with the permissions a new file
/// normally gets (not the 0600 of temporary files).
fn create_temp(path: &Path) -> io::Result<(std::fs::File, tempfile::TempPath)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = parent_dir(path);
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    Ok(builder.tempfile_in(dir)?.into_parts())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(
            ContentRange::parse("bytes 10-19/20"),
            Some(ContentRange::Bytes {
                first: 10,
                last: 19,
                size: Some(20)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes 0-0/*"),
            Some(ContentRange::Bytes {
                first: 0,
                last: 0,
                size: None
            })
        );
        assert_eq!(
            ContentRange::parse("bytes */20"),
            Some(ContentRange::Unsatisfied { size: 20 })
        );
        for bad in [
            "bytes 5-4/20",
            "bytes 0-20/20",
            "items 0-1/2",
            "bytes 0-1",
            "bytes a-b/c",
            "",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn extensions_and_content_types() {
        assert_eq!(
            url_extension("https://s3.example/x/exp_1.CSV?sig=a.json").as_deref(),
            Some("csv")
        );
        assert_eq!(url_extension("https://s3.example/x/exp_1?sig=a.json"), None);
        assert_eq!(url_extension("https://s3.example/x/exp.1/"), None);
        assert_eq!(
            layout_of_content_type("text/csv; charset=utf-8"),
            Some(ExportFormat::Csv)
        );
        assert_eq!(
            layout_of_content_type("application/vnd.api+json"),
            Some(ExportFormat::Json)
        );
        assert_eq!(layout_of_content_type("application/octet-stream"), None);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let policy = DownloadPolicy::default().resume_backoff(Duration::from_millis(100));
        assert_eq!(policy.schedule().delay(1), Duration::from_millis(100));
        assert_eq!(policy.schedule().delay(3), Duration::from_millis(400));
        assert_eq!(policy.schedule().delay(40), MAX_BACKOFF);
    }

    #[test]
    fn s3_messages() {
        let xml = "<?xml version=\"1.0\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(xml_element(xml, "Message"), Some("Request has expired"));
        assert_eq!(xml_element(xml, "Code"), Some("AccessDenied"));
        assert_eq!(xml_element("<html>", "Code"), None);
    }

    #[test]
    fn scrub_removes_queries_and_the_urls_secrets() {
        let url =
            "https://s3.example/b/exp_1.csv?X-Amz-Signature=0123456789abcdef&X-Amz-Expires=86400";
        let body = format!(
            "<Error><Message>Request has expired for {url} (sig 0123456789abcdef)</Message>\
             <Resource>/b/exp_1.csv?X-Amz-Signature=zzzzzzzzzzzz</Resource>\
             see http://other.example/p#token=abc</Error>"
        );
        let clean = scrub(&body, &[url]);
        assert!(!clean.contains("0123456789abcdef"), "{clean}");
        assert!(!clean.contains("zzzzzzzz"), "{clean}");
        assert!(!clean.contains("token=abc"), "{clean}");
        assert!(
            clean.contains("https://s3.example/b/exp_1.csv?<redacted>"),
            "{clean}"
        );
        assert!(clean.contains("Request has expired"), "{clean}");
        // Plain words keep their punctuation; long text is cut.
        assert_eq!(scrub("Where? Here.", &[]), "Where? Here.");
        assert!(scrub(&"x".repeat(10_000), &[]).chars().count() <= MAX_ECHO + 1);
        // Percent-decoded values are blanked too.
        let encoded = "https://h/f?signature=ab%2Fcd%2Bef%3D%3D";
        assert!(!scrub("echo ab/cd+ef==", &[encoded]).contains("ab/cd+ef=="));
    }

    #[test]
    fn redact_query_keeps_scheme_host_and_path() {
        assert_eq!(
            redact_query("https://user:pw@s3.example:8443/a/b.csv?sig=1#frag"),
            "https://s3.example:8443/a/b.csv?<redacted>#<redacted>"
        );
        assert_eq!(redact_query("http://127.0.0.1:9/f"), "http://127.0.0.1:9/f");
        assert_eq!(redact_query("not a url#x?y"), "not a url#<redacted>");
        assert_eq!(redact_query("/files/x?signature=1"), "/files/x?<redacted>");
    }

    #[tokio::test]
    async fn missing_directory_is_found_before_any_request() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope").join("out.csv");
        let err = check_target(&missing).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("does not exist"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(check_target(&file.join("out.csv")).await.is_err());
        assert!(check_target(&dir.path().join("out.csv")).await.is_ok());
        assert!(check_target(Path::new("out.csv")).await.is_ok());
        assert!(check_target(Path::new("/")).await.is_err());
    }

    #[test]
    fn temp_file_is_hidden_next_to_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let (_file, temp) = create_temp(&dir.path().join("out.csv")).unwrap();
        let name = temp.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(".out.csv.") && name.ends_with(".part"),
            "{name}"
        );
        assert_eq!(temp.parent(), Some(dir.path()));
        drop(temp);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
