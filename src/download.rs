//! Downloading an export's file: to disk, as a byte stream, as an [`AsyncRead`](tokio::io::AsyncRead), or as records.
//!
//! Failures of the pre-signed `download_url` ([`DownloadPolicy`]):
//!
//! * **Interrupted** (connection lost, body cut short, stalled, `5xx`/`408`/`429`): resumed where
//!   it stopped (`Range` with `If-Range: <ETag>`) after a doubling backoff, at most
//!   [`max_resumes`](DownloadPolicy::max_resumes) times; a stream without an `ETag` is not.
//! * **URL refused** (`403`: URLs expire after 24 hours) or `404`: a fresh URL is read from the
//!   export's status; an export cleaned up meanwhile is [`ExportError::Expired`].
//! * **The file changed** (another `ETag`): a file download starts again from byte 0; a stream,
//!   which cannot take back what it handed out, ends with [`ExportError::Changed`].
//! * **Any other `4xx`**, or a fresh URL refused again: [`ExportError::DownloadStatus`].
//!
//! The size is checked against `file_size_bytes` ([`ExportError::SizeMismatch`]). Memory stays
//! bounded: a file download queues at most 16 chunks for its writer thread; a stream holds one.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use reqwest::header::{HeaderMap, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, RANGE};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use tokio::io::AsyncBufRead;
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::error::ExportError;
use crate::export::CompletedExport;
use crate::open_enum::ExportFormat;
use crate::records::{self, Records};
use crate::redact::scrub;
use crate::wire::{header_str, read_into};
// Re-exported here too: first published at `mangrove::download::DownloadPolicy`.
use crate::settings::Backoff;
pub use crate::settings::DownloadPolicy;

/// Bytes per write to disk.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Chunks queued for the writer thread before the download waits for the disk.
const WRITE_QUEUE: usize = 16;
/// How often the writer asks the kernel to start writing the file back to disk.
const WRITEBACK_EVERY: i64 = 16 * 1024 * 1024;
/// Bytes of an error body read for the error message.
const ERROR_BODY: usize = 2048;

/// How a [`download_to`](CompletedExport::download_to) went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Downloaded {
    /// The file's size in bytes.
    pub bytes: u64,
    /// Resumes after interruptions.
    pub resumes: u32,
    /// Fresh download URLs fetched because the storage host refused the URL.
    pub url_refreshes: u32,
    /// Times the download started again from byte 0 (the file changed on the storage host).
    pub restarts: u32,
}

type ProgressFn = Arc<dyn Fn(u64, Option<u64>) + Send + Sync + 'static>;

/// A file download made by [`CompletedExport::download_to`]; `.await` it.
#[must_use = "a download does nothing until it is awaited"]
pub struct DownloadTo {
    transfer: Transfer,
    path: PathBuf,
}

impl fmt::Debug for DownloadTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DownloadTo({:?}, {:?})", self.transfer.export, self.path)
    }
}

impl DownloadTo {
    /// Calls `f(bytes so far, total)` on each answer and chunk (`bytes` is 0 again on a restart;
    /// `total` is `file_size_bytes`, else the host's size). Keep `f` quick.
    pub fn on_progress(mut self, f: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        self.transfer.progress = Some(Arc::new(f));
        self
    }
}

impl IntoFuture for DownloadTo {
    type Output = Result<Downloaded, ExportError>;
    type IntoFuture = BoxFuture<'static, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        to_file(self.transfer, self.path).boxed()
    }
}

impl CompletedExport {
    /// Downloads the file to `path` via `.<name>.<random>.part` next to it (created before any
    /// request, removed on error or drop), renamed once complete: `path` never holds a partial file.
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
        DownloadTo {
            transfer: Transfer::new(self.clone(), true),
            path: path.as_ref().to_path_buf(),
        }
    }

    /// The file as a stream of byte chunks.
    pub fn bytes_stream(&self) -> BoxStream<'static, Result<Bytes, ExportError>> {
        stream(Transfer::new(self.clone(), false))
    }

    /// The file as an [`AsyncBufRead`]; a failure is an [`io::Error`] wrapping the [`ExportError`].
    pub fn reader(&self) -> impl AsyncBufRead + Send + Unpin + 'static {
        StreamReader::new(self.bytes_stream().map_err(io::Error::other))
    }

    /// The file's [`records`](mod@crate::records) as `T`, in the layout of the export's `format`,
    /// else the URL's extension, else the `Content-Type` (else [`ExportError::UnknownFormat`]).
    /// Failures after the first answer end the stream with
    /// [`RecordError::Download`](crate::records::RecordError::Download).
    pub fn records<T>(
        &self,
    ) -> impl Future<Output = Result<Records<T>, ExportError>> + Send + 'static
    where
        T: DeserializeOwned + Send + 'static,
    {
        let mut transfer = Transfer::new(self.clone(), false);
        async move {
            while transfer.response.is_none() && !transfer.finished {
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

/// One download over as many requests as it takes.
struct Transfer {
    export: CompletedExport,
    /// A file can be truncated and written again; a stream cannot take back its bytes.
    restartable: bool,
    progress: Option<ProgressFn>,
    url: String,
    response: Option<reqwest::Response>,
    /// The strong ETag, for `If-Range`.
    etag: Option<String>,
    content_type: Option<String>,
    /// The host's declared size.
    total: Option<u64>,
    /// What was handed out so far; `bytes` is the next byte's position.
    sofar: Downloaded,
    /// Leading bytes of the current body that were handed out already.
    skip: u64,
    /// A fresh URL was fetched and has not delivered a byte yet.
    refreshed: bool,
    finished: bool,
}

impl Transfer {
    fn new(export: CompletedExport, restartable: bool) -> Self {
        Transfer {
            url: export.download_url.clone(),
            export,
            restartable,
            progress: None,
            response: None,
            etag: None,
            content_type: None,
            total: None,
            sofar: Downloaded::default(),
            skip: 0,
            refreshed: false,
            finished: false,
        }
    }

    /// The next bytes, or `None` at the end of a complete file.
    async fn next(&mut self) -> Result<Option<Bytes>, ExportError> {
        while !self.finished {
            let Some(response) = self.response.as_mut() else {
                self.open().await?;
                continue;
            };
            match response.chunk().await {
                Ok(Some(mut chunk)) => {
                    let skip = self.skip.min(chunk.len() as u64);
                    let _ = chunk.split_to(skip as usize);
                    self.skip -= skip;
                    if chunk.is_empty() {
                        continue;
                    }
                    self.sofar.bytes = self.sofar.bytes.saturating_add(chunk.len() as u64);
                    self.refreshed = false;
                    self.check_size(false)?;
                    self.report();
                    return Ok(Some(chunk));
                }
                Ok(None) => {
                    self.response = None;
                    let received = self.sofar.bytes;
                    match self.total.filter(|&total| received < total) {
                        Some(total) => {
                            let why = format!("the body ended after {received} of {total} bytes");
                            self.interrupted(why.into()).await?;
                        }
                        None => self.complete()?,
                    }
                }
                Err(e) => {
                    self.response = None;
                    self.interrupted(Box::new(e.without_url())).await?;
                }
            }
        }
        Ok(None)
    }

    /// The end of the file.
    fn complete(&mut self) -> Result<(), ExportError> {
        self.finished = true;
        self.check_size(true)?;
        self.report();
        Ok(())
    }

    /// `SizeMismatch` if more bytes arrived than `file_size_bytes` says, or fewer at the `end`.
    fn check_size(&self, end: bool) -> Result<(), ExportError> {
        let actual = self.sofar.bytes;
        match self.export.file_size_bytes {
            Some(expected) if actual > expected || (end && actual < expected) => {
                Err(ExportError::SizeMismatch { expected, actual })
            }
            _ => Ok(()),
        }
    }

    /// One request: then a body is open, the caller asks again, or the file is complete.
    async fn open(&mut self) -> Result<(), ExportError> {
        if self.sofar.bytes > 0 && self.etag.is_none() {
            self.rewind()?;
        }
        let mut request = self.export.handle.client.state().download.get(&self.url);
        if let Some(etag) = self.etag.as_deref().filter(|_| self.sofar.bytes > 0) {
            request = request
                .header(RANGE, format!("bytes={}-", self.sofar.bytes))
                .header(IF_RANGE, etag);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return self.interrupted(Box::new(e.without_url())).await,
        };
        match response.status() {
            StatusCode::OK | StatusCode::PARTIAL_CONTENT => self.accept(response).await,
            StatusCode::RANGE_NOT_SATISFIABLE => {
                let whole = format!("bytes */{}", self.sofar.bytes);
                if header_str(response.headers(), CONTENT_RANGE) == Some(whole.as_str()) {
                    // The previous body declared more than the file holds; the file is complete.
                    return self.complete();
                }
                self.rewind()?;
                self.interrupted("the storage host cannot serve the rest of the file (416)".into())
                    .await
            }
            status => {
                let error = self.status_error(response).await;
                match status.as_u16() {
                    403 | 404 if !self.refreshed => self.refresh(status, error).await,
                    408 | 429 | 500..=599 => self.interrupted(Box::new(error)).await,
                    _ => Err(error),
                }
            }
        }
    }

    /// A file starts again from byte 0; a stream ends with `Changed`.
    fn rewind(&mut self) -> Result<(), ExportError> {
        if !self.restartable {
            return Err(ExportError::Changed {
                received: self.sofar.bytes,
            });
        }
        if self.sofar.bytes > 0 {
            tracing::info!(export_id = %self.export.id(), received = self.sofar.bytes, "the file changed on the storage host or Range was ignored; starting again from byte 0");
            self.sofar.restarts = self.sofar.restarts.saturating_add(1);
        }
        self.sofar.bytes = 0;
        self.skip = 0;
        self.etag = None;
        Ok(())
    }

    /// A `200` or `206`; another `ETag` than the bytes handed out makes the transfer rewind.
    async fn accept(&mut self, response: reqwest::Response) -> Result<(), ExportError> {
        let headers = response.headers();
        let etag = strong_etag(headers);
        let (first, total) = if response.status() == StatusCode::OK {
            (0, response.content_length())
        } else {
            let value = header_str(headers, CONTENT_RANGE);
            let Some((first, size)) = value.and_then(content_range) else {
                let value = value.map_or("none".to_owned(), |v| self.scrub(v));
                let message = format!("a 206 answer without a usable Content-Range (got {value})");
                return Err(ExportError::InvalidDownload { message });
            };
            (first, size.or(self.total))
        };
        if self.sofar.bytes > 0 && (etag.is_none() || etag != self.etag) {
            self.rewind()?;
            if first > 0 {
                // `If-Range` should have prevented this: the host does not honour it.
                return self
                    .interrupted("the file changed on the storage host".into())
                    .await;
            }
        }
        if first > self.sofar.bytes {
            let message = format!("asked for byte {} but got from {first}", self.sofar.bytes);
            return Err(ExportError::InvalidDownload { message });
        }
        self.skip = self.sofar.bytes - first;
        self.etag = etag;
        self.total = total;
        if let Some(content_type) = header_str(headers, CONTENT_TYPE) {
            self.content_type = Some(content_type.to_owned());
        }
        self.response = Some(response);
        self.report();
        Ok(())
    }

    /// After a `403` (usually expired) or `404`: a fresh URL from the export's status.
    async fn refresh(&mut self, status: StatusCode, error: ExportError) -> Result<(), ExportError> {
        let id = self.export.id();
        tracing::info!(export_id = %id, %status, "URL refused ({error}); fetching a fresh one");
        let snapshot = self.export.export().status().await?;
        let url = snapshot.raw.download_url.filter(|u| !u.is_empty());
        self.url = url.ok_or_else(|| ExportError::InvalidResponse {
            id: self.export.id().to_owned(),
            message: format!("HTTP {status} for the download_url, and no new one"),
        })?;
        self.refreshed = true;
        self.sofar.url_refreshes = self.sofar.url_refreshes.saturating_add(1);
        Ok(())
    }

    /// An interruption: wait and let the caller resume, or give up.
    async fn interrupted(
        &mut self,
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    ) -> Result<(), ExportError> {
        let policy = self.policy().clone();
        let resumable = self.restartable || self.etag.is_some() || self.sofar.bytes == 0;
        if !resumable || self.sofar.resumes >= policy.max_resumes {
            return Err(ExportError::Interrupted {
                received: self.sofar.bytes,
                attempts: self.sofar.resumes.saturating_add(1),
                source,
            });
        }
        self.sofar.resumes += 1;
        let backoff = Backoff {
            initial: policy.resume_backoff,
            factor: 2.0,
            max: Duration::from_secs(60),
            jitter: false,
        };
        let wait = backoff.delay(self.sofar.resumes);
        tracing::info!(
            export_id = %self.export.id(),
            received = self.sofar.bytes,
            resume = self.sofar.resumes,
            ?wait,
            "download interrupted ({source}); resuming"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    fn policy(&self) -> &DownloadPolicy {
        &self.export.handle.client.state().download_policy
    }

    fn report(&self) {
        if let Some(callback) = &self.progress {
            callback(self.sofar.bytes, self.export.file_size_bytes.or(self.total));
        }
    }

    /// The records layout: the export's format, else the URL's extension, else `Content-Type`.
    fn layout(&self) -> Result<ExportFormat, ExportError> {
        let known = |name: &str| match name.trim().to_ascii_lowercase().as_str() {
            "csv" | "text/csv" | "application/csv" | "text/comma-separated-values" => {
                Some(ExportFormat::Csv)
            }
            "json" | "application/json" | "text/json" => Some(ExportFormat::Json),
            other if other.ends_with("+json") => Some(ExportFormat::Json),
            _ => None,
        };
        let url = url::Url::parse(&self.export.download_url).ok();
        let name = url.as_ref().and_then(|u| u.path_segments()?.next_back());
        let extension = name.and_then(|n| n.rsplit_once('.')).map(|(_, e)| e);
        let content_type = self.content_type.as_deref();
        let format = self.export.format.clone();
        (format.clone())
            .filter(|f| matches!(f, ExportFormat::Csv | ExportFormat::Json))
            .or_else(|| extension.and_then(known))
            .or_else(|| content_type.and_then(|c| known(c.split(';').next()?)))
            .ok_or_else(|| ExportError::UnknownFormat {
                format: format.map(|f| self.scrub(f.as_str())),
                extension: extension.filter(|e| !e.is_empty()).map(|e| self.scrub(e)),
                content_type: content_type.map(|c| self.scrub(c)),
            })
    }

    /// Text from the storage host (or derived from the URL), safe to put in an error.
    fn scrub(&self, text: &str) -> String {
        scrub(text, &[&self.url, &self.export.download_url])
    }

    /// [`ExportError::DownloadStatus`] with the body's start (scrubbed) and a hint.
    async fn status_error(&self, mut response: reqwest::Response) -> ExportError {
        let status = response.status();
        let final_url = response.url().to_string();
        let mut body = Vec::new();
        let read = read_into(&mut response, ERROR_BODY, &mut body);
        let _ = tokio::time::timeout(self.policy().read_timeout, read).await;
        let said = String::from_utf8_lossy(&body)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut said = scrub(&said, &[&self.url, &self.export.download_url, &final_url]);
        if said.is_empty() {
            said = status.canonical_reason().unwrap_or("no message").to_owned();
        }
        let hint = match status.as_u16() {
            403 | 404 => "; a fresh download URL was refused too: start a new export",
            408 | 429 | 500..=599 => "; the storage host kept failing: try again later",
            _ => "",
        };
        ExportError::DownloadStatus {
            status,
            message: format!("{said}{hint}"),
        }
    }
}

/// The `ETag` if it is strong (`If-Range` needs a strong validator).
fn strong_etag(headers: &HeaderMap) -> Option<String> {
    header_str(headers, ETAG)
        .filter(|etag| etag.starts_with('"') && etag.len() >= 2)
        .map(str::to_owned)
}

/// A `Content-Range` value `bytes first-last/size`: the first byte and the size (`None` for `*`).
fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (range, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let size = (size != "*").then(|| size.parse()).transpose().ok()?;
    let (first, last) = range.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    let fits = first <= last && size.is_none_or(|size| last < size);
    fits.then_some((first, size))
}

/// What the download task sends the writer thread, with the transfer's restart count.
enum Block {
    Bytes(Bytes, u32),
    Commit(tempfile::TempPath, PathBuf, u32),
}

async fn to_file(mut transfer: Transfer, path: PathBuf) -> Result<Downloaded, ExportError> {
    let io_error = |source| ExportError::Io {
        path: path.clone(),
        source,
    };
    let target = path.clone();
    let (file, temp) = tokio::task::spawn_blocking(move || create_temp(&target))
        .await
        .map_err(|e| io_error(io::Error::other(e)))?
        .map_err(io_error)?;
    let (blocks, queue) = mpsc::channel::<Block>(WRITE_QUEUE);
    // Not `spawn_blocking`, which would keep tokio's paused test clock from advancing.
    let (done, writer) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("mangrove-download-writer".into())
        .spawn(move || {
            let _ = done.send(write_blocks(file, queue));
        })
        .map_err(io_error)?;
    let fetched: Result<(), ExportError> = async {
        while let Some(chunk) = transfer.next().await? {
            let block = Block::Bytes(chunk, transfer.sofar.restarts);
            if blocks.send(block).await.is_err() {
                break; // the writer stopped; its result says why
            }
        }
        Ok(())
    }
    .await;
    if fetched.is_ok() {
        let commit = Block::Commit(temp, path.clone(), transfer.sofar.restarts);
        let _ = blocks.send(commit).await;
    }
    drop(blocks);
    let written = writer
        .await
        .unwrap_or_else(|_| Err(io::Error::other("the writer panicked")));
    // A fetch error is the cause; else the writer's (disk full, …), which also stops the fetch.
    fetched?;
    written.map_err(io_error)?;
    Ok(transfer.sofar)
}

/// The writer thread: writes blocks in order until `Commit` (synced before the rename).
fn write_blocks(file: std::fs::File, mut queue: mpsc::Receiver<Block>) -> io::Result<()> {
    use std::io::Seek as _;
    let mut file = io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut written: i64 = 0;
    let mut flushed: i64 = 0;
    let mut restarts = 0;
    while let Some(block) = queue.blocking_recv() {
        let (Block::Bytes(_, seen) | Block::Commit(_, _, seen)) = block;
        if seen != restarts {
            restarts = seen;
            file.rewind()?;
            file.get_ref().set_len(0)?;
            written = 0;
            flushed = 0;
        }
        match block {
            Block::Bytes(bytes, _) => {
                file.write_all(&bytes)?;
                written += bytes.len() as i64;
                if written - flushed >= WRITEBACK_EVERY {
                    start_writeback(file.get_ref(), flushed, written - flushed);
                    flushed = written;
                }
            }
            Block::Commit(temp, path, _) => {
                file.flush()?;
                file.get_ref().sync_all()?;
                temp.persist(&path).map_err(|e| e.error)?;
                // Best effort: the new name survives a power loss too.
                #[cfg(unix)]
                let _ = std::fs::File::open(parent_dir(&path)).and_then(|d| d.sync_all());
                return Ok(());
            }
        }
    }
    Err(io::Error::other("the download stopped before its end"))
}

/// Starts writing `len` bytes from `offset` back to disk, so that `sync_all` finds little left.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: i64, len: i64) {
    use std::os::fd::AsRawFd as _;
    // SAFETY: the descriptor is open for the call's duration; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: i64, _len: i64) {}

/// The directory of `path` (`.` for a bare name).
fn parent_dir(path: &Path) -> &Path {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    dir.unwrap_or(Path::new("."))
}

/// `.<name>.<random>.part` next to `path`, with a new file's permissions (not 0600).
fn create_temp(path: &Path) -> io::Result<(std::fs::File, tempfile::TempPath)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let mut builder = tempfile::Builder::new();
    let prefix = format!(".{}.", name.to_string_lossy());
    builder.prefix(&prefix).suffix(".part");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    Ok(builder.tempfile_in(parent_dir(path))?.into_parts())
}
