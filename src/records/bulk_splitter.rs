//! The bulk CSV splitter: frames plainly quoted CSV records 64 bytes at a time with bit masks
//! (SSE2 on x86_64), in front of `csv-core`, which reads a byte at a time through a state machine.
//!
//! # Contract
//!
//! [`split_plain`] takes a record only if it frames it exactly as `csv-core` would: the same
//! cells, unquoted the same way, the same records (empty lines skipped) and the same line count.
//! Anything else it leaves, unread, to `csv-core`: a quote inside an unquoted cell, text after a
//! closing quote, a record whose cell count differs from the header's (an error `csv-core`'s
//! caller reports), a record cut by the end of the bytes at hand. So the records and errors of a
//! stream are the same with it and without it; `tests/properties.rs`
//! (`csv_bulk_splitter_matches_csv_core`) checks that on generated files.
//!
//! # How
//!
//! For each 64-byte block: one bit per byte for quotes, for line breaks and for separators. The
//! bytes inside quotes come from a prefix XOR of the quote bits (bit i is set when an odd number
//! of quotes precede or are at byte i), carried from block to block. Separators outside quotes
//! cut cells; `""` inside quotes is one literal quote. What `csv-core` would read differently
//! from RFC 4180 (a "bad" quote) is found with masks too, and the block is only used up to it.

use super::csv::line_breaks;
use super::pipeline::Batch;

/// Bytes per block: one bit each in a `u64` mask.
const BLOCK: usize = 64;

/// Splits the records at the start of `input` that have as many cells as `batch` has columns and
/// plain quoting, 64 bytes at a time and exactly as `csv-core` would, into `batch` (numbering them
/// from `row`). Stops before a record it cannot vouch for (a quote inside an unquoted cell, text
/// after a closing quote, another cell count, one cut by the end of `input`), which `csv-core`
/// reads next, or when the batch is full. Returns the bytes and line breaks used, and whether full.
/// Line breaks before a record are used in any case, so its line number is where it starts.
pub(super) fn split_plain(input: &[u8], batch: &mut Batch, row: &mut u64) -> (usize, u64, bool) {
    let (mut start, mut lines) = line_breaks(input);
    // `from`: the first byte not copied to `batch` yet; `at`: the current block.
    let (mut from, mut at, mut used_lines) = (start, start, lines);
    // Where the record being split starts in `batch`, to take it back if it cannot be vouched for.
    let (mut first_end, mut first_data) = (batch.ends.len(), batch.data.len());
    // Carried from the block before: inside quotes, ended by a separator, by a closing quote.
    let (mut quoted, mut after_sep, mut after_close) = (0u64, 1u64, 0u64);
    'blocks: while at + BLOCK <= input.len() {
        let block = &input[at..at + BLOCK];
        let (quotes, breaks) = (mask(block, b'"'), mask(block, b'\n'));
        // `\r` ends a record as `\n` does (`csv-core` reads `\r`, `\n` and `\r\n` alike).
        let seps = mask(block, b',') | breaks | mask(block, b'\r');
        // Bit i: an odd number of quotes up to byte i, so bytes inside quotes and opening quotes.
        let inside = [1, 2, 4, 8, 16, 32].iter().fold(quotes, |x, n| x ^ x << n) ^ quoted;
        let close = quotes & !inside;
        let (prev_sep, prev_close) = (seps << 1 | after_sep, close << 1 | after_close);
        // What `csv-core` reads otherwise than this splitter: an opening quote that does not start
        // a cell (a quote inside an unquoted cell), or a closing quote followed by anything but a
        // separator or another quote (text after a closing quote).
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
        at += BLOCK;
    }
    // The record being split was not finished: take its cells back, `csv-core` reads it.
    batch.ends.truncate(first_end);
    batch.data.truncate(first_data);
    let (breaks, lines) = line_breaks(&input[start..]);
    (start + breaks, used_lines + lines, false)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn batch(columns: usize) -> Batch {
        let headers: Vec<Box<str>> = (0..columns).map(|i| i.to_string().into()).collect();
        Batch {
            headers: Arc::from(headers),
            ..Batch::default()
        }
    }

    /// The cells of each record in `batch`.
    fn cells(batch: &Batch) -> Vec<Vec<String>> {
        (0..batch.len())
            .map(|i| {
                let (ends, mut start) = batch.record(i);
                let cell = |&end: &usize| {
                    let cell = String::from_utf8_lossy(&batch.data[start..end]).into_owned();
                    start = end;
                    cell
                };
                ends.iter().map(cell).collect()
            })
            .collect()
    }

    /// Splits `input` into a fresh batch of `columns` columns, numbering from 1.
    fn split(input: &str, columns: usize) -> (usize, u64, bool, Vec<Vec<String>>) {
        let mut batch = batch(columns);
        let mut row = 1;
        let (used, lines, full) = split_plain(input.as_bytes(), &mut batch, &mut row);
        assert_eq!(row, 1 + batch.len() as u64);
        (used, lines, full, cells(&batch))
    }

    #[test]
    fn plain_records_are_split_in_whole_blocks() {
        // 10 records of 8 bytes: 80 bytes, one whole block of 64; the block's last record (bytes
        // 56..64) ends exactly at its end, so 8 records are taken.
        let input = "ab,cd,e\n".repeat(10);
        let (used, lines, full, cells) = split(&input, 3);
        assert_eq!((used, lines, full), (64, 8, false));
        assert_eq!(cells.len(), 8);
        assert!(cells.iter().all(|c| *c == ["ab", "cd", "e"]));
    }

    #[test]
    fn fewer_than_64_bytes_are_left_to_csv_core() {
        let (used, lines, full, cells) = split("a,b\n1,2\n", 2);
        assert_eq!((used, lines, full), (0, 0, false));
        assert!(cells.is_empty());
        // Leading line breaks are used all the same, so the record's line is where it starts.
        let (used, lines, _, _) = split("\r\n\n\na,b\n", 2);
        assert_eq!((used, lines), (4, 3));
    }

    #[test]
    fn quoted_cells_are_unquoted() {
        let record = "\"a,\"\"b\"\"\",\"x\r\ny\",\"\"\n";
        let (used, lines, _, cells) = split(&record.repeat(5), 3);
        assert_eq!(cells[0], ["a,\"b\"", "x\r\ny", ""]);
        // Line breaks inside quotes count as lines too, as `csv-core` counts them.
        assert_eq!(lines, 2 * cells.len() as u64);
        assert_eq!(used, record.len() * cells.len());
    }

    #[test]
    fn crlf_and_empty_lines_between_records_are_skipped() {
        let input = "1,2\r\n\r\n3,4\n\n\n".repeat(8);
        let (_, _, _, cells) = split(&input, 2);
        assert!(cells.len() >= 8, "{cells:?}");
        for (i, cells) in cells.iter().enumerate() {
            let want = if i % 2 == 0 { ["1", "2"] } else { ["3", "4"] };
            assert_eq!(*cells, want);
        }
    }

    #[test]
    fn non_ascii_text_is_kept_byte_for_byte() {
        let record = "ñandú,\"Ŝ, 東京\",🌳\n";
        let (_, _, _, cells) = split(&record.repeat(6), 3);
        assert!(!cells.is_empty());
        assert!(cells.iter().all(|c| *c == ["ñandú", "Ŝ, 東京", "🌳"]));
    }

    #[test]
    fn it_stops_before_a_record_it_cannot_vouch_for() {
        let good = "1,2,3\n".repeat(4);
        for bad in [
            "1,x\"y,3\n",   // a quote inside an unquoted cell
            "1,\"x\"y,3\n", // text after a closing quote
            "1,2\n",        // another cell count
            "1,2,3,4\n",    // another cell count
        ] {
            let input = format!("{good}{bad}{}", "1,2,3\n".repeat(20));
            let (used, lines, full, cells) = split(&input, 3);
            assert_eq!((used, lines, full), (good.len(), 4, false), "{bad:?}");
            assert_eq!(cells.len(), 4, "{bad:?}");
        }
    }

    #[test]
    fn a_record_cut_by_the_end_of_the_input_is_left() {
        let input = "1,2,3\n".repeat(12) + "4,\"5";
        let (used, _, _, cells) = split(&input, 3);
        assert_eq!(cells.len(), 10); // the records that end within the first whole block
        assert_eq!(used, 60);
        // An open quote carried over a block boundary.
        let input = "1,2,3\n".repeat(10) + "4,\"" + &"x".repeat(100) + "\",6\n";
        let (_, _, _, cells) = split(&input, 3);
        assert_eq!(cells.len(), 10);
    }

    #[test]
    fn quotes_carried_across_blocks() {
        let cell = format!("\"{}\"\"{}\"", "x".repeat(62), ",".repeat(70));
        let record = format!("{cell},b\n");
        let (used, _, _, cells) = split(&record.repeat(3), 2);
        assert_eq!(cells.len(), 2);
        assert_eq!(
            cells[0][0],
            format!("{}\"{}", "x".repeat(62), ",".repeat(70))
        );
        assert_eq!(used, 2 * record.len());
    }

    #[test]
    fn it_stops_when_the_batch_is_full() {
        let mut batch = batch(1);
        let mut input = vec![b'x'; 1024 * 1024 + 4096];
        input[1024 * 1024] = b'\n';
        input[1024 * 1024 + 2] = b'\n';
        let mut row = 1;
        let (used, lines, full) = split_plain(&input, &mut batch, &mut row);
        assert!(full, "a record of 1 MiB fills the batch");
        assert_eq!((used, lines, batch.len()), (1024 * 1024 + 1, 1, 1));
    }

    #[test]
    fn masks_match_a_plain_loop() {
        let block: Vec<u8> = (0..64u8)
            .map(|i| b"a,\"\n\r\xFF"[usize::from(i) % 6])
            .collect();
        for byte in [b',', b'"', b'\n', b'\r', 0xFF, b'z'] {
            let plain =
                (block.iter().enumerate()).fold(0u64, |m, (i, &b)| m | u64::from(b == byte) << i);
            assert_eq!(mask(&block, byte), plain);
        }
    }
}
