//! The read-ahead pipeline: a task reads the input's chunks ahead of the parser, the parser
//! thread frames them into batches of records, and the [`Records`](super::Records) stream decodes
//! the records of each batch as it hands them out.
//!
//! ```text
//! input ──chunks──▶ read_ahead (task) ──READ_AHEAD──▶ Feed (parser thread) ──CHANNEL──▶ Records
//! ```
//!
//! Both channels are bounded, so a slow consumer slows the parser, which slows the reading (and a
//! download's TCP window): memory stays bounded whatever the file's size.

use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures::stream::Stream;
use futures::{StreamExt as _, TryStreamExt as _};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::RecordError;

/// Records per batch, at most. The parser thread hands records to the stream a batch at a time:
/// one channel message (and one wake-up of the consuming task) per record would cost more than
/// framing the record itself. 1024 makes that cost negligible while the first records still
/// reach the consumer after a few KiB to a few hundred KiB of input.
const BATCH: usize = 1024;
/// Bytes of record data per batch, at most (besides [`BATCH`] records at most): with wide
/// records, 1024 of them could otherwise make a batch of many MiB. With [`CHANNEL`], this bounds
/// the memory between the parser and the consumer to a few MiB.
const BATCH_BYTES: usize = 1024 * 1024;
/// Batches in flight from the parser thread to the stream before the parser waits: enough that
/// the parser frames the next batches while the consumer decodes one (framing and decoding
/// overlap on two cores), and few enough to keep memory bounded ([`BATCH_BYTES`] each).
const CHANNEL: usize = 4;
/// Chunks read ahead of the parser, at most: 8 × [`READ_CHUNK`] = 512 KiB. The input (for a
/// download, the socket) keeps flowing while the parser works on a batch or waits for the
/// consumer, yet a consumer that stops reading stops the input soon after.
const READ_AHEAD: usize = 8;
/// Bytes per read from an [`AsyncRead`](tokio::io::AsyncRead) (a download's chunks come in the
/// sizes the HTTP client hands out instead): large enough that the cost per read is small, small
/// enough that a chunk is still in the CPU's cache when the parser reads it.
pub(super) const READ_CHUNK: usize = 64 * 1024;

/// The stream's end of the pipe: batches of records, then an empty batch (the end of the file)
/// or the error that ends the stream.
pub(super) type Batches = mpsc::Receiver<Result<Batch, RecordError>>;

/// Reads the chunks ahead of the parser; an empty chunk marks the end. Stops as soon as the parser
/// is gone, even while the input stalls.
async fn read_ahead<S>(chunks: S, ahead: mpsc::Sender<io::Result<Bytes>>)
where
    S: Stream<Item = io::Result<Bytes>>,
{
    // Empty chunks (which a reader may hand out) are dropped, since an empty chunk marks the end.
    let mut chunks =
        std::pin::pin!(chunks.try_filter(|chunk| std::future::ready(!chunk.is_empty())));
    loop {
        let next = tokio::select! {
            // Checked first: a dropped stream must not wait for a stalled input.
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

/// Records framed by the parser, their bytes back to back: a piece per CSV cell (quotes removed,
/// `""` made `"`) or per JSON element. One allocation per batch, not per record or cell.
#[derive(Default)]
pub(super) struct Batch {
    /// The number of the batch's first record.
    pub(super) first_row: u64,
    /// The CSV column names (shared by every batch of a file).
    pub(super) headers: Arc<[Box<str>]>,
    pub(super) data: Vec<u8>,
    /// End of each piece in `data`.
    pub(super) ends: Vec<usize>,
    /// End of each record in `ends`.
    pub(super) records: Vec<usize>,
}

impl Batch {
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Adds a record, its pieces back to back in `data` with their `ends`, after those already
    /// put in `self.data` and `self.ends` (with no pieces: a record split there); returns whether
    /// the batch is full.
    pub(super) fn push(&mut self, row: u64, data: &[u8], ends: &[usize]) -> bool {
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
    pub(super) fn record(&self, i: usize) -> (&[usize], usize) {
        let first = if i == 0 { 0 } else { self.records[i - 1] };
        let start = if first == 0 { 0 } else { self.ends[first - 1] };
        (&self.ends[first..self.records[i]], start)
    }
}

/// The parser thread's end of the pipe: bytes in, batches of records out.
pub(super) struct Feed {
    bytes: mpsc::Receiver<io::Result<Bytes>>,
    /// Bytes received and not framed yet.
    pub(super) pending: Bytes,
    /// The input has ended (all of it is in `pending`, or was framed).
    pub(super) eof: bool,
    runtime: Handle,
    tx: mpsc::Sender<Result<Batch, RecordError>>,
    /// The records framed and not sent yet.
    pub(super) batch: Batch,
}

impl Feed {
    /// Starts reading `chunks` ahead on `runtime`; returns the parser's end of the pipe and the
    /// stream's.
    pub(super) fn start<S>(chunks: S, runtime: &Handle) -> (Feed, Batches)
    where
        S: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        let (tx, batches) = mpsc::channel(CHANNEL);
        let (ahead, bytes) = mpsc::channel(READ_AHEAD);
        runtime.spawn(read_ahead(chunks, ahead));
        (Feed::new(bytes, runtime.clone(), tx), batches)
    }

    fn new(
        bytes: mpsc::Receiver<io::Result<Bytes>>,
        runtime: Handle,
        tx: mpsc::Sender<Result<Batch, RecordError>>,
    ) -> Feed {
        Feed {
            bytes,
            pending: Bytes::new(),
            eof: false,
            runtime,
            tx,
            batch: Batch::default(),
        }
    }

    /// Sends the records framed so far and then the end of the file or the error that ended the
    /// framing. Nothing is sent if the stream is gone.
    pub(super) fn finish(mut self, result: Result<(), RecordError>) {
        if self.send(true).is_ok() {
            let _ = self.tx.blocking_send(result.map(|()| Batch::default()));
        }
    }

    /// Sends the pending records, waiting for room if `wait`; `Err` once the stream is dropped
    /// (which stops the parser).
    pub(super) fn send(&mut self, wait: bool) -> Result<(), RecordError> {
        if self.batch.records.is_empty() || (!wait && self.tx.capacity() == 0) {
            return Ok(());
        }
        // The next batch presized like this one: a file's batches are alike, so this saves the
        // vectors' regrowth (measured: a few % of CSV throughput).
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
    /// records parsed so far (so that they reach the consumer while the input stalls), then
    /// waits.
    pub(super) fn fill(&mut self) -> Result<&[u8], RecordError> {
        use RecordError::{Download, Io};
        while self.pending.is_empty() && !self.eof {
            let next = match self.bytes.try_recv() {
                Err(mpsc::error::TryRecvError::Empty) => {
                    let _ = self.send(false);
                    let Self {
                        bytes, runtime, tx, ..
                    } = self;
                    let dropped = || Some(Err(io::Error::other("the record stream was dropped")));
                    // Waits for bytes, or for the stream to be dropped: a parser must not outlive
                    // its stream while the input stalls.
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
    pub(super) fn skip_bom(&mut self) -> Result<(), RecordError> {
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

/// What the framing of a file gave, for the framing's unit tests.
#[cfg(test)]
#[derive(Debug)]
pub(super) struct Framed {
    pub(super) headers: Vec<String>,
    /// Each record's number and pieces (cells or the JSON element), as text.
    pub(super) records: Vec<(u64, Vec<String>)>,
    /// The framing's end: `Ok` at the end of the file, or the error's text.
    pub(super) end: Result<(), String>,
}

/// Frames `chunks` (the input's reads, in order) with `parse`, as the parser thread does, and
/// collects what it sends.
#[cfg(test)]
pub(super) fn frame(
    chunks: &[&[u8]],
    parse: impl FnOnce(&mut Feed) -> Result<(), RecordError>,
) -> Framed {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    // All the input and its end are queued up front, so `fill` never waits on the runtime; the
    // batch channel has room for all the batches, so `send` never waits for a consumer.
    let (ahead, bytes) = mpsc::channel(chunks.len() + 1);
    let end: &[u8] = b"";
    for chunk in chunks.iter().copied().chain([end]) {
        ahead
            .try_send(Ok(Bytes::copy_from_slice(chunk)))
            .expect("room");
    }
    let (tx, mut batches) = mpsc::channel(1024);
    let mut feed = Feed::new(bytes, runtime.handle().clone(), tx);
    let result = feed.skip_bom().and_then(|()| parse(&mut feed));
    feed.finish(result);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let (mut headers, mut records) = (Vec::new(), Vec::new());
    loop {
        match batches.try_recv().expect("an end") {
            Ok(batch) if batch.len() == 0 => {
                let end = Ok(());
                return Framed {
                    headers,
                    records,
                    end,
                };
            }
            Ok(batch) => {
                headers = batch.headers.iter().map(|h| h.to_string()).collect();
                for i in 0..batch.len() {
                    let (ends, mut start) = batch.record(i);
                    let pieces = ends.iter().map(|&end| {
                        let piece = text(&batch.data[start..end]);
                        start = end;
                        piece
                    });
                    records.push((batch.first_row + i as u64, pieces.collect()));
                }
            }
            Err(e) => {
                let end = Err(e.to_string());
                return Framed {
                    headers,
                    records,
                    end,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_records_back_to_back() {
        let mut batch = Batch::default();
        assert!(!batch.push(7, b"abcd", &[1, 4]));
        assert!(!batch.push(8, b"", &[0]));
        // Pieces put in `data` and `ends` first, then pushed as a record with none of its own.
        batch.data.extend_from_slice(b"xy");
        batch.ends.push(batch.data.len());
        assert!(!batch.push(9, &[], &[]));
        assert_eq!(batch.first_row, 7);
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.record(0), (&[1, 4][..], 0));
        assert_eq!(batch.record(1), (&[4][..], 4));
        assert_eq!(batch.record(2), (&[6][..], 4));
    }

    #[test]
    fn a_batch_is_full_at_batch_records_or_batch_bytes() {
        let mut batch = Batch::default();
        assert!((1..BATCH).all(|i| !batch.push(i as u64, b"x", &[1])));
        assert!(batch.push(BATCH as u64, b"x", &[1]));
        let mut batch = Batch::default();
        assert!(!batch.push(1, &vec![b'x'; BATCH_BYTES - 1], &[BATCH_BYTES - 1]));
        assert!(batch.push(2, b"x", &[1]));
    }

    #[test]
    fn a_byte_order_mark_is_skipped_even_split_across_chunks() {
        let pieces = |feed: &mut Feed| -> Result<(), RecordError> {
            let mut all = Vec::new();
            while !feed.fill()?.is_empty() {
                all.extend_from_slice(&feed.pending);
                feed.pending.clear();
            }
            feed.batch.push(1, &all, &[all.len()]);
            Ok(())
        };
        for chunks in [
            &[&b"\xEF\xBB\xBFab"[..]][..],
            &[b"\xEF", b"\xBB", b"\xBFab"],
            &[b"\xEF\xBB", b"\xBFa", b"b"],
            &[b"ab"],
        ] {
            assert_eq!(frame(chunks, pieces).records, [(1, vec!["ab".to_owned()])]);
        }
        // Not a whole mark: kept.
        let framed = frame(&[b"\xEF\xBB", b"a"], pieces);
        assert_eq!(framed.records[0].1[0].as_bytes(), "\u{FFFD}a".as_bytes());
    }
}
