//! JSON framing: the elements of the file's top-level array, found with one `serde_json` pass
//! each (into `IgnoredAny`, which checks the syntax and allocates nothing), then decoded into `T`
//! by the stream.
//!
//! The parser thread only finds where each element ends and sends its bytes; the stream decodes
//! them into `T` as it hands them out (measured: about 1.8× the records per second of decoding on
//! the parser thread, since `T`'s allocations are then made and freed on one thread).

use bytes::Buf;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::pipeline::{Batch, Feed};
use super::{malformed, RecordError, MAX_RECORD_BYTES, OVERSIZE};

/// The first size of the JSON parser's window on the input. It holds many elements of a usual
/// export (a few hundred bytes to a few KiB each), so that an element is rarely cut by the
/// window's end and parsed twice; it doubles for a larger element, up to [`MAX_RECORD_BYTES`].
const JSON_BUFFER: usize = 256 * 1024;

/// Attempts to parse an element, after each of which the window grows by a byte or so, before it
/// grows by as much as the element already holds. A number or a short element cut by the
/// window's end needs a few more bytes; a large one, parsed again from its start after each
/// read, would make the work quadratic in its size: reading ahead in proportion keeps it linear.
const SMALL_READS: u32 = 4;

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
            let wanted = if attempts > SMALL_READS {
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

/// Frames the elements of the top-level array as records, numbered from 1; the array must be
/// the file's only value.
pub(super) fn records(feed: &mut Feed) -> Result<(), RecordError> {
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
pub(super) fn decode<T: DeserializeOwned>(batch: &Batch, i: usize) -> Result<T, RecordError> {
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

#[cfg(test)]
mod tests {
    use super::super::pipeline::{frame, Framed};
    use super::*;

    /// `text` framed in reads of `chunk` bytes.
    fn json(text: &str, chunk: usize) -> Framed {
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(chunk.max(1)).collect();
        frame(&chunks, records)
    }

    /// Each element's text; whitespace before an element is kept with it (`serde_json` skips it
    /// when decoding), so it is trimmed here.
    fn elements(framed: &Framed) -> Vec<&str> {
        framed
            .records
            .iter()
            .map(|(_, e)| e[0].trim_start())
            .collect()
    }

    #[test]
    fn elements_are_framed_whatever_the_reads() {
        let text = " [ {\"a\": [1, {\"b\": \"]\"}]} ,\n 12.5e3, \"x\\\"y\", true, null, [] ] \n";
        for chunk in [1, 2, 3, 7, 1000] {
            let framed = json(text, chunk);
            let want = [
                "{\"a\": [1, {\"b\": \"]\"}]}",
                "12.5e3",
                "\"x\\\"y\"",
                "true",
                "null",
                "[]",
            ];
            assert_eq!(elements(&framed), want, "chunk {chunk}");
            assert_eq!(framed.records[0].0, 1);
            assert_eq!(framed.end, Ok(()));
        }
    }

    #[test]
    fn an_empty_array_has_no_records() {
        for text in ["[]", " [ \n ] ", "\u{FEFF}[]"] {
            let framed = json(text, 1);
            assert!(framed.records.is_empty());
            assert_eq!(framed.end, Ok(()), "{text:?}");
        }
    }

    #[test]
    fn a_number_cut_between_reads_is_read_on() {
        for chunk in 1..8 {
            assert_eq!(
                elements(&json("[123456, -1.5e10]", chunk)),
                ["123456", "-1.5e10"]
            );
        }
    }

    #[test]
    fn cuts_are_incomplete_downloads() {
        for (text, row) in [
            ("[{\"a\": 1}, {\"a\"", 2),
            ("[1, 2", 3),
            ("[1,", 2),
            ("", 0),
            ("[", 1),
        ] {
            for chunk in [1, 100] {
                let framed = json(text, chunk);
                let end = framed.end.expect_err("cut");
                assert!(
                    end.contains(&format!("at record {row}"))
                        && (end.contains("download is incomplete")
                            || end.contains("end of the file")),
                    "{text:?}: {end}"
                );
            }
        }
    }

    #[test]
    fn syntax_errors_name_the_byte() {
        let cases = [
            ("{\"a\": 1}", "expected the `[` that opens the array, found `{` at byte 0"),
            ("[1 2]", "expected `,` or `]`, found `2` at byte 3"),
            ("[1]x", "expected nothing but whitespace after the `]` that closes the array, found `x` at byte 3"),
            ("[\n {\"a\": tru}]", "expected ident at byte 12"),
        ];
        for (text, want) in cases {
            let end = json(text, 2).end.expect_err("invalid");
            assert!(
                end.contains(want) && end.contains("not a valid JSON array"),
                "{text:?}: {end}"
            );
        }
    }

    #[test]
    fn error_offsets_count_lines_and_columns_from_1() {
        let text = b"[1,\n  2,\n  x]";
        let error = serde_json::from_slice::<serde_json::Value>(text).expect_err("invalid");
        assert_eq!((error.line(), error.column()), (3, 3));
        assert_eq!(error_offset(text, &error), 11);
        assert_eq!(text[11], b'x');
        // A line the text does not have: the end.
        let later = serde_json::from_slice::<serde_json::Value>(b"\n\n\nx").expect_err("invalid");
        assert_eq!(error_offset(b"[1", &later), 2);
    }
}
