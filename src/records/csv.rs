//! CSV framing: the header row, then each data record's cells, checked against the header's
//! column count. `csv-core` does the RFC 4180 parsing, fed the input's chunks where they are.
//!
//! Why `csv-core` alone: a bulk splitter (64-byte blocks, SSE2 bit masks, `unsafe`) framed the
//! plainly quoted records in front of it for a while. Measured on and off side by side in the
//! same runs (interleaved rounds), it made network → structs 14.7 % faster (median of 27 rounds'
//! ratios; 16 % best against best, 8 % median against median) and the in-memory decode 1-11 %:
//! not the clear 15 % that its code and its risk had to earn. Framing runs on its own thread, in
//! parallel with decoding the cells into `T`, which bounds the throughput.

use std::sync::Arc;

use bytes::Buf;

use super::pipeline::Feed;
use super::{malformed, RecordError, MAX_RECORD_BYTES, OVERSIZE};

/// The first sizes of `csv-core`'s output buffers (a record's cells, and where each ends); they
/// double for a larger record, up to [`MAX_RECORD_BYTES`].
const FIRST_CELLS_BYTES: usize = 4096;
const FIRST_CELLS: usize = 64;

const CUT_IN_QUOTES: &str =
    "the file ends inside a quoted cell, so the download is incomplete or corrupt; download it again";

/// Frames the header as record 0, then the data records, one at a time with `csv-core`.
pub(super) fn records(feed: &mut Feed) -> Result<(), RecordError> {
    use csv_core::ReadRecordResult::{End, InputEmpty, OutputEndsFull, OutputFull, Record};
    let mut parser = csv_core::Reader::new();
    let (mut out, mut ends) = (vec![0; FIRST_CELLS_BYTES], vec![0; FIRST_CELLS]);
    // At the end of the file the parser gets a line break, then nothing: the line break ends the
    // last record unless a quoted cell is still open (`csv-core` would hand out the cut record).
    let mut last_line_break: &[u8] = b"\n";
    // `row` numbers the record being framed (the header is 0); `lines` counts the line breaks
    // skipped before records, which `csv-core`'s own line count does not see.
    let (mut row, mut lines) = (0u64, 0u64);
    loop {
        // The line where the record starts, for the error messages: the line breaks before it
        // (the end of a CRLF, empty lines) are skipped first, as `csv-core` would skip them
        // while reading the record, after its line count is taken.
        lines += skip_line_breaks(feed)?;
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
                // A cell end counts as the 8 bytes it takes, so a record of millions of empty
                // cells is capped too.
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
            feed.batch.headers = header(data, ends)?;
        } else if ends.len() != feed.batch.headers.len() {
            return Err(cell_count(row, line, ends.len(), feed.batch.headers.len()));
        } else if feed.batch.push(row, data, ends) {
            feed.send(true)?;
        }
        row += 1;
    }
}

/// Skips the line breaks at the start of the input (empty lines, or the `\n` of a CRLF whose
/// `\r` ended the record before), across reads; returns how many `\n` they held.
fn skip_line_breaks(feed: &mut Feed) -> Result<u64, RecordError> {
    let mut lines = 0;
    while !feed.fill()?.is_empty() {
        let (len, breaks) = line_breaks(&feed.pending);
        lines += breaks;
        feed.pending.advance(len);
        if !feed.pending.is_empty() {
            break;
        }
    }
    Ok(lines)
}

/// The length of the line breaks that `input` starts with, and how many `\n` they hold.
fn line_breaks(input: &[u8]) -> (usize, u64) {
    let len = input.iter().position(|b| !matches!(b, b'\n' | b'\r'));
    let len = len.unwrap_or(input.len());
    let lines = memchr::memchr_iter(b'\n', &input[..len]).count();
    (len, lines as u64)
}

/// The column names of the header row, its cells back to back in `data` ending at `ends`.
///
/// A name that is not UTF-8 is an error, not a column silently dropped (its cells would be lost).
fn header(data: &[u8], ends: &[usize]) -> Result<Arc<[Box<str>]>, RecordError> {
    let mut start = 0;
    let names = ends.iter().map(|&end| {
        let name = std::str::from_utf8(&data[start..end]).map(Into::into);
        start = end;
        name
    });
    names
        .collect::<Result<_, _>>()
        .map_err(|_| malformed(0, "a column name in the header row is not UTF-8 text"))
}

/// The error for record `row`, starting on `line`, with `cells` cells under a header of `columns`.
///
/// Such a record is not skipped as a bad row: a quote or comma out of place shifts every cell
/// after it, so the rest of the file cannot be trusted.
fn cell_count(row: u64, line: u64, cells: usize, columns: usize) -> RecordError {
    malformed(
        row,
        format!(
            "the record has {cells} cells but the header row has {columns} (line {line}); a quote \
             or comma is out of place, so the file is corrupt"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::super::pipeline::{frame, Framed};
    use super::*;

    /// `text` framed in reads of `chunk` bytes.
    fn csv(text: &str, chunk: usize) -> Framed {
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
        frame(&chunks, records)
    }

    fn cells(framed: &Framed) -> Vec<Vec<&str>> {
        let records = framed.records.iter();
        records
            .map(|(_, cells)| cells.iter().map(String::as_str).collect())
            .collect()
    }

    /// A header, then `records` `times` over.
    fn long(records: &str, times: usize) -> String {
        format!("a,b,c\n{}", records.repeat(times))
    }

    #[test]
    fn cells_are_unquoted_and_records_numbered_from_1() {
        let text = long("1,\"x, \"\"y\"\"\",\"multi\nline\"\r\n,,\n", 5);
        for chunk in [1, 7, 64, 1000] {
            let framed = csv(&text, chunk);
            assert_eq!(framed.headers, ["a", "b", "c"]);
            assert_eq!(framed.records.len(), 10);
            assert_eq!(framed.records[0].0, 1);
            assert_eq!(framed.records[9].0, 10);
            assert_eq!(cells(&framed)[0], ["1", "x, \"y\"", "multi\nline"]);
            assert_eq!(cells(&framed)[1], ["", "", ""]);
            assert_eq!(framed.end, Ok(()));
        }
    }

    #[test]
    fn empty_lines_are_skipped_and_the_last_line_break_is_optional() {
        let framed = csv("a,b,c\n\n1,2,3\r\n\r\n\n4,5,6", 3);
        assert_eq!(cells(&framed), [["1", "2", "3"], ["4", "5", "6"]]);
        assert_eq!(framed.end, Ok(()));
    }

    #[test]
    fn a_header_alone_or_nothing_gives_no_records() {
        for text in ["a,b,c\n", "a,b,c", ""] {
            let framed = csv(text, 64);
            assert!(framed.records.is_empty());
            assert_eq!(framed.end, Ok(()));
        }
    }

    #[test]
    fn another_cell_count_ends_the_framing_naming_the_line() {
        let text = long("1,2,3\n", 20) + "4,\"5\n\",6,7\n8,9,10\n";
        for chunk in [5, 64, 4096] {
            let framed = csv(&text, chunk);
            assert_eq!(framed.records.len(), 20);
            let end = framed.end.expect_err("a cell-count error");
            assert!(end.contains("record 21"), "{end}");
            assert!(
                end.contains("4 cells but the header row has 3 (line 22)"),
                "{end}"
            );
        }
    }

    #[test]
    fn a_file_cut_inside_quotes_is_malformed() {
        let text = long("1,2,3\n", 20) + "4,\"5,6\n";
        let framed = csv(&text, 64);
        assert_eq!(framed.records.len(), 20);
        let end = framed.end.expect_err("cut");
        assert!(
            end.contains("record 21") && end.contains("inside a quoted cell"),
            "{end}"
        );
    }

    #[test]
    fn stray_quotes_are_read_as_csv_core_reads_them() {
        // A quote inside an unquoted cell, and text after a closing quote: `csv-core` keeps both.
        let text = long("1,2,3\n", 10) + "x\"y,\"q\"z,3\n" + &"1,2,3\n".repeat(10);
        let framed = csv(&text, 64);
        assert_eq!(cells(&framed)[10], ["x\"y", "qz", "3"]);
        assert_eq!(framed.records.len(), 21);
    }

    #[test]
    fn line_numbers_are_where_a_record_starts() {
        // After a CRLF, and after empty lines, in reads of any size.
        let text = "a,b,c\r\n1,2,3\r\n\r\n\n4,5\r\n";
        for chunk in [1, 2, 3, 64] {
            let end = csv(text, chunk).end.expect_err("2 cells");
            assert!(
                end.contains("record 2") && end.contains("(line 5)"),
                "{chunk}: {end}"
            );
        }
    }

    #[test]
    fn leading_line_breaks() {
        assert_eq!(line_breaks(b"\r\n\n\rx\n"), (4, 2));
        assert_eq!(line_breaks(b"x\n"), (0, 0));
        assert_eq!(line_breaks(b"\n\n"), (2, 2));
        assert_eq!(line_breaks(b""), (0, 0));
    }

    #[test]
    fn header_names_must_be_utf8() {
        assert_eq!(&*header(b"idname", &[2, 6]).expect("UTF-8")[1], "name");
        let error = header(b"id\xFF", &[2, 3]).expect_err("not UTF-8");
        assert!(matches!(error, RecordError::Malformed { row: 0, .. }));
    }

    #[test]
    fn cell_count_errors_are_malformed_at_the_record() {
        let error = cell_count(5, 9, 2, 3);
        assert_eq!(error.row(), Some(5));
        assert!(error.is_fatal());
        assert!(error
            .to_string()
            .contains("2 cells but the header row has 3 (line 9)"));
    }
}
