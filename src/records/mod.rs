//! Typed record streams over the bytes of an export file.
//!
//! [`from_reader`] turns any [`AsyncRead`] holding a Mangrove export (CSV or JSON) into a [`Records`]
//! stream of `T` in bounded memory (8 chunks read ahead, 4 batches of 1024 records split on a
//! blocking thread). Records already read come out while the input stalls; dropping the stream
//! stops all work.
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
//! **JSON**: one array of objects, `[ {…}, {…} ]`, read an element at a time. A leading byte order
//! mark is skipped in either format.
//!
//! # Errors
//!
//! [`RecordError::Row`] (a well-formed record that does not decode into `T`) is followed by the next
//! record; every other error ends the stream ([`RecordError::is_fatal`]): a broken file
//! ([`Malformed`](RecordError::Malformed), including a file cut short and a record over 64 MiB), a
//! failed read ([`Io`](RecordError::Io)) or download ([`Download`](RecordError::Download)). Record
//! numbers ([`RecordError::row`]) count data records from 1 (not the CSV header); 0 means before the
//! first record. A panic in `T`'s `Deserialize` happens in the task that polls the stream.

// How the work is divided (one concept per file):
//
// * `mod.rs` (this file): the public API: `from_reader`, the `Records` stream, `RecordError`.
// * `pipeline.rs`: the read-ahead task, the batches, and the parser thread's end of the pipe.
// * `csv.rs`: CSV framing: the header, then each record's cells (with `csv-core`).
// * `cell.rs`: the serde deserializer that reads a CSV record's cells as the type asked for.
// * `json.rs`: JSON framing: each element of the top-level array, and its decoding into `T`.
//
// Framing (finding where each record and cell starts and ends) runs on a blocking thread, away
// from the runtime's workers; decoding a record into `T` runs in the task that polls the stream,
// so that `T`'s allocations are made and (most likely) freed on one thread, and a panic in `T`'s
// `Deserialize` reaches the caller.

mod cell;
mod csv;
mod json;
mod pipeline;

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::stream::{FusedStream, Stream};
use serde::de::DeserializeOwned;
use tokio::io::AsyncRead;
use tokio::runtime::Handle;
use tokio_util::io::ReaderStream;

use crate::error::ExportError;
use crate::ExportFormat;

use pipeline::{Batch, Feed};

/// The largest record accepted, in bytes (a CSV record's cells, or a JSON element).
///
/// It stops a broken file from making the parser buffer the whole rest of it: a CSV quote that
/// never closes, or a JSON `[` or `{` that never does, would otherwise make one "record" of
/// everything after it (an export is up to 500 MB). Real records are a few KiB at most (a project
/// with its images and documents as JSON text), so 64 MiB leaves them a wide margin while keeping
/// a broken file's cost bounded.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// The message for a record over [`MAX_RECORD_BYTES`].
const OVERSIZE: &str =
    "the record is larger than 64 MiB, so the file is probably corrupt (for CSV, \
    a quote that never closes); download it again";

/// Why an item of a [`Records`] stream is not a record (see the [module docs](self#errors)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record is well-formed but does not decode into `T`.
    #[error("record {row} does not match the Rust type: {message}")]
    Row {
        /// The record's number.
        row: u64,
        /// What did not match, naming the CSV column or JSON field.
        message: String,
    },
    /// The file is broken (bad CSV structure, invalid JSON, cut short).
    #[error("the file is malformed at record {row}: {message}")]
    Malformed {
        /// The number of the record being read.
        row: u64,
        /// What is wrong and where.
        message: String,
    },
    /// Reading the bytes failed.
    #[error("reading the export failed: {0}")]
    Io(#[from] io::Error),
    /// Downloading the export failed ([`CompletedExport::records`](crate::CompletedExport::records)).
    #[error("downloading the export failed: {0}")]
    Download(#[source] ExportError),
    /// The format is neither CSV nor JSON; the stream holds only this error.
    #[error("cannot read records of format `{format}` (only csv and json)")]
    UnsupportedFormat {
        /// The format as named.
        format: String,
    },
}

impl RecordError {
    /// The record number the error is about, if any.
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

    /// Whether the stream ends after this error (all but `Row`).
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Self::Row { .. })
    }
}

/// A [`RecordError::Malformed`] about record `row`.
fn malformed(row: u64, message: impl Into<String>) -> RecordError {
    RecordError::Malformed {
        row,
        message: message.into(),
    }
}

/// Streams the records of an export file read from `reader`, on either flavour of Tokio runtime.
///
/// # Panics
///
/// Outside a Tokio runtime.
pub fn from_reader<T, R>(reader: R, format: ExportFormat) -> Records<T>
where
    T: DeserializeOwned + Send + 'static,
    R: AsyncRead + Send + Unpin + 'static,
{
    from_chunks(
        ReaderStream::with_capacity(reader, pipeline::READ_CHUNK),
        format,
    )
}

/// [`from_reader`] over the chunks of a download, parsed where they are (no copy into a read
/// buffer of our own).
pub(crate) fn from_chunks<T, S>(chunks: S, format: ExportFormat) -> Records<T>
where
    T: DeserializeOwned + Send + 'static,
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let runtime = Handle::current();
    let (mut feed, batches) = Feed::start(chunks, &runtime);
    // Chosen here, once, so that the stream holds a plain function pointer (no `T` bound on the
    // parser thread's side, which only frames records).
    let decode = match format {
        ExportFormat::Json => json::decode::<T>,
        _ => cell::decode::<T>,
    };
    // A blocking thread: framing is CPU work on a whole file, which must not hold up a runtime
    // worker; it waits for bytes with `block_on` on the runtime's handle.
    runtime.spawn_blocking(move || {
        let result = feed.skip_bom().and_then(|()| match format {
            ExportFormat::Csv => csv::records(&mut feed),
            ExportFormat::Json => json::records(&mut feed),
            other => Err(RecordError::UnsupportedFormat {
                format: other.to_string(),
            }),
        });
        feed.finish(result);
    });
    Records {
        batches: Some(batches),
        batch: Batch::default(),
        next: 0,
        decode,
    }
}

/// A stream of typed records from an export file, made by [`from_reader`].
///
/// # Example
///
/// ```
/// use futures::StreamExt;
/// use mangrove::records::{self, RecordError};
/// use mangrove::ExportFormat;
///
/// #[derive(serde::Deserialize)]
/// struct Project {
///     id: i64,
///     credit_types: Vec<String>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RecordError> {
/// let csv: &[u8] = b"id,credit_types\n1,\"[\"\"removal\"\"]\"\noops,\n3,[]\n";
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
/// assert_eq!(good[0].credit_types, ["removal"]);
/// # Ok(())
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Records<T> {
    /// Batches, then an empty batch (the end) or the error that ends the stream; `None` once
    /// ended.
    batches: Option<pipeline::Batches>,
    /// The batch being handed out, and the index of its next record.
    batch: Batch,
    next: usize,
    /// Decodes record `i` of a batch into `T`.
    decode: fn(&Batch, usize) -> Result<T, RecordError>,
}

impl<T> fmt::Debug for Records<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records").finish_non_exhaustive()
    }
}

impl<T> Stream for Records<T> {
    type Item = Result<T, RecordError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        while this.next == this.batch.len() {
            let Some(batches) = &mut this.batches else {
                return Poll::Ready(None);
            };
            let end = match futures::ready!(batches.poll_recv(cx)) {
                Some(Ok(batch)) if batch.len() > 0 => {
                    (this.batch, this.next) = (batch, 0);
                    continue;
                }
                Some(Ok(_)) => None,
                Some(Err(error)) => Some(error),
                // The parser thread always sends an end or an error before it stops, unless it
                // panicked: never end silently as if the file were complete.
                None => Some(RecordError::Io(io::Error::other(
                    "the record parser stopped before the end of the file",
                ))),
            };
            this.batches = None;
            if let Some(error) = &end {
                tracing::debug!(%error, "record stream ends on an error");
            }
            return Poll::Ready(end.map(Err));
        }
        this.next += 1;
        Poll::Ready(Some((this.decode)(&this.batch, this.next - 1)))
    }
}

impl<T> FusedStream for Records<T> {
    fn is_terminated(&self) -> bool {
        self.batches.is_none() && self.next >= self.batch.len()
    }
}
