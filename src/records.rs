//! Typed record streams over the bytes of an export file.
//!
//! [`from_reader`] turns any [`AsyncRead`] holding a Mangrove export (CSV or JSON, up to 500 MB) into a
//! [`Records`] stream of `T`, with memory bounded by a few thousand records whatever the file size.
//!
//! # How it works
//!
//! A task on the runtime reads the bytes up to 512 KiB ahead (8 chunks of 64 KiB), so that reading
//! (for a download: fetching the body) overlaps with parsing. The parser runs on one thread of Tokio's
//! blocking pool ([`spawn_blocking`](tokio::task::spawn_blocking)), never on the executor threads. It sends
//! records in batches of up to 1024 through a bounded channel of 4 batches: when the consumer is slower
//! than the parser, the parser waits, so only a few thousand records exist at a time. A batch is also
//! sent early whenever the input has no bytes ready (a slow download), so records arrive as soon as
//! their bytes do. Dropping the stream stops the parser at its next batch or read, and the reading
//! task at once, even while the input stalls.
//!
//! The parser thread splits the input into records: CSV records into cells, JSON elements into their
//! bytes (one pass that also checks their syntax). Each record is decoded into `T` when the stream
//! hands it out: a few hundred nanoseconds for a typical record, and it keeps `T`'s allocations on the
//! thread that frees them, which makes streams about 1.5 (CSV) to 1.8 (JSON) times faster. Records
//! larger than 64 KiB are decoded on the parser thread.
//!
//! # File conventions
//!
//! **CSV** (RFC 4180): the first row names the columns, and those names are matched to `T`'s field
//! names; columns that `T` does not name are ignored (unless `T` uses `#[serde(deny_unknown_fields)]`).
//! A cell is read according to the type asked for:
//!
//! | the field's type | what the cell must hold |
//! |---|---|
//! | `Option<_>` | empty for `None`, else the inner type |
//! | `String`, `&str`, dates kept as text | any text; empty gives `""` |
//! | integers, floats, `bool` | JSON spelling: `42`, `-1.5e3`, `true`; empty is an error (use `Option`) |
//! | `Vec<_>`, maps, nested structs, tuples | compact JSON text such as `[{"name":"Image.png"}]`; empty gives `[]` / `{}` |
//! | unit enum variants | the variant's name; JSON text `{"Variant":…}` for others |
//! | [`serde_json::Value`], untagged enums, `#[serde(flatten)]` | guessed: empty → null, `[…]`/`{…}` → JSON, `true`/`false` → bool, JSON numbers → number, anything else → string |
//!
//! A column missing from the header leaves the field absent, so `Option` fields are `None` and
//! `#[serde(default)]` applies.
//!
//! **JSON**: the file is one array of objects, `[ {…}, {…} ]`, with any whitespace; `[]` holds no
//! records. Elements are read one at a time, never the whole array. Record numbers count array
//! elements from 1.
//!
//! # Errors, and choosing to stop or go on
//!
//! Each item is a `Result<T, RecordError>`:
//!
//! * [`RecordError::Row`]: one record is well-formed CSV/JSON but does not decode into `T`. The stream
//!   **goes on** with the next record.
//! * [`RecordError::Malformed`]: the file itself is broken (bad CSV structure, JSON syntax error, a
//!   file cut short). The stream **ends** after it.
//! * [`RecordError::Io`]: reading the bytes failed, or [`RecordError::Download`]: downloading them
//!   failed ([`RecordError::status`] gives the HTTP status behind it). The stream **ends** after it.
//!
//! So the caller decides: [`TryStreamExt::try_next`](futures::TryStreamExt::try_next) and
//! [`try_collect`](futures::TryStreamExt::try_collect) stop at the first error of any kind, while
//! [`filter_map`](futures::StreamExt::filter_map)`(|r| async { r.ok() })` skips every bad record, and a
//! `match` on each item can log bad rows and still stop on [`RecordError::is_fatal`] ones.
//!
//! A panic in `T`'s `Deserialize` implementation is not swallowed: the stream resumes it in the task
//! that polls the stream.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future as _;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::stream::{FusedStream, Stream};
use futures::StreamExt as _;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, Visitor};
use tokio::io::AsyncRead;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::ExportError;
use crate::ExportFormat;

/// Records per message from the parser thread to the stream.
const BATCH: usize = 1024;
/// Batches the channel holds before the parser waits for the consumer.
const CHANNEL: usize = 4;
/// Chunks of input read ahead of the parser, at most.
const READ_AHEAD: usize = 8;
/// Bytes per chunk of input read ahead, at most.
const READ_CHUNK: usize = 64 * 1024;
/// Read buffer of the CSV parser.
const CSV_BUFFER: usize = 64 * 1024;
/// Bytes of CSV cells per batch at most (besides `BATCH` records at most).
const CSV_BATCH_BYTES: usize = 1024 * 1024;
/// CSV records up to this size are decoded into `T` as the stream hands them out (keeping each
/// record's allocations on the thread that will most likely free them, which glibc's allocator
/// rewards); larger ones are decoded on the parser thread, so no single poll does much work.
const CSV_DECODE_IN_STREAM_MAX: usize = 64 * 1024;
/// Initial read buffer of the JSON parser; it grows only for a record larger than this.
const JSON_BUFFER: usize = 256 * 1024;
/// JSON elements up to this size are decoded into `T` as the stream hands them out (as for CSV);
/// larger ones are decoded on the parser thread.
const JSON_DECODE_IN_STREAM_MAX: usize = 64 * 1024;
/// Bytes of JSON elements per batch at most (besides `BATCH` elements at most).
const JSON_BATCH_BYTES: usize = 1024 * 1024;
/// Largest single record accepted, so that a broken file (say, a quote that never closes) cannot
/// make the parser buffer the whole rest of the file.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Why an item of a [`Records`] stream is not a record.
///
/// Record numbers (`row`) count data records from 1: the CSV header row is not counted, and JSON array
/// elements are numbered from 1. A `row` of 0 means the problem lies before the first record (the CSV
/// header or the opening `[`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record is well-formed but does not decode into the requested type; the stream goes on with
    /// the next record.
    #[error("record {row} does not match the Rust type: {message}")]
    Row {
        /// The record's number, from 1.
        row: u64,
        /// What did not match, naming the CSV column or JSON field.
        message: String,
    },
    /// The file is broken (bad CSV structure, invalid JSON, cut short); the stream ends after this.
    #[error("the file is malformed at record {row}: {message}")]
    Malformed {
        /// The number of the record being read when the problem was found (0: before the first).
        row: u64,
        /// What is wrong and where.
        message: String,
    },
    /// Reading the bytes failed; the stream ends after this.
    #[error("reading the export failed: {0}")]
    Io(#[from] io::Error),
    /// Downloading the export file failed (a stream made by
    /// [`CompletedExport::records`](crate::CompletedExport::records)); the stream ends after this.
    #[error("downloading the export failed: {0}")]
    Download(#[source] ExportError),
    /// [`from_reader`] was given a format it cannot read (neither CSV nor JSON); the stream holds
    /// only this error.
    #[error("cannot read records of format `{format}` (only csv and json)")]
    UnsupportedFormat {
        /// The format as named.
        format: String,
    },
}

impl RecordError {
    /// The record number the error is about, if it has one.
    #[must_use]
    pub fn row(&self) -> Option<u64> {
        match self {
            Self::Row { row, .. } | Self::Malformed { row, .. } => Some(*row),
            _ => None,
        }
    }

    /// The HTTP status behind a failed download ([`RecordError::Download`]), if any.
    #[must_use]
    pub fn status(&self) -> Option<http::StatusCode> {
        match self {
            Self::Download(e) => e.status(),
            _ => None,
        }
    }

    /// Whether the stream ends after this error (all but `Row`) rather than going on (`Row`).
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Row { .. })
    }
}

/// Streams the records of an export file read from `reader`.
///
/// Nothing is read until the stream is first polled, which must happen inside a Tokio runtime (either
/// flavour). See the [module docs](self) for the CSV and JSON conventions and for errors.
///
/// # Panics
///
/// Polling the stream outside a Tokio runtime panics.
pub fn from_reader<T, R>(reader: R, format: ExportFormat) -> Records<T>
where
    T: DeserializeOwned + Send + 'static,
    R: AsyncRead + Send + Unpin + 'static,
{
    Records {
        state: State::Idle {
            reader: Box::new(reader),
            format,
            start: start_parser::<T>,
        },
    }
}

/// A stream of typed records from an export file, made by [`from_reader`].
///
/// Items are `Result<T, RecordError>`; [`RecordError::Row`] items are followed by the next record,
/// the other errors end the stream ([`RecordError::is_fatal`]).
///
/// # Example
///
/// ```
/// use futures::{StreamExt, TryStreamExt};
/// use mangrove::records::{self, RecordError};
/// use mangrove::ExportFormat;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Project {
///     id: i64,
///     name: Option<String>,
///     #[serde(default)]
///     credit_types: Vec<String>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RecordError> {
/// // Any AsyncRead works: a `tokio::fs::File`, a download body through `StreamReader`, bytes in memory.
/// let csv: &[u8] = b"id,name,credit_types\n\
///     1,Delta,\"[\"\"removal\"\"]\"\n\
///     oops,Broken,\n\
///     3,,[]\n";
///
/// // Stop at the first error of any kind:
/// let mut projects = records::from_reader::<Project, _>(csv, ExportFormat::Csv);
/// let first = projects.try_next().await?.expect("one record");
/// assert_eq!(first.credit_types, ["removal"]);
///
/// // Or go on past records that do not decode, and stop only when the file is broken:
/// let mut projects = records::from_reader::<Project, _>(csv, ExportFormat::Csv);
/// let mut good = Vec::new();
/// while let Some(item) = projects.next().await {
///     match item {
///         Ok(project) => good.push(project),
///         Err(e) if !e.is_fatal() => eprintln!("skipped: {e}"), // record 2: column `id` ...
///         Err(e) => return Err(e),
///     }
/// }
/// assert_eq!(good.len(), 2);
///
/// // Or silently keep the good ones:
/// let ids: Vec<i64> = records::from_reader::<Project, _>(csv, ExportFormat::Csv)
///     .filter_map(|r| async { r.ok() })
///     .map(|p| p.id)
///     .collect()
///     .await;
/// assert_eq!(ids, [1, 3]);
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Records<T> {
    state: State<T>,
}

/// The boxed source; boxing keeps `Records` generic over `T` only.
type Source = Box<dyn AsyncRead + Send + Unpin>;
/// Starts the parser; a function pointer carries the `T: DeserializeOwned` bound into `poll_next`.
type Start<T> = fn(Source, ExportFormat) -> State<T>;
/// Decodes record `i` of a CSV batch; a function pointer for the same reason as [`Start`].
type Decode<T> = fn(&CsvBatch, usize) -> Result<T, RecordError>;
/// Decodes element `i` of a JSON batch; `Err` is the error that ends the stream.
type DecodeJson<T> = fn(&JsonBatch, usize) -> Result<Result<T, RecordError>, RecordError>;

/// What the parser thread sends.
enum Chunk<T> {
    /// Records decoded on the parser thread (JSON), and the error that ends a stream (both layouts).
    Decoded(Vec<Result<T, RecordError>>),
    /// CSV records split into cells, decoded into `T` as the stream hands them out.
    Csv(CsvBatch),
    /// JSON elements' bytes, decoded into `T` as the stream hands them out.
    Json(JsonBatch),
}

enum State<T> {
    /// Not polled yet.
    Idle {
        reader: Source,
        format: ExportFormat,
        start: Start<T>,
    },
    /// The parser runs.
    Running(Running<T>),
    /// The parser closed the channel; its result tells whether it panicked.
    Joining(JoinHandle<()>),
    Done,
}

struct Running<T> {
    chunks: mpsc::Receiver<Chunk<T>>,
    current: Current<T>,
    decode: Decode<T>,
    /// Hands emptied CSV batches back to the parser, so their buffers are reused.
    recycle: std::sync::mpsc::Sender<CsvBatch>,
    decode_json: DecodeJson<T>,
    /// An element was found not to be JSON while decoding it: the stream ends after that error.
    ended: bool,
    parser: JoinHandle<()>,
}

/// The chunk being handed out.
enum Current<T> {
    Empty,
    Decoded(std::vec::IntoIter<Result<T, RecordError>>),
    Csv { batch: CsvBatch, next: usize },
    Json { batch: JsonBatch, next: usize },
}

// `Records` never pins its fields, so it is `Unpin` whatever `T` is.
impl<T> Unpin for Records<T> {}

impl<T> fmt::Debug for Records<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle { .. } => "not started",
            State::Running(_) => "running",
            State::Joining(_) => "finishing",
            State::Done => "done",
        };
        f.debug_struct("Records").field("state", &state).finish()
    }
}

impl<T> Stream for Records<T> {
    type Item = Result<T, RecordError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Idle { .. } => {
                    if let State::Idle {
                        reader,
                        format,
                        start,
                    } = std::mem::replace(&mut this.state, State::Done)
                    {
                        this.state = start(reader, format);
                    }
                }
                State::Running(running) => {
                    if let Some(item) = running.next_item() {
                        if running.ended {
                            // Dropping the channel stops the parser; joining it still resumes a
                            // panic of its own.
                            if let State::Running(running) =
                                std::mem::replace(&mut this.state, State::Done)
                            {
                                this.state = State::Joining(running.parser);
                            }
                        }
                        return Poll::Ready(Some(item));
                    }
                    match running.chunks.poll_recv(cx) {
                        Poll::Ready(Some(Chunk::Decoded(items))) => {
                            running.current = Current::Decoded(items.into_iter());
                        }
                        Poll::Ready(Some(Chunk::Csv(batch))) => {
                            running.current = Current::Csv { batch, next: 0 };
                        }
                        Poll::Ready(Some(Chunk::Json(batch))) => {
                            running.current = Current::Json { batch, next: 0 };
                        }
                        Poll::Ready(None) => {
                            if let State::Running(running) =
                                std::mem::replace(&mut this.state, State::Done)
                            {
                                this.state = State::Joining(running.parser);
                            }
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                State::Joining(parser) => {
                    let joined = futures::ready!(Pin::new(parser).poll(cx));
                    this.state = State::Done;
                    return match joined {
                        Ok(()) => Poll::Ready(None),
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        Err(_) => Poll::Ready(Some(Err(RecordError::Io(io::Error::other(
                            "the record parser was cancelled because the Tokio runtime is shutting down",
                        ))))),
                    };
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl<T> Running<T> {
    /// The next item of the current chunk, if any is left.
    fn next_item(&mut self) -> Option<Result<T, RecordError>> {
        match &mut self.current {
            Current::Empty => None,
            Current::Decoded(items) => items.next(),
            Current::Csv { batch, next } if *next < batch.len() => {
                let i = *next;
                *next += 1;
                Some((self.decode)(batch, i))
            }
            Current::Csv { .. } => {
                if let Current::Csv { batch, .. } =
                    std::mem::replace(&mut self.current, Current::Empty)
                {
                    // The parser may be gone; then the batch is simply dropped.
                    let _ = self.recycle.send(batch);
                }
                None
            }
            Current::Json { batch, next } if *next < batch.len() => {
                let i = *next;
                *next += 1;
                match (self.decode_json)(batch, i) {
                    Ok(item) => Some(item),
                    Err(error) => {
                        tracing::debug!(%error, "record stream ends on an error");
                        self.ended = true;
                        self.current = Current::Empty;
                        Some(Err(error))
                    }
                }
            }
            Current::Json { .. } => {
                self.current = Current::Empty;
                None
            }
        }
    }
}

impl<T> FusedStream for Records<T> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// Spawns the parser thread for `format` and returns the running state.
fn start_parser<T>(reader: Source, format: ExportFormat) -> State<T>
where
    T: DeserializeOwned + Send + 'static,
{
    let runtime = match Handle::try_current() {
        Ok(runtime) => runtime,
        Err(_) => panic!("mangrove::records::Records must be polled inside a Tokio runtime"),
    };
    let (tx, chunks) = mpsc::channel(CHANNEL);
    let (recycle, recycled) = std::sync::mpsc::channel();
    let (ahead, bytes) = mpsc::channel(READ_AHEAD);
    runtime.spawn(read_ahead(reader, ahead));
    let mut feed = Feed {
        bytes,
        pending: Bytes::new(),
        eof: false,
        runtime: runtime.clone(),
        tx,
        decoded: Vec::new(),
        csv: CsvBatch::default(),
        json: JsonBatch::default(),
        recycled,
    };
    let parser = runtime.spawn_blocking(move || match format {
        ExportFormat::Csv => run_csv(feed),
        ExportFormat::Json => run_json(feed),
        // A format this SDK does not know (`ExportFormat::Unknown`).
        other => feed.finish(Some(Stop::Fatal(RecordError::UnsupportedFormat {
            format: other.to_string(),
        }))),
    });
    State::Running(Running {
        chunks,
        current: Current::Empty,
        decode: decode_csv::<T>,
        recycle,
        decode_json: decode_json::<T>,
        ended: false,
        parser,
    })
}

// ---------------------------------------------------------------------------------------------------
// The parser thread's side: input and output.
// ---------------------------------------------------------------------------------------------------

/// Reads `reader` on the runtime, ahead of the parser, so that the parser finds bytes ready instead
/// of waiting a round trip to the runtime for each read (a download's body is fetched only when
/// asked for). An empty chunk marks the end of the input. Stops as soon as the parser is gone, even
/// while the input stalls.
async fn read_ahead(reader: Source, ahead: mpsc::Sender<io::Result<Bytes>>) {
    let mut chunks = tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK);
    loop {
        let next = tokio::select! {
            biased;
            () = ahead.closed() => return,
            next = chunks.next() => next,
        };
        let (item, last) = match next {
            Some(Ok(chunk)) => (Ok(chunk), false),
            Some(Err(e)) => (Err(e), true),
            None => (Ok(Bytes::new()), true),
        };
        if ahead.send(item).await.is_err() || last {
            return;
        }
    }
}

/// The parser thread's end of the pipe: reads the bytes read ahead and sends chunks of records.
struct Feed<T> {
    bytes: mpsc::Receiver<io::Result<Bytes>>,
    /// Bytes received and not handed to the parser yet.
    pending: Bytes,
    /// The end-of-input mark has arrived.
    eof: bool,
    runtime: Handle,
    tx: mpsc::Sender<Chunk<T>>,
    /// Pending decoded items (JSON records, and the error that ends the stream).
    decoded: Vec<Result<T, RecordError>>,
    /// Pending CSV records; sent before `decoded`.
    csv: CsvBatch,
    /// Pending JSON elements; sent before `decoded`, and never pending together with it.
    json: JsonBatch,
    recycled: std::sync::mpsc::Receiver<CsvBatch>,
}

/// The stream was dropped: the parser just stops.
#[derive(Debug)]
struct Closed;

/// Why the parser stops early.
enum Stop {
    /// The consumer is gone.
    Closed,
    /// The last item to send.
    Fatal(RecordError),
}

/// Reasons of our own to fail a read, carried inside `io::Error` through the `csv` reader.
#[derive(Debug)]
enum Halt {
    Closed,
    Oversize,
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Halt::Closed => f.write_str("the record stream was dropped"),
            Halt::Oversize => write!(f, "a record is larger than {MAX_RECORD_BYTES} bytes"),
        }
    }
}

impl StdError for Halt {}

impl<T> Feed<T> {
    /// Queues one decoded item, sending when the batch is full. `Err`: the stream was dropped.
    fn push(&mut self, item: Result<T, RecordError>) -> Result<(), Closed> {
        self.decoded.push(item);
        if self.decoded.len() >= BATCH {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Queues one CSV record, sending when the batch is full.
    fn push_csv(
        &mut self,
        headers: &Arc<[Box<str>]>,
        row: u64,
        record: &csv::ByteRecord,
    ) -> Result<(), Closed> {
        if self.csv.push(headers, row, record) {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Queues one decoded item and sends it, with the CSV records before it, right away.
    fn push_now(&mut self, item: Result<T, RecordError>) -> Result<(), Closed> {
        self.decoded.push(item);
        self.flush()
    }

    /// Takes what is pending, oldest first.
    fn take(&mut self) -> Option<Chunk<T>> {
        if !self.csv.is_empty() {
            let fresh = match self.recycled.try_recv() {
                Ok(mut batch) if batch.data.capacity() <= 2 * CSV_BATCH_BYTES => {
                    batch.clear();
                    batch
                }
                _ => CsvBatch::default(),
            };
            Some(Chunk::Csv(std::mem::replace(&mut self.csv, fresh)))
        } else if !self.json.is_empty() {
            let fresh = JsonBatch::with_capacity_of(&self.json);
            Some(Chunk::Json(std::mem::replace(&mut self.json, fresh)))
        } else if !self.decoded.is_empty() {
            Some(Chunk::Decoded(std::mem::replace(
                &mut self.decoded,
                Vec::with_capacity(BATCH),
            )))
        } else {
            None
        }
    }

    /// Sends everything pending, waiting for room in the channel.
    fn flush(&mut self) -> Result<(), Closed> {
        while let Some(chunk) = self.take() {
            self.tx.blocking_send(chunk).map_err(|_| Closed)?;
        }
        Ok(())
    }

    /// Sends what is pending if the channel has room right now (used when the input stalls).
    fn flush_if_room(&mut self) {
        // This thread is the only sender, so room seen here stays free until `try_send`.
        while self.tx.capacity() > 0 {
            let Some(chunk) = self.take() else {
                return;
            };
            if self.tx.try_send(chunk).is_err() {
                return;
            }
        }
    }

    /// Sends what is pending, then the error that ends the stream, if any.
    fn finish(&mut self, stop: Option<Stop>) {
        match stop {
            Some(Stop::Closed) => {
                tracing::trace!("record stream dropped; parser stops");
                return;
            }
            Some(Stop::Fatal(error)) => {
                tracing::debug!(%error, "record stream ends on an error");
                // `push` keeps the order: pending CSV records go first.
                self.decoded.push(Err(error));
            }
            None => {}
        }
        let _ = self.flush();
    }
}

impl<T> Read for Feed<T> {
    /// Reads without blocking when bytes are ready; otherwise sends the records parsed so far, then
    /// waits for bytes or for the stream to be dropped.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() && !self.eof && !buf.is_empty() {
            let next = match self.bytes.try_recv() {
                Ok(next) => Some(next),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    self.flush_if_room();
                    let Self {
                        bytes, runtime, tx, ..
                    } = self;
                    runtime.block_on(async {
                        tokio::select! {
                            biased;
                            next = bytes.recv() => Ok(next),
                            () = tx.closed() => Err(io::Error::other(Halt::Closed)),
                        }
                    })?
                }
            };
            match next {
                Some(Ok(chunk)) if chunk.is_empty() => self.eof = true,
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(e)) => return Err(e),
                // The task was cancelled (the runtime shuts down) or panicked.
                None => return Err(io::Error::other("the task reading the input stopped")),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        Ok(n)
    }
}

/// Sorts an error from the source into "stop quietly", "malformed" and "io".
fn io_stop(error: io::Error, row: u64) -> Stop {
    match error.get_ref().and_then(|e| e.downcast_ref::<Halt>()) {
        Some(Halt::Closed) => Stop::Closed,
        Some(Halt::Oversize) => Stop::Fatal(RecordError::Malformed {
            row,
            message: format!(
                "record {row} is larger than {} MiB, so the file is probably corrupt \
                 (for CSV, a quote that never closes); download it again",
                MAX_RECORD_BYTES >> 20
            ),
        }),
        None => Stop::Fatal(match error.downcast::<ExportError>() {
            Ok(e) => RecordError::Download(e),
            Err(e) => RecordError::Io(e),
        }),
    }
}

// ---------------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------------

/// Parses CSV records until the end of the file, an error that ends the stream, or the consumer
/// leaving.
fn run_csv<T: DeserializeOwned>(feed: Feed<T>) {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(CSV_BUFFER)
        .from_reader(CsvInput::new(feed));
    let stop = csv_records(&mut reader).err();
    reader.get_mut().feed.finish(stop);
}

fn csv_records<T: DeserializeOwned>(reader: &mut csv::Reader<CsvInput<T>>) -> Result<(), Stop> {
    let headers = match reader.byte_headers() {
        Ok(headers) => headers
            .iter()
            .enumerate()
            .map(|(i, name)| match std::str::from_utf8(name) {
                Ok(name) => Ok(Box::<str>::from(name)),
                Err(_) => Err(Stop::Fatal(RecordError::Malformed {
                    row: 0,
                    message: format!(
                        "the name of column {} in the header row is not UTF-8 text",
                        i + 1
                    ),
                })),
            })
            .collect::<Result<Arc<[_]>, _>>()?,
        Err(e) => return Err(csv_stop(e, 0, reader.get_ref())),
    };
    let end = reader.position().byte();
    reader.get_mut().check_record_end(end, 0)?;

    let mut record = csv::ByteRecord::new();
    let mut row: u64 = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_stop(e, row + 1, reader.get_ref())),
        }
        row += 1;
        let end = reader.position().byte();
        let input = reader.get_mut();
        input.check_record_end(end, row)?;
        let pushed = if record.as_slice().len() <= CSV_DECODE_IN_STREAM_MAX {
            input.feed.push_csv(&headers, row, &record)
        } else {
            // Too large to decode inside `poll_next` without holding up the executor.
            let mut single = CsvBatch::default();
            single.push(&headers, row, &record);
            input.feed.push_now(decode_csv::<T>(&single, 0))
        };
        pushed.map_err(|Closed| Stop::Closed)?;
    }
    let end = reader.position().byte();
    reader.get_mut().check_record_end(end, row + 1)
}

/// Turns a `csv` error into the item that ends the stream.
fn csv_stop<T>(error: csv::Error, row: u64, input: &CsvInput<T>) -> Stop {
    let at = match error.position() {
        Some(position) => format!(" (line {})", position.line()),
        None => String::new(),
    };
    let text = error.to_string();
    let message = match error.into_kind() {
        csv::ErrorKind::Io(e) => return io_stop(e, row),
        _ if input.ends_in_quotes() => {
            "the file ends inside a quoted cell, so the download is incomplete or corrupt; \
             download it again"
                .to_owned()
        }
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "the record has {len} cells but the header row has {expected_len}{at}; \
             a quote or comma is out of place, so the file is corrupt"
        ),
        _ => text,
    };
    Stop::Fatal(RecordError::Malformed { row, message })
}

/// The CSV parser's input: the feed, plus what is needed to tell a file cut inside a quoted cell (which
/// the `csv` crate accepts silently) and to bound the size of one record.
struct CsvInput<T> {
    feed: Feed<T>,
    quotes: QuoteState,
    /// Bytes handed to the `csv` reader.
    total: u64,
    /// Where the record being parsed starts.
    record_start: u64,
    eof: bool,
}

impl<T> CsvInput<T> {
    fn new(feed: Feed<T>) -> Self {
        Self {
            feed,
            quotes: QuoteState::FieldStart,
            total: 0,
            record_start: 0,
            eof: false,
        }
    }

    fn ends_in_quotes(&self) -> bool {
        self.eof && self.quotes == QuoteState::Quoted
    }

    /// Called after each record (and the header) ending at byte `end`. Only the last record can end at
    /// the end of the file; if the file ends inside a quoted cell, that record is cut short.
    fn check_record_end(&mut self, end: u64, row: u64) -> Result<(), Stop> {
        if end == self.total && self.ends_in_quotes() {
            return Err(Stop::Fatal(RecordError::Malformed {
                row,
                message: "the file ends inside a quoted cell, so the download is incomplete or \
                          corrupt; download it again"
                    .to_owned(),
            }));
        }
        self.record_start = end;
        Ok(())
    }
}

impl<T> Read for CsvInput<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.total - self.record_start > MAX_RECORD_BYTES as u64 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, Halt::Oversize));
        }
        let n = self.feed.read(buf)?;
        let mut chunk = &buf[..n];
        if self.total == 0 && chunk.starts_with(b"\xEF\xBB\xBF") {
            // The csv reader drops a byte order mark at the start, so must we.
            chunk = &chunk[3..];
        }
        self.quotes = self.quotes.advance(chunk);
        self.total += n as u64;
        self.eof = n == 0;
        Ok(n)
    }
}

/// Where a CSV byte stream stands with respect to quoting, following `csv-core`'s rules for the
/// default dialect (`"` quotes, doubled to escape; `,` separates; `\r` or `\n` ends a record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum QuoteState {
    /// At the start of a cell: a quote here opens a quoted cell.
    FieldStart,
    /// In an unquoted cell (or after a closing quote): quotes are plain text.
    Unquoted,
    /// In a quoted cell.
    Quoted,
    /// Just after a quote inside a quoted cell: closes it, unless another quote follows.
    QuoteInQuoted,
}

impl QuoteState {
    fn advance(mut self, bytes: &[u8]) -> Self {
        const BLOCK: usize = 64;
        let mut blocks = bytes.chunks_exact(BLOCK);
        for block in &mut blocks {
            // Most blocks have no quote at all; this test compiles to a few vector instructions.
            let has_quote = block.iter().fold(false, |seen, &b| seen | (b == b'"'));
            if has_quote || self == QuoteState::QuoteInQuoted {
                self = self.advance_bytes(block);
            } else if self != QuoteState::Quoted {
                self = match block[BLOCK - 1] {
                    b',' | b'\n' | b'\r' => QuoteState::FieldStart,
                    _ => QuoteState::Unquoted,
                };
            }
        }
        self.advance_bytes(blocks.remainder())
    }

    fn advance_bytes(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self = match (self, b) {
                (QuoteState::FieldStart, b'"') => QuoteState::Quoted,
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (_, b',' | b'\n' | b'\r') => QuoteState::FieldStart,
                _ => QuoteState::Unquoted,
            };
        }
        self
    }
}

/// A `serde` error while decoding one CSV record; the message names the column.
#[derive(Debug)]
struct CellError(String);

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for CellError {}

impl de::Error for CellError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        CellError(msg.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        CellError(format!(
            "the file has no column `{field}`; if it may be absent, make the field an `Option` \
             or give it `#[serde(default)]`"
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        CellError(format!(
            "column `{field}` is not a field of the type, which denies unknown fields \
             (its fields: {})",
            expected.join(", ")
        ))
    }
}

impl CellError {
    fn in_column(self, column: &str) -> Self {
        CellError(format!("column `{column}`: {}", self.0))
    }
}

/// CSV records split into cells, back to back: what the parser thread sends for CSV.
#[derive(Default)]
struct CsvBatch {
    headers: Arc<[Box<str>]>,
    /// Number of the first record.
    first_row: u64,
    /// The cells' bytes, without quotes or separators.
    data: Vec<u8>,
    /// End of each cell in `data`.
    cells: Vec<usize>,
    /// End of each record in `cells`.
    records: Vec<usize>,
}

impl CsvBatch {
    fn len(&self) -> usize {
        self.records.len()
    }

    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn clear(&mut self) {
        self.data.clear();
        self.cells.clear();
        self.records.clear();
    }

    /// Adds a record; returns whether the batch is full.
    fn push(&mut self, headers: &Arc<[Box<str>]>, row: u64, record: &csv::ByteRecord) -> bool {
        if self.records.is_empty() {
            if !Arc::ptr_eq(&self.headers, headers) {
                self.headers = Arc::clone(headers);
            }
            self.first_row = row;
        }
        let mut end = self.data.len();
        self.data.extend_from_slice(record.as_slice());
        for cell in record {
            end += cell.len();
            self.cells.push(end);
        }
        self.records.push(self.cells.len());
        self.records.len() >= BATCH || self.data.len() >= CSV_BATCH_BYTES
    }
}

/// Decodes record `i` of `batch` into `T`.
fn decode_csv<T: DeserializeOwned>(batch: &CsvBatch, i: usize) -> Result<T, RecordError> {
    let first_cell = if i == 0 { 0 } else { batch.records[i - 1] };
    let ends = &batch.cells[first_cell..batch.records[i]];
    let start = if first_cell == 0 {
        0
    } else {
        batch.cells[first_cell - 1]
    };
    let end = ends.last().copied().unwrap_or(start);
    let data = &batch.data[start..end];
    let cells = Cells {
        headers: batch.headers.iter(),
        ends: ends.iter(),
        base: start,
        at: 0,
        data,
        // One UTF-8 check for the whole record; cells whose bytes are not text are checked alone.
        text: std::str::from_utf8(data).ok(),
    };
    T::deserialize(RecordDeserializer(cells)).map_err(|e| RecordError::Row {
        row: batch.first_row + i as u64,
        message: e.0,
    })
}

/// The (column name, cell) pairs of one record.
struct Cells<'de> {
    headers: std::slice::Iter<'de, Box<str>>,
    ends: std::slice::Iter<'de, usize>,
    /// Offset of `data` in the batch.
    base: usize,
    /// Start of the next cell in `data`.
    at: usize,
    data: &'de [u8],
    text: Option<&'de str>,
}

impl<'de> Iterator for Cells<'de> {
    type Item = (&'de str, Cell<'de>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let column = self.headers.next()?;
        let end = self.ends.next()? - self.base;
        let from = std::mem::replace(&mut self.at, end);
        let cell = Cell {
            bytes: &self.data[from..end],
            text: self.text.and_then(|text| text.get(from..end)),
        };
        Some((column, cell))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.headers.len().min(self.ends.len());
        (n, Some(n))
    }
}

/// Deserializes one CSV record as a map from column name to cell (or as a sequence of cells).
struct RecordDeserializer<'de>(Cells<'de>);

impl<'de> de::Deserializer<'de> for RecordDeserializer<'de> {
    type Error = CellError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_map(RecordMap {
            cells: self.0,
            value: None,
        })
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_seq(RecordSeq(self.0))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct map struct enum identifier
    }
}

struct RecordMap<'de> {
    cells: Cells<'de>,
    value: Option<(&'de str, Cell<'de>)>,
}

impl<'de> de::MapAccess<'de> for RecordMap<'de> {
    type Error = CellError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CellError> {
        match self.cells.next() {
            Some((column, cell)) => {
                self.value = Some((column, cell));
                seed.deserialize(de::value::BorrowedStrDeserializer::new(column))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, CellError> {
        let (column, cell) = self
            .value
            .take()
            .ok_or_else(|| CellError("a cell was read before its column name".to_owned()))?;
        seed.deserialize(cell).map_err(|e| e.in_column(column))
    }

    fn size_hint(&self) -> Option<usize> {
        self.cells.size_hint().1
    }
}

struct RecordSeq<'de>(Cells<'de>);

impl<'de> de::SeqAccess<'de> for RecordSeq<'de> {
    type Error = CellError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, CellError> {
        match self.0.next() {
            Some((column, cell)) => seed
                .deserialize(cell)
                .map(Some)
                .map_err(|e| e.in_column(column)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint().1
    }
}

/// Empty sequences and maps, for empty cells.
struct Nothing;

impl<'de> de::SeqAccess<'de> for Nothing {
    type Error = CellError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        _seed: S,
    ) -> Result<Option<S::Value>, CellError> {
        Ok(None)
    }
}

impl<'de> de::MapAccess<'de> for Nothing {
    type Error = CellError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        _seed: K,
    ) -> Result<Option<K::Value>, CellError> {
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        _seed: V,
    ) -> Result<V::Value, CellError> {
        Err(CellError("a value was read from an empty cell".to_owned()))
    }
}

/// One CSV cell: its bytes, and the same as text if the record was checked to be UTF-8.
struct Cell<'de> {
    bytes: &'de [u8],
    text: Option<&'de str>,
}

impl<'de> Cell<'de> {
    #[inline]
    fn text(&self) -> Result<&'de str, CellError> {
        match self.text {
            Some(text) => Ok(text),
            None => std::str::from_utf8(self.bytes)
                .map_err(|_| CellError("the cell is not UTF-8 text".to_owned())),
        }
    }

    #[inline]
    fn number<N: std::str::FromStr>(&self, what: &str) -> Result<N, CellError> {
        let text = self.text()?;
        if text.is_empty() {
            return Err(CellError(format!(
                "the cell is empty but {what} is expected; use an `Option` field to accept empty cells"
            )));
        }
        text.parse()
            .map_err(|_| CellError(format!("expected {what}, found `{text}`")))
    }

    /// Hands the cell's JSON text to `serde_json`.
    fn json<V>(
        &self,
        what: &str,
        open: char,
        visit: impl FnOnce(
            &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
        ) -> Result<V, serde_json::Error>,
    ) -> Result<V, CellError> {
        let text = self.text()?;
        if !text.trim_start().starts_with(open) {
            return Err(CellError(format!(
                "expected {what} written as JSON, found `{text}`"
            )));
        }
        let mut de = serde_json::Deserializer::from_str(text);
        visit(&mut de)
            .and_then(|value| de.end().map(|()| value))
            .map_err(|e| CellError(format!("{e} in the cell's JSON text")))
    }
}

macro_rules! cell_numbers {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
                visitor.$visit(self.number::<$ty>($what)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Cell<'de> {
    type Error = CellError;

    /// Guesses the type from the text, for self-describing targets (`serde_json::Value`, untagged
    /// enums, flattened fields).
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        let bytes = self.bytes;
        match bytes {
            [] => return visitor.visit_none(),
            b"true" => return visitor.visit_bool(true),
            b"false" => return visitor.visit_bool(false),
            [b'[' | b'{', ..] => {
                let text = self.text()?;
                if serde_json::from_str::<IgnoredAny>(text).is_ok() {
                    let mut de = serde_json::Deserializer::from_str(text);
                    return de::Deserializer::deserialize_any(&mut de, visitor)
                        .map_err(|e| CellError(format!("{e} in the cell's JSON text")));
                }
            }
            _ => match json_number(bytes) {
                Some(Number::Integer) => {
                    let text = self.text()?;
                    if let Ok(n) = text.parse::<i64>() {
                        return visitor.visit_i64(n);
                    }
                    if let Ok(n) = text.parse::<u64>() {
                        return visitor.visit_u64(n);
                    }
                    if let Ok(n) = text.parse::<f64>() {
                        return visitor.visit_f64(n);
                    }
                }
                Some(Number::Float) => {
                    if let Ok(n) = self.text()?.parse::<f64>() {
                        return visitor.visit_f64(n);
                    }
                }
                None => {}
            },
        }
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        match self.bytes {
            b"true" => visitor.visit_bool(true),
            b"false" => visitor.visit_bool(false),
            [] => Err(CellError(
                "the cell is empty but `true` or `false` is expected; use an `Option` field to \
                 accept empty cells"
                    .to_owned(),
            )),
            _ => Err(CellError(format!(
                "expected `true` or `false`, found `{}`",
                String::from_utf8_lossy(self.bytes)
            ))),
        }
    }

    cell_numbers! {
        deserialize_i8 visit_i8 i8, "an integer (i8)";
        deserialize_i16 visit_i16 i16, "an integer (i16)";
        deserialize_i32 visit_i32 i32, "an integer (i32)";
        deserialize_i64 visit_i64 i64, "an integer (i64)";
        deserialize_i128 visit_i128 i128, "an integer (i128)";
        deserialize_u8 visit_u8 u8, "a non-negative integer (u8)";
        deserialize_u16 visit_u16 u16, "a non-negative integer (u16)";
        deserialize_u32 visit_u32 u32, "a non-negative integer (u32)";
        deserialize_u64 visit_u64 u64, "a non-negative integer (u64)";
        deserialize_u128 visit_u128 u128, "a non-negative integer (u128)";
        deserialize_f32 visit_f32 f32, "a number (f32)";
        deserialize_f64 visit_f64 f64, "a number (f64)";
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        let text = self.text()?;
        let mut chars = text.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => visitor.visit_char(c),
            _ => Err(CellError(format!(
                "expected a single character, found `{text}`"
            ))),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            visitor.visit_unit()
        } else {
            Err(CellError(format!(
                "expected an empty cell, found `{}`",
                String::from_utf8_lossy(self.bytes)
            )))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            return visitor.visit_seq(Nothing);
        }
        self.json("an array such as [\"a\",\"b\"]", '[', |de| {
            de::Deserializer::deserialize_seq(de, visitor)
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            return visitor.visit_seq(Nothing);
        }
        self.json("an array such as [1,2]", '[', |de| {
            de::Deserializer::deserialize_tuple(de, len, visitor)
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            return visitor.visit_seq(Nothing);
        }
        self.json("an array such as [1,2]", '[', |de| {
            de::Deserializer::deserialize_tuple_struct(de, name, len, visitor)
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            return visitor.visit_map(Nothing);
        }
        self.json("an object such as {\"key\":\"value\"}", '{', |de| {
            de::Deserializer::deserialize_map(de, visitor)
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CellError> {
        if self.bytes.is_empty() {
            return visitor.visit_map(Nothing);
        }
        self.json("an object such as {\"key\":\"value\"}", '{', |de| {
            de::Deserializer::deserialize_struct(de, name, fields, visitor)
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CellError> {
        if self.bytes.first() == Some(&b'{') {
            return self.json("an enum", '{', |de| {
                de::Deserializer::deserialize_enum(de, name, variants, visitor)
            });
        }
        visitor.visit_enum(de::value::BorrowedStrDeserializer::<CellError>::new(
            self.text()?,
        ))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CellError> {
        visitor.visit_unit()
    }
}

enum Number {
    Integer,
    Float,
}

/// Whether `text` is a number in JSON spelling (`-12`, `0.5`, `1e-3`; not `01`, `+1`, `.5`, `NaN`).
fn json_number(text: &[u8]) -> Option<Number> {
    fn digits(text: &[u8], mut i: usize) -> usize {
        while text.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    }
    let mut i = usize::from(text.first() == Some(&b'-'));
    match text.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(text, i + 1),
        _ => return None,
    }
    let mut kind = Number::Integer;
    if text.get(i) == Some(&b'.') {
        let end = digits(text, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
        kind = Number::Float;
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(text, i);
        if end == i {
            return None;
        }
        i = end;
        kind = Number::Float;
    }
    (i == text.len()).then_some(kind)
}

// ---------------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------------

/// Parses the elements of the file's JSON array until its end, an error that ends the stream, or the
/// consumer leaving.
fn run_json<T: DeserializeOwned>(feed: Feed<T>) {
    let mut input = JsonInput {
        feed,
        data: vec![0; JSON_BUFFER],
        start: 0,
        end: 0,
        offset: 0,
        eof: false,
    };
    let stop = json_records(&mut input).err();
    input.feed.finish(stop);
}

/// The JSON parser's input buffer. Each element is parsed from a slice of it, which is
/// `serde_json`'s fastest path; an element cut by the end of the buffer is parsed again once more
/// bytes are in.
struct JsonInput<T> {
    feed: Feed<T>,
    data: Vec<u8>,
    /// First byte not consumed yet.
    start: usize,
    /// End of the bytes read.
    end: usize,
    /// File offset of `data[0]`.
    offset: u64,
    eof: bool,
}

/// The outcome of parsing one element.
enum Parsed<V> {
    /// The value and the bytes it took.
    Value(V, usize),
    /// Not a `V`, or not JSON; the error's position is relative to `start`.
    Invalid(serde_json::Error),
}

impl<T> JsonInput<T> {
    fn available(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// Reads at least one more byte after the unread ones (unless the file ends), then whatever else
    /// is ready, until `wanted` more bytes are in or the buffer is full.
    fn fill(&mut self, wanted: usize, row: u64) -> Result<(), Stop> {
        if self.eof {
            return Ok(());
        }
        if self.start > 0 {
            self.data.copy_within(self.start..self.end, 0);
            self.offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.data.len() {
            if self.data.len() >= MAX_RECORD_BYTES {
                return Err(io_stop(
                    io::Error::new(io::ErrorKind::InvalidData, Halt::Oversize),
                    row,
                ));
            }
            let grown = (self.data.len() * 2).min(MAX_RECORD_BYTES);
            self.data.resize(grown, 0);
        }
        let target = self.end.saturating_add(wanted.max(1)).min(self.data.len());
        while self.end < target {
            match self.feed.read(&mut self.data[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_stop(e, row)),
            }
        }
        Ok(())
    }

    /// Skips whitespace and returns the next byte without consuming it; `None` at the end of the file.
    fn peek(&mut self, row: u64) -> Result<Option<u8>, Stop> {
        loop {
            let rest = self.available();
            match rest
                .iter()
                .position(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            {
                Some(i) => {
                    self.start += i;
                    return Ok(Some(self.data[self.start]));
                }
                None => {
                    self.start = self.end;
                    if self.eof {
                        return Ok(None);
                    }
                    self.fill(1, row)?;
                }
            }
        }
    }

    /// Parses one value starting at the next (non-whitespace) byte, reading more input as needed.
    fn parse<V: DeserializeOwned>(&mut self, row: u64) -> Result<Parsed<V>, Stop> {
        let mut attempts: u32 = 0;
        loop {
            let available = self.available();
            let self_delimited = matches!(available.first(), Some(b'{' | b'[' | b'"'));
            let mut values = serde_json::Deserializer::from_slice(available).into_iter::<V>();
            let retry = match values.next() {
                Some(Ok(value)) => {
                    let used = values.byte_offset();
                    // A number, `true`, `false` or `null` that touches the end of the buffer may
                    // go on in the next bytes.
                    if self_delimited || used < available.len() || self.eof {
                        return Ok(Parsed::Value(value, used));
                    }
                    true
                }
                Some(Err(e)) if e.is_eof() && !self.eof => true,
                // `IgnoredAny` reports a number cut by the end of the bytes (`12.`, `1e`, `-`) as
                // invalid, not as cut short: read on before judging.
                Some(Err(e)) if !self.eof && error_offset(available, &e) + 1 >= available.len() => {
                    true
                }
                Some(Err(e)) => return Ok(Parsed::Invalid(e)),
                None => !self.eof,
            };
            if !retry {
                return Err(self.truncated(row));
            }
            attempts += 1;
            // Re-parsing from the element's start costs little while elements are small next to the
            // reads; for a large element, read ahead in proportion so the total work stays linear.
            let wanted = if attempts > 4 {
                self.end - self.start
            } else {
                1
            };
            self.fill(wanted, row)?;
        }
    }

    fn truncated(&self, row: u64) -> Stop {
        Stop::Fatal(RecordError::Malformed {
            row,
            message: format!(
                "the file ends inside record {row} (after byte {}), so the download is \
                 incomplete; download it again",
                self.offset + self.end as u64
            ),
        })
    }

    /// The item for an element that is not JSON, at its start.
    fn syntax(&self, row: u64, error: &serde_json::Error) -> Stop {
        if error.is_eof() {
            return self.truncated(row);
        }
        let at = self.offset + (self.start + error_offset(self.available(), error)) as u64;
        Stop::Fatal(RecordError::Malformed {
            row,
            message: format!(
                "{} at byte {at}; the file is not a valid JSON array, so it is corrupt; \
                 download it again",
                error_message(error)
            ),
        })
    }

    fn unexpected(&self, row: u64, found: u8, wanted: &str) -> Stop {
        Stop::Fatal(RecordError::Malformed {
            row,
            message: format!(
                "expected {wanted} at byte {}, found `{}`; the file is not a valid JSON array, \
                 so it is corrupt; download it again",
                self.offset + self.start as u64,
                char::from(found).escape_default()
            ),
        })
    }
}

fn json_records<T: DeserializeOwned>(input: &mut JsonInput<T>) -> Result<(), Stop> {
    // A byte order mark is not JSON, but costs nothing to allow.
    while input.end < 3 && !input.eof {
        input.fill(3 - input.end, 0)?;
    }
    if input.available().starts_with(b"\xEF\xBB\xBF") {
        input.start += 3;
    }
    match input.peek(0)? {
        Some(b'[') => input.start += 1,
        Some(other) => return Err(input.unexpected(0, other, "the `[` that opens the array")),
        None => {
            return Err(Stop::Fatal(RecordError::Malformed {
                row: 0,
                message: "the file is empty, but a JSON array was expected; download it again"
                    .to_owned(),
            }))
        }
    }
    let mut row: u64 = 0;
    if input.peek(1)? == Some(b']') {
        input.start += 1;
    } else {
        loop {
            row += 1;
            if input.peek(row)?.is_none() {
                return Err(input.truncated(row));
            }
            // One pass finds the element's end and checks its syntax; it is decoded into `T` from
            // a copy of its bytes as the stream hands it out.
            let used = match input.parse::<IgnoredAny>(row)? {
                Parsed::Value(IgnoredAny, used) => used,
                Parsed::Invalid(error) => return Err(input.syntax(row, &error)),
            };
            let at = input.offset + input.start as u64;
            let element = &input.data[input.start..input.start + used];
            let pushed = if used <= JSON_DECODE_IN_STREAM_MAX {
                input.feed.push_json(row, at, element)
            } else {
                // A large element is decoded here, so that no single poll does much work.
                let item = decode_json_element::<T>(element, row, at).map_err(Stop::Fatal)?;
                input.feed.push_after_json(item)
            };
            pushed.map_err(|Closed| Stop::Closed)?;
            input.start += used;
            match input.peek(row + 1)? {
                Some(b',') => input.start += 1,
                Some(b']') => {
                    input.start += 1;
                    break;
                }
                Some(other) => return Err(input.unexpected(row + 1, other, "`,` or `]`")),
                None => return Err(input.truncated(row + 1)),
            }
        }
    }
    match input.peek(row + 1)? {
        None => Ok(()),
        Some(other) => Err(input.unexpected(
            row + 1,
            other,
            "nothing but whitespace after the `]` that closes the array",
        )),
    }
}

/// JSON elements' bytes, back to back: what the parser thread sends for JSON.
#[derive(Default)]
struct JsonBatch {
    /// Number of the first element.
    first_row: u64,
    data: Vec<u8>,
    /// End of each element in `data`.
    ends: Vec<usize>,
    /// File offset of each element.
    offsets: Vec<u64>,
}

impl JsonBatch {
    /// An empty batch sized like `full`.
    fn with_capacity_of(full: &JsonBatch) -> Self {
        JsonBatch {
            first_row: 0,
            data: Vec::with_capacity(full.data.len().min(JSON_BATCH_BYTES)),
            ends: Vec::with_capacity(BATCH),
            offsets: Vec::with_capacity(BATCH),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Adds an element; returns whether the batch is full.
    fn push(&mut self, row: u64, offset: u64, element: &[u8]) -> bool {
        if self.ends.is_empty() {
            self.first_row = row;
        }
        self.data.extend_from_slice(element);
        self.ends.push(self.data.len());
        self.offsets.push(offset);
        self.ends.len() >= BATCH || self.data.len() >= JSON_BATCH_BYTES
    }
}

impl<T> Feed<T> {
    /// Queues one JSON element, sending when the batch is full.
    fn push_json(&mut self, row: u64, offset: u64, element: &[u8]) -> Result<(), Closed> {
        if !self.decoded.is_empty() {
            self.flush()?;
        }
        if self.json.push(row, offset, element) {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Queues one decoded item after the JSON elements queued before it.
    fn push_after_json(&mut self, item: Result<T, RecordError>) -> Result<(), Closed> {
        if !self.json.is_empty() {
            self.flush()?;
        }
        self.push(item)
    }
}

/// Decodes element `i` of `batch` into `T`.
fn decode_json<T: DeserializeOwned>(
    batch: &JsonBatch,
    i: usize,
) -> Result<Result<T, RecordError>, RecordError> {
    let start = if i == 0 { 0 } else { batch.ends[i - 1] };
    decode_json_element(
        &batch.data[start..batch.ends[i]],
        batch.first_row + i as u64,
        batch.offsets[i],
    )
}

/// Decodes one element (whose syntax the parser checked) into `T`: `Ok(Err(_))` for an element that
/// does not fit `T`, `Err(_)` for one that is not JSON after all (say, a number out of range).
fn decode_json_element<T: DeserializeOwned>(
    element: &[u8],
    row: u64,
    offset: u64,
) -> Result<Result<T, RecordError>, RecordError> {
    match serde_json::from_slice::<T>(element) {
        Ok(value) => Ok(Ok(value)),
        Err(error) if error.classify() == serde_json::error::Category::Data => {
            Ok(Err(RecordError::Row {
                row,
                message: row_message::<T>(element, error),
            }))
        }
        Err(error) => {
            let at = offset + error_offset(element, &error) as u64;
            Err(RecordError::Malformed {
                row,
                message: format!(
                    "{} at byte {at}; the file is not a valid JSON array, so it is corrupt; \
                     download it again",
                    error_message(&error)
                ),
            })
        }
    }
}

/// `serde_json`'s message without its " at line L column C" suffix.
fn error_message(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// The offset in `text` of the byte at the line and column `serde_json` reports (both count from 1).
fn error_offset(text: &[u8], error: &serde_json::Error) -> usize {
    let mut line_start = 0;
    for _ in 1..error.line() {
        match text[line_start..].iter().position(|&b| b == b'\n') {
            Some(i) => line_start += i + 1,
            None => break,
        }
    }
    (line_start + error.column().saturating_sub(1)).min(text.len())
}

/// The message of a `Row` error for a JSON element, naming the field (found by a second pass with
/// `serde_path_to_error`, only for elements that do not decode).
fn row_message<T: DeserializeOwned>(element: &[u8], error: serde_json::Error) -> String {
    match crate::decode::find::<T>(element, error) {
        (path, message) if path == "." => message,
        (path, message) => format!("field `{path}`: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers() {
        for yes in ["0", "-0", "12", "-12", "1.5", "1e5", "1E+5", "-0.5e-3"] {
            assert!(json_number(yes.as_bytes()).is_some(), "{yes}");
        }
        for no in [
            "", "-", "01", "+1", ".5", "1.", "1e", "NaN", "1 ", "0x1", "12a",
        ] {
            assert!(json_number(no.as_bytes()).is_none(), "{no}");
        }
    }

    #[test]
    fn quote_state_matches_csv_core() {
        let cases: &[(&str, QuoteState)] = &[
            ("a,b\n", QuoteState::FieldStart),
            ("a,\"b", QuoteState::Quoted),
            ("a,\"b\"", QuoteState::QuoteInQuoted),
            ("a,\"b\"\"", QuoteState::Quoted),
            ("a,\"b\"\"\"", QuoteState::QuoteInQuoted),
            ("a,b\"c", QuoteState::Unquoted),
            ("a,\"b,\nc\"\n", QuoteState::FieldStart),
        ];
        for (text, want) in cases {
            assert_eq!(
                QuoteState::FieldStart.advance(text.as_bytes()),
                *want,
                "{text:?}"
            );
            // The same through the 64-byte fast path.
            let long = format!("{}\n{text}", "x".repeat(130));
            assert_eq!(
                QuoteState::FieldStart.advance(long.as_bytes()),
                *want,
                "{text:?}"
            );
        }
    }

    #[tokio::test]
    async fn json_row_errors_name_the_field() {
        use futures::StreamExt as _;
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Image {
            url: Option<String>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Row {
            id: u64,
            #[serde(default)]
            images: Vec<Image>,
        }
        let json: &[u8] =
            br#"[{"id":1,"images":[{"url":"a"},{"url":5}]}, {"id":"x"}, {"images":[]}, {"id":4}]"#;
        let items: Vec<_> = from_reader::<Row, _>(json, ExportFormat::Json)
            .collect()
            .await;
        let messages: Vec<String> = items
            .iter()
            .map(|item| match item {
                Ok(row) => format!("ok {}", row.id),
                Err(e) => e.to_string(),
            })
            .collect();
        assert_eq!(
            messages,
            [
                "record 1 does not match the Rust type: field `images[1].url`: invalid type: \
                 integer `5`, expected a string",
                "record 2 does not match the Rust type: field `id`: invalid type: string \"x\", \
                 expected u64",
                "record 3 does not match the Rust type: missing field `id`",
                "ok 4",
            ]
        );
    }

    /// An `AsyncRead` that hands out at most `step` bytes per read.
    struct Trickle {
        bytes: &'static [u8],
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.step.min(self.bytes.len()).min(buf.remaining());
            buf.put_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Poll::Ready(Ok(()))
        }
    }

    /// Numbers cut by the end of the bytes read so far (`12.`, `1e`, `-`) are read on, not taken
    /// for syntax errors, wherever the reads split the file.
    #[tokio::test]
    async fn json_numbers_cut_between_reads_are_read_on() {
        use futures::StreamExt as _;
        #[derive(Debug, serde::Deserialize)]
        struct Row {
            q: f64,
        }
        let json: &'static [u8] = br#"[{"q":12.5},{"q":-1e3},{"q":-0.25E-1},{"q":"x"},{"q":7}]"#;
        for step in 1..=7 {
            let items: Vec<_> =
                from_reader::<Row, _>(Trickle { bytes: json, step }, ExportFormat::Json)
                    .collect()
                    .await;
            let seen: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Ok(row) => format!("{}", row.q),
                    Err(e) => format!("row {:?} fatal {}", e.row(), e.is_fatal()),
                })
                .collect();
            assert_eq!(
                seen,
                ["12.5", "-1000", "-0.025", "row Some(4) fatal false", "7"],
                "reads of {step} bytes"
            );
        }
    }

    /// Elements larger than `JSON_DECODE_IN_STREAM_MAX` are decoded on the parser thread and keep
    /// their place among the others.
    #[tokio::test]
    async fn large_json_elements_keep_their_order() {
        use futures::StreamExt as _;
        #[derive(Debug, serde::Deserialize)]
        struct Row {
            id: u64,
            #[serde(default)]
            #[allow(dead_code)]
            text: String,
        }
        let big = "y".repeat(JSON_DECODE_IN_STREAM_MAX + 10);
        let json = format!(
            r#"[{{"id":1}},{{"id":2,"text":"{big}"}},{{"id":3}},{{"id":"x","text":"{big}"}},{{"id":5}}]"#
        );
        let items: Vec<_> = from_reader::<Row, _>(std::io::Cursor::new(json), ExportFormat::Json)
            .collect()
            .await;
        let seen: Vec<String> = items
            .iter()
            .map(|item| match item {
                Ok(row) => format!("{}", row.id),
                Err(e) => format!("row {:?} fatal {}", e.row(), e.is_fatal()),
            })
            .collect();
        assert_eq!(seen, ["1", "2", "3", "row Some(4) fatal false", "5"]);
    }

    /// An element that is JSON to the parser but not to the decoder (a number out of range) ends the
    /// stream with the byte it is at, as a syntax error does.
    #[tokio::test]
    async fn json_number_out_of_range_ends_the_stream() {
        use futures::StreamExt as _;
        #[derive(Debug, serde::Deserialize)]
        struct Row {
            #[allow(dead_code)]
            q: f64,
        }
        let json: &[u8] = br#"[{"q":1}, {"q":1e400}, {"q":2}]"#;
        let items: Vec<_> = from_reader::<Row, _>(json, ExportFormat::Json)
            .collect()
            .await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items[0].is_ok());
        let error = items[1].as_ref().unwrap_err();
        assert!(error.is_fatal());
        assert_eq!(
            error.to_string(),
            "the file is malformed at record 2: number out of range at byte 19; the file is not a \
             valid JSON array, so it is corrupt; download it again"
        );
    }

    /// Records whose bytes arrived come out while the input stalls, and dropping the stream then
    /// stops the parser and drops the input (its other end sees a broken pipe).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_arrive_before_a_stall_and_dropping_releases_the_input() {
        use futures::StreamExt as _;
        use std::time::Duration;
        use tokio::io::AsyncWriteExt as _;
        #[derive(Debug, serde::Deserialize)]
        struct Row {
            id: u64,
        }
        for (format, head) in [
            (ExportFormat::Csv, &b"id\n1\n2\n3\n"[..]),
            (
                ExportFormat::Json,
                &b"[{\"id\":1},{\"id\":2},{\"id\":3},"[..],
            ),
        ] {
            let (mut writer, reader) = tokio::io::duplex(1024);
            writer.write_all(head).await.unwrap();
            let mut stream = from_reader::<Row, _>(reader, format.clone());
            for want in 1..=2 {
                let row = tokio::time::timeout(Duration::from_secs(20), stream.next())
                    .await
                    .expect("a record whose bytes arrived comes out while the input stalls");
                assert_eq!(row.unwrap().unwrap().id, want, "{format:?}");
            }
            drop(stream);
            let released = tokio::time::timeout(Duration::from_secs(20), async {
                while writer.write_all(b"\n").await.is_ok() {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(released.is_ok(), "{format:?}: the input was not dropped");
        }
    }
}
