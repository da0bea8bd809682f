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

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::stream::{FusedStream, Stream};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer as _, IgnoredAny, Visitor};
use serde_json::de::StrRead;
use tokio::io::AsyncRead;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::io::ReaderStream;

use crate::error::ExportError;
use crate::ExportFormat;

const BATCH: usize = 1024;
const BATCH_BYTES: usize = 1024 * 1024;
const CHANNEL: usize = 4;
const READ_AHEAD: usize = 8;
const READ_CHUNK: usize = 64 * 1024;
const JSON_BUFFER: usize = 256 * 1024;
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

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
    from_chunks(ReaderStream::with_capacity(reader, READ_CHUNK), format)
}

/// [`from_reader`] over the chunks of a download, parsed where they are.
pub(crate) fn from_chunks<T, S>(chunks: S, format: ExportFormat) -> Records<T>
where
    T: DeserializeOwned + Send + 'static,
    S: Stream<Item = io::Result<Bytes>> + Send + 'static,
{
    let runtime = Handle::current();
    let (tx, batches) = mpsc::channel(CHANNEL);
    let (ahead, bytes) = mpsc::channel(READ_AHEAD);
    runtime.spawn(read_ahead(chunks, ahead));
    let mut feed = Feed {
        bytes,
        pending: Bytes::new(),
        eof: false,
        runtime: runtime.clone(),
        tx,
        batch: Batch::default(),
    };
    let decode = match format {
        ExportFormat::Json => decode_json::<T>,
        _ => decode_csv::<T>,
    };
    runtime.spawn_blocking(move || {
        let result = feed.skip_bom().and_then(|()| match format {
            ExportFormat::Csv => csv_records(&mut feed),
            ExportFormat::Json => json_records(&mut feed),
            other => Err(RecordError::UnsupportedFormat {
                format: other.to_string(),
            }),
        });
        if feed.send(true).is_ok() {
            let _ = feed.tx.blocking_send(result.map(|()| Batch::default()));
        }
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
    /// Batches, then an empty batch or the error that ends the stream; `None` once ended.
    batches: Option<mpsc::Receiver<Result<Batch, RecordError>>>,
    batch: Batch,
    next: usize,
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

/// Reads the chunks ahead of the parser; an empty chunk marks the end. Stops as soon as the parser
/// is gone, even while the input stalls.
async fn read_ahead<S>(chunks: S, ahead: mpsc::Sender<io::Result<Bytes>>)
where
    S: Stream<Item = io::Result<Bytes>>,
{
    let mut chunks =
        std::pin::pin!(chunks.try_filter(|chunk| std::future::ready(!chunk.is_empty())));
    loop {
        let next = tokio::select! {
            biased;
            () = ahead.closed() => return,
            next = chunks.next() => next.unwrap_or(Ok(Bytes::new())),
        };
        let last = next.as_ref().map_or(true, Bytes::is_empty);
        if ahead.send(next).await.is_err() || last {
            return;
        }
    }
}

/// Records split by the parser, bytes back to back: a piece per CSV cell (unquoted) or JSON element.
#[derive(Default)]
struct Batch {
    first_row: u64,
    /// The CSV column names.
    headers: Arc<[Box<str>]>,
    data: Vec<u8>,
    /// End of each piece in `data`.
    ends: Vec<usize>,
    /// End of each record in `ends`.
    records: Vec<usize>,
}

impl Batch {
    fn len(&self) -> usize {
        self.records.len()
    }

    /// Adds a record, its pieces back to back in `data` with their `ends`, after those already
    /// put in `self.data` and `self.ends` (with no pieces: a record split there); returns whether
    /// the batch is full.
    fn push(&mut self, row: u64, data: &[u8], ends: &[usize]) -> bool {
        if self.records.is_empty() {
            self.first_row = row;
        }
        let base = self.data.len();
        self.data.extend_from_slice(data);
        self.ends.extend(ends.iter().map(|end| base + end));
        self.records.push(self.ends.len());
        self.records.len() >= BATCH || self.data.len() >= BATCH_BYTES
    }

    /// The piece ends of record `i`, and where it starts in `data`.
    fn record(&self, i: usize) -> (&[usize], usize) {
        let first = if i == 0 { 0 } else { self.records[i - 1] };
        let start = if first == 0 { 0 } else { self.ends[first - 1] };
        (&self.ends[first..self.records[i]], start)
    }
}

/// The parser thread's end of the pipe: bytes in, batches of records out.
struct Feed {
    bytes: mpsc::Receiver<io::Result<Bytes>>,
    pending: Bytes,
    eof: bool,
    runtime: Handle,
    tx: mpsc::Sender<Result<Batch, RecordError>>,
    batch: Batch,
}

impl Feed {
    /// Sends the pending records, waiting for room if `wait`; `Err` once the stream is dropped.
    fn send(&mut self, wait: bool) -> Result<(), RecordError> {
        if self.batch.records.is_empty() || (!wait && self.tx.capacity() == 0) {
            return Ok(());
        }
        let fresh = Batch {
            headers: Arc::clone(&self.batch.headers),
            data: Vec::with_capacity(self.batch.data.len().min(BATCH_BYTES)),
            ends: Vec::with_capacity(self.batch.ends.len()),
            records: Vec::with_capacity(BATCH),
            ..Batch::default()
        };
        let batch = Ok(std::mem::replace(&mut self.batch, fresh));
        if wait {
            let dropped = || RecordError::Io(io::Error::other("the record stream was dropped"));
            self.tx.blocking_send(batch).map_err(|_| dropped())
        } else {
            // The only sender: the room seen above is still free.
            let _ = self.tx.try_send(batch);
            Ok(())
        }
    }

    /// The bytes ready to parse, empty at the end of the file. When none are ready, sends the
    /// records parsed so far, then waits.
    fn fill(&mut self) -> Result<&[u8], RecordError> {
        use RecordError::{Download, Io};
        while self.pending.is_empty() && !self.eof {
            let next = match self.bytes.try_recv() {
                Err(mpsc::error::TryRecvError::Empty) => {
                    let _ = self.send(false);
                    let Self {
                        bytes, runtime, tx, ..
                    } = self;
                    let dropped = || Some(Err(io::Error::other("the record stream was dropped")));
                    runtime.block_on(async {
                        tokio::select! {
                            biased;
                            next = bytes.recv() => next,
                            () = tx.closed() => dropped(),
                        }
                    })
                }
                next => next.ok(),
            };
            let stopped = || Err(io::Error::other("the task reading the input stopped"));
            match next.unwrap_or_else(stopped) {
                Ok(chunk) if chunk.is_empty() => self.eof = true,
                Ok(chunk) => self.pending = chunk,
                // A download's own error is `Download`, any other `Io`.
                Err(e) => return Err(e.downcast().map_or_else(Io, Download)),
            }
        }
        Ok(&self.pending)
    }

    /// Skips a leading byte order mark, even one split across chunks.
    fn skip_bom(&mut self) -> Result<(), RecordError> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        while self.pending.len() < BOM.len() && BOM.starts_with(&self.pending) && !self.eof {
            let head = std::mem::take(&mut self.pending);
            let next = self.fill()?;
            self.pending = [&head[..], next].concat().into();
        }
        if self.pending.starts_with(BOM) {
            self.pending.advance(BOM.len());
        }
        Ok(())
    }
}

fn malformed(row: u64, message: impl Into<String>) -> RecordError {
    RecordError::Malformed {
        row,
        message: message.into(),
    }
}

const OVERSIZE: &str =
    "the record is larger than 64 MiB, so the file is probably corrupt (for CSV, \
    a quote that never closes); download it again";
const CUT_IN_QUOTES: &str =
    "the file ends inside a quoted cell, so the download is incomplete or corrupt; download it again";

/// Reads the header as record 0, then the data records: those [`split_plain`] vouches for in bulk,
/// any other one at a time with `csv-core`.
fn csv_records(feed: &mut Feed) -> Result<(), RecordError> {
    use csv_core::ReadRecordResult::{End, InputEmpty, OutputEndsFull, OutputFull, Record};
    let mut parser = csv_core::Reader::new();
    let (mut out, mut ends) = (vec![0; 4096], vec![0; 64]);
    // At the end of the file the parser gets a line break, then nothing: the line break ends the
    // last record unless a quoted cell is still open (`csv-core` would hand out the cut record).
    let mut last_line_break: &[u8] = b"\n";
    let (mut row, mut lines) = (0u64, 0u64);
    loop {
        while row > 0 {
            feed.fill()?;
            let (used, used_lines, full) = split_plain(&feed.pending, &mut feed.batch, &mut row);
            lines += used_lines;
            feed.pending.advance(used);
            if full {
                feed.send(true)?;
            } else if !feed.pending.is_empty() || feed.eof {
                break;
            }
        }
        let line = lines + parser.line();
        let (mut outlen, mut endlen) = (0, 0);
        loop {
            let input = match feed.fill()? {
                [] => last_line_break,
                input => input,
            };
            let at_end = input.is_empty();
            let (result, nin, nout, nend) =
                parser.read_record(input, &mut out[outlen..], &mut ends[endlen..]);
            if feed.pending.is_empty() {
                last_line_break = &last_line_break[nin..];
            } else {
                feed.pending.advance(nin);
            }
            (outlen, endlen) = (outlen + nout, endlen + nend);
            match result {
                InputEmpty => {}
                OutputFull | OutputEndsFull if outlen + endlen * 8 >= MAX_RECORD_BYTES => {
                    return Err(malformed(row, OVERSIZE))
                }
                OutputFull => out.resize(out.len() * 2, 0),
                OutputEndsFull => ends.resize(ends.len() * 2, 0),
                Record if at_end => return Err(malformed(row, CUT_IN_QUOTES)),
                Record => break,
                End => return Ok(()),
            }
        }
        let (data, ends) = (&out[..outlen], &ends[..endlen]);
        if row == 0 {
            let mut start = 0;
            let names = ends.iter().map(|&end| {
                let name = std::str::from_utf8(&data[start..end]).map(Into::into);
                start = end;
                name
            });
            feed.batch.headers = names
                .collect::<Result<_, _>>()
                .map_err(|_| malformed(0, "a column name in the header row is not UTF-8 text"))?;
        } else if ends.len() != feed.batch.headers.len() {
            return Err(malformed(
                row,
                format!(
                    "the record has {} cells but the header row has {} (line {line}); a quote \
                     or comma is out of place, so the file is corrupt",
                    ends.len(),
                    feed.batch.headers.len()
                ),
            ));
        } else if feed.batch.push(row, data, ends) {
            feed.send(true)?;
        }
        row += 1;
    }
}

/// Splits the records at the start of `input` that have as many cells as `batch` has columns and
/// plain quoting, 64 bytes at a time and exactly as `csv-core` would, into `batch` (numbering them
/// from `row`). Stops before a record it cannot vouch for (a quote inside an unquoted cell, text
/// after a closing quote, another cell count, one cut by the end of `input`), which `csv-core`
/// reads next, or when the batch is full. Returns the bytes and line breaks used, and whether full.
/// Line breaks before a record are used in any case, so its line number is where it starts.
fn split_plain(input: &[u8], batch: &mut Batch, row: &mut u64) -> (usize, u64, bool) {
    let (mut start, mut lines) = line_breaks(input);
    let (mut from, mut at, mut used_lines) = (start, start, lines);
    // Where the record being split starts in `batch`.
    let (mut first_end, mut first_data) = (batch.ends.len(), batch.data.len());
    // Carried from the block before: inside quotes, ended by a separator, by a closing quote.
    let (mut quoted, mut after_sep, mut after_close) = (0u64, 1u64, 0u64);
    'blocks: while at + 64 <= input.len() {
        let block = &input[at..at + 64];
        let (quotes, breaks) = (mask(block, b'"'), mask(block, b'\n'));
        let seps = mask(block, b',') | breaks | mask(block, b'\r');
        // Bit i: an odd number of quotes up to byte i, so bytes inside quotes and opening quotes.
        let inside = [1, 2, 4, 8, 16, 32].iter().fold(quotes, |x, n| x ^ x << n) ^ quoted;
        let close = quotes & !inside;
        let (prev_sep, prev_close) = (seps << 1 | after_sep, close << 1 | after_close);
        let bad = (quotes & inside & !(prev_sep | prev_close)) | (prev_close & !(seps | quotes));
        let cuts = seps & !inside;
        // Dropped: separators, and quotes but the second of each `""`; only those before `bad`.
        let literal = quotes & inside & prev_close;
        let mut dropped = (cuts | quotes & !literal) & (bad & bad.wrapping_neg()).wrapping_sub(1);
        while dropped != 0 {
            let bit = dropped.trailing_zeros() as usize;
            dropped &= dropped - 1;
            let p = at + bit;
            batch.data.extend_from_slice(&input[from..p]);
            from = p + 1;
            if cuts >> bit & 1 == 0 {
                continue;
            }
            batch.ends.push(batch.data.len());
            if input[p] == b',' {
                continue;
            }
            let full = match batch.ends.len() - first_end {
                // An empty line, which `csv-core` skips.
                1 if p == start => batch.ends.pop().is_none(),
                cells if cells != batch.headers.len() => break 'blocks,
                _ => {
                    *row += 1;
                    batch.push(*row - 1, &[], &[])
                }
            };
            (start, first_end, first_data) = (p + 1, batch.ends.len(), batch.data.len());
            used_lines = lines + u64::from((breaks & u64::MAX >> (63 - bit)).count_ones());
            if full {
                return (start, used_lines, true);
            }
        }
        if bad != 0 {
            break;
        }
        lines += u64::from(breaks.count_ones());
        (quoted, after_sep, after_close) = ((inside as i64 >> 63) as u64, seps >> 63, close >> 63);
        at += 64;
    }
    batch.ends.truncate(first_end);
    batch.data.truncate(first_data);
    let (breaks, lines) = line_breaks(&input[start..]);
    (start + breaks, used_lines + lines, false)
}

/// The length of the line breaks that `input` starts with (empty lines, which `csv-core` skips),
/// and how many `\n` they hold.
fn line_breaks(input: &[u8]) -> (usize, u64) {
    let len = input.iter().position(|b| !matches!(b, b'\n' | b'\r'));
    let len = len.unwrap_or(input.len());
    let lines = memchr::memchr_iter(b'\n', &input[..len]).count();
    (len, lines as u64)
}

/// Bit i set where byte i of the 64-byte `block` is `byte`: SSE2 on x86_64, else a loop.
fn mask(block: &[u8], byte: u8) -> u64 {
    #[cfg(target_arch = "x86_64")]
    use std::arch::x86_64::*;
    let mut mask = 0;
    for (i, part) in block.chunks_exact(16).enumerate() {
        // SAFETY: `part` is 16 readable bytes; SSE2 is part of every x86_64 target.
        #[cfg(target_arch = "x86_64")]
        let bits = unsafe {
            let part = _mm_loadu_si128(part.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(part, _mm_set1_epi8(byte as i8))) as u16
        };
        #[cfg(not(target_arch = "x86_64"))]
        let bits = (part.iter().rev()).fold(0, |bits, &b| bits << 1 | u16::from(b == byte));
        mask |= u64::from(bits) << (16 * i);
    }
    mask
}

/// A `serde` error while decoding one CSV record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct CellError(String);

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
}

/// Decodes CSV record `i` of `batch` into `T`, as a map from column name to cell.
fn decode_csv<T: DeserializeOwned>(batch: &Batch, i: usize) -> Result<T, RecordError> {
    let (ends, start) = batch.record(i);
    let data = &batch.data[start..ends.last().copied().unwrap_or(start)];
    let record = RecordMap {
        headers: batch.headers.iter(),
        ends: ends.iter(),
        base: start,
        at: 0,
        data,
        // One UTF-8 check for the whole record; if it fails, each cell is checked alone.
        text: std::str::from_utf8(data).ok(),
        column: "",
    };
    T::deserialize(de::value::MapAccessDeserializer::new(record)).map_err(|e| RecordError::Row {
        row: batch.first_row + i as u64,
        message: e.0,
    })
}

/// The (column name, cell) pairs of one record.
struct RecordMap<'de> {
    headers: std::slice::Iter<'de, Box<str>>,
    ends: std::slice::Iter<'de, usize>,
    /// Offset of `data` in the batch.
    base: usize,
    /// Start of the next cell in `data`.
    at: usize,
    data: &'de [u8],
    text: Option<&'de str>,
    column: &'de str,
}

impl<'de> de::MapAccess<'de> for RecordMap<'de> {
    type Error = CellError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, CellError> {
        let Some(column) = self.headers.next() else {
            return Ok(None);
        };
        self.column = column;
        seed.deserialize(de::value::BorrowedStrDeserializer::new(column))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, CellError> {
        let end = self.ends.next().map_or(self.at, |end| end - self.base);
        let from = std::mem::replace(&mut self.at, end);
        let cell = Cell {
            bytes: &self.data[from..end],
            text: self.text.and_then(|text| text.get(from..end)),
        };
        seed.deserialize(cell)
            .map_err(|e| CellError(format!("column `{}`: {}", self.column, e.0)))
    }
}

/// One CSV cell, and the same as text if the record was checked to be UTF-8.
struct Cell<'de> {
    bytes: &'de [u8],
    text: Option<&'de str>,
}

impl<'de> Cell<'de> {
    fn text(&self) -> Result<&'de str, CellError> {
        match self.text {
            Some(text) => Ok(text),
            None => std::str::from_utf8(self.bytes)
                .map_err(|_| CellError("the cell is not UTF-8 text".to_owned())),
        }
    }

    fn parse<N: std::str::FromStr>(&self, what: &str) -> Result<N, CellError> {
        let text = self.text()?;
        if text.is_empty() {
            return Err(CellError(format!(
                "the cell is empty but {what} is expected; use an `Option` field to accept empty cells"
            )));
        }
        text.parse()
            .map_err(|_| CellError(format!("expected {what}, found `{text}`")))
    }

    /// Decodes the cell's JSON text, which must open with `open`; empty is `[]` or `{}`.
    fn json<V: Visitor<'de>>(self, open: char, visitor: V) -> Result<V::Value, CellError> {
        let text = match self.bytes {
            [] if open == '[' => "[]",
            [] => "{}",
            _ => self.text()?,
        };
        if !text.trim_start().starts_with(open) {
            return Err(CellError(format!(
                "expected JSON text opening with `{open}`, found `{text}`"
            )));
        }
        from_json(text, |de| de.deserialize_any(visitor))
    }
}

/// Decodes a cell's JSON text with `serde_json`, by `read`.
fn from_json<'de, T>(
    text: &'de str,
    read: impl FnOnce(&mut serde_json::Deserializer<StrRead<'de>>) -> serde_json::Result<T>,
) -> Result<T, CellError> {
    let mut de = serde_json::Deserializer::from_str(text);
    read(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| CellError(format!("{e} in the cell's JSON text")))
}

type Out<'de, V> = Result<<V as Visitor<'de>>::Value, CellError>;
type Fields = &'static [&'static str];

/// Methods that read the cell as another method does.
macro_rules! forward {
    ($($method:ident($($arg:ty),*) => $target:ident;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $(_: $arg,)* v: V) -> Out<'de, V> {
                self.$target(v)
            }
        )*
    };
}

macro_rules! cell_values {
    ($($method:ident $visit:ident $ty:ty, $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
                v.$visit(self.parse::<$ty>($what)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Cell<'de> {
    type Error = CellError;

    /// Guesses the type from the text (`serde_json::Value`, untagged enums, flattened fields).
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        let bytes = self.bytes;
        let json = matches!(
            bytes.first(),
            Some(b'[' | b'{' | b'-' | b'0'..=b'9' | b't' | b'f')
        ) && !bytes.last().is_some_and(u8::is_ascii_whitespace)
            && serde_json::from_slice::<IgnoredAny>(bytes).is_ok();
        match bytes {
            [] => v.visit_none(),
            _ if json => from_json(self.text()?, |de| de.deserialize_any(v)),
            _ => v.visit_borrowed_str(self.text()?),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        match self.bytes {
            [] => v.visit_none(),
            _ => v.visit_some(self),
        }
    }

    cell_values! {
        deserialize_bool visit_bool bool, "`true` or `false`";
        deserialize_char visit_char char, "a single character";
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

    forward! {
        deserialize_string() => deserialize_str;
        deserialize_identifier() => deserialize_str;
        deserialize_byte_buf() => deserialize_bytes;
        deserialize_unit_struct(&'static str) => deserialize_unit;
        deserialize_tuple(usize) => deserialize_seq;
        deserialize_tuple_struct(&'static str, usize) => deserialize_seq;
        deserialize_struct(&'static str, Fields) => deserialize_map;
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        v.visit_borrowed_str(self.text()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        v.visit_borrowed_bytes(self.bytes)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        match self.bytes {
            [] => v.visit_unit(),
            bytes => Err(CellError(format!(
                "expected an empty cell, found `{}`",
                String::from_utf8_lossy(bytes)
            ))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &str, v: V) -> Out<'de, V> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        self.json('[', v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        self.json('{', v)
    }

    /// A unit variant by name, others as JSON text.
    fn deserialize_enum<V>(self, name: &'static str, variants: Fields, v: V) -> Out<'de, V>
    where
        V: Visitor<'de>,
    {
        match self.bytes.first() {
            Some(b'{') => from_json(self.text()?, |de| de.deserialize_enum(name, variants, v)),
            _ => v.visit_enum(de::value::BorrowedStrDeserializer::new(self.text()?)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Out<'de, V> {
        v.visit_unit()
    }
}

/// The JSON parser's input buffer; an element cut by its end is parsed again once more bytes are in.
struct JsonInput<'a> {
    feed: &'a mut Feed,
    data: Vec<u8>,
    /// First byte not consumed yet.
    start: usize,
    end: usize,
    /// File offset of `data[0]`.
    offset: u64,
}

impl JsonInput<'_> {
    /// Reads at least `wanted` more bytes (unless the file ends) or until the buffer is full.
    fn fill(&mut self, wanted: usize, row: u64) -> Result<(), RecordError> {
        if self.feed.eof {
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
                return Err(malformed(row, OVERSIZE));
            }
            let grown = (self.data.len() * 2).min(MAX_RECORD_BYTES);
            self.data.resize(grown, 0);
        }
        let target = self.end.saturating_add(wanted.max(1)).min(self.data.len());
        while self.end < target {
            let ready = self.feed.fill()?;
            if ready.is_empty() {
                break;
            }
            let n = ready.len().min(self.data.len() - self.end);
            self.data[self.end..self.end + n].copy_from_slice(&ready[..n]);
            self.feed.pending.advance(n);
            self.end += n;
        }
        Ok(())
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn peek(&mut self, row: u64) -> Result<Option<u8>, RecordError> {
        loop {
            match self.data[self.start..self.end]
                .iter()
                .position(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
            {
                Some(i) => {
                    self.start += i;
                    return Ok(Some(self.data[self.start]));
                }
                None if self.feed.eof => return Ok(None),
                None => {
                    self.start = self.end;
                    self.fill(1, row)?;
                }
            }
        }
    }

    /// Checks the syntax of the value at `start`, reading more input as needed; returns its length.
    fn element(&mut self, row: u64) -> Result<usize, RecordError> {
        let mut attempts: u32 = 0;
        loop {
            let available = &self.data[self.start..self.end];
            let mut values =
                serde_json::Deserializer::from_slice(available).into_iter::<IgnoredAny>();
            match values.next() {
                Some(Ok(IgnoredAny)) => {
                    let used = values.byte_offset();
                    // A number, `true`, `false` or `null` may go on in the next bytes.
                    let self_delimited = matches!(available.first(), Some(b'{' | b'[' | b'"'));
                    if self_delimited || used < available.len() || self.feed.eof {
                        return Ok(used);
                    }
                }
                // `IgnoredAny` reports a number cut by the end of the bytes (`12.`, `1e`, `-`) as
                // invalid, not as cut short: read on before judging.
                Some(Err(e))
                    if !self.feed.eof
                        && (e.is_eof() || error_offset(available, &e) + 1 >= available.len()) => {}
                Some(Err(e)) if e.is_eof() => return Err(self.truncated(row)),
                Some(Err(e)) => {
                    let at = self.start + error_offset(available, &e);
                    let message = e.to_string();
                    let message = message.rsplit_once(" at line ").map_or(&*message, |m| m.0);
                    return Err(self.corrupt(row, message, at));
                }
                None if self.feed.eof => return Err(self.truncated(row)),
                None => {}
            }
            attempts += 1;
            // For a large element, read ahead in proportion so the total work stays linear.
            let wanted = if attempts > 4 {
                self.end - self.start
            } else {
                1
            };
            self.fill(wanted, row)?;
        }
    }

    fn truncated(&self, row: u64) -> RecordError {
        malformed(
            row,
            format!(
                "the file ends inside record {row} (after byte {}), so the download is \
                 incomplete; download it again",
                self.offset + self.end as u64
            ),
        )
    }

    fn unexpected(&self, row: u64, found: Option<u8>, wanted: &str) -> RecordError {
        let found = match found {
            Some(byte) => format!("`{}`", char::from(byte).escape_default()),
            None => "the end of the file".to_owned(),
        };
        self.corrupt(
            row,
            &format!("expected {wanted}, found {found}"),
            self.start,
        )
    }

    /// The error for invalid JSON at `data[at]`.
    fn corrupt(&self, row: u64, message: &str, at: usize) -> RecordError {
        let at = self.offset + at as u64;
        malformed(
            row,
            format!(
                "{message} at byte {at}; the file is not a valid JSON array, so it is corrupt; \
                 download it again"
            ),
        )
    }
}

fn json_records(feed: &mut Feed) -> Result<(), RecordError> {
    let input = &mut JsonInput {
        feed,
        data: vec![0; JSON_BUFFER],
        start: 0,
        end: 0,
        offset: 0,
    };
    match input.peek(0)? {
        Some(b'[') => input.start += 1,
        other => return Err(input.unexpected(0, other, "the `[` that opens the array")),
    }
    let mut row: u64 = 0;
    if input.peek(1)? != Some(b']') {
        loop {
            row += 1;
            let used = input.element(row)?;
            let element = &input.data[input.start..input.start + used];
            if input.feed.batch.push(row, element, &[element.len()]) {
                input.feed.send(true)?;
            }
            input.start += used;
            match input.peek(row + 1)? {
                Some(b',') => input.start += 1,
                Some(b']') => break,
                Some(other) => return Err(input.unexpected(row + 1, Some(other), "`,` or `]`")),
                None => return Err(input.truncated(row + 1)),
            }
        }
    }
    input.start += 1;
    match input.peek(row + 1)? {
        None => Ok(()),
        other => Err(input.unexpected(
            row + 1,
            other,
            "nothing but whitespace after the `]` that closes the array",
        )),
    }
}

/// Decodes JSON element `i` of `batch` into `T`; the error names the field.
fn decode_json<T: DeserializeOwned>(batch: &Batch, i: usize) -> Result<T, RecordError> {
    let (ends, start) = batch.record(i);
    let element = &batch.data[start..ends[0]];
    serde_json::from_slice(element).map_err(|error| RecordError::Row {
        row: batch.first_row + i as u64,
        message: match crate::decode::find::<T>(element, error) {
            (path, message) if path == "." => message,
            (path, message) => format!("field `{path}`: {message}"),
        },
    })
}

/// The offset in `text` of the byte at the line and column `serde_json` reports (both count from 1).
fn error_offset(text: &[u8], error: &serde_json::Error) -> usize {
    let line_start = match error.line() {
        0 | 1 => 0,
        line => memchr::memchr_iter(b'\n', text)
            .nth(line - 2)
            .map_or(text.len(), |i| i + 1),
    };
    (line_start + error.column().saturating_sub(1)).min(text.len())
}
