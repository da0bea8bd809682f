//! `records::from_reader` on bytes in memory and on readers that trickle, stall or never end:
//! the CSV cell conventions, the errors, BOMs, cuts, the record size cap, panics and dropping.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use mangrove::records::{self, RecordError};
use mangrove::ExportFormat;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

/// An `AsyncRead` that hands out at most `step` bytes per read.
struct Trickle {
    bytes: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .step
            .min(self.bytes.len() - self.at)
            .min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.bytes[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// All items of `bytes` read as `format` in reads of at most `step` bytes.
async fn items<T>(bytes: &[u8], format: ExportFormat, step: usize) -> Vec<Result<T, RecordError>>
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let reader = Trickle {
        bytes: bytes.to_vec(),
        at: 0,
        step,
    };
    records::from_reader::<T, _>(reader, format).collect().await
}

/// Each item as text: `Debug` of the record, or `row N fatal|row: message`.
fn show<T: std::fmt::Debug>(items: &[Result<T, RecordError>]) -> Vec<String> {
    items
        .iter()
        .map(|item| match item {
            Ok(record) => format!("{record:?}"),
            Err(e) if e.is_fatal() => format!("fatal {:?}: {e}", e.row()),
            Err(e) => format!("row {:?}: {e}", e.row()),
        })
        .collect()
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Removal,
    Avoidance,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Image {
    name: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Cells {
    id: u32,
    name: String,
    note: Option<String>,
    kind: Kind,
    ok: bool,
    ratio: f32,
    tags: Vec<String>,
    images: Vec<Image>,
    size: (u8, u8),
    extra: Option<std::collections::BTreeMap<String, u32>>,
    #[serde(default)]
    absent: Vec<String>,
    initial: char,
}

#[tokio::test]
async fn csv_cells_are_read_by_the_type_asked_for() {
    let csv = "id,name,note,kind,ok,ratio,tags,images,size,extra,initial,unknown\n\
               1,Delta,,removal,true,0.5,,\"[{\"\"name\"\":\"\"a.png\"\"}]\",\"[1,2]\",,D,x\n\
               2,,a note,avoidance,false,-1e-3,\"[\"\"x\"\",\"\"y\"\"]\",[],\"[3,4]\",\"{\"\"a\"\":1}\",é,\n";
    let got: Vec<Result<Cells, _>> = items(csv.as_bytes(), ExportFormat::Csv, 1 << 20).await;
    assert_eq!(got.len(), 2, "{:?}", show(&got));
    let (one, two) = (got[0].as_ref().unwrap(), got[1].as_ref().unwrap());
    assert_eq!(
        (one.id, one.name.as_str(), one.note.as_deref()),
        (1, "Delta", None)
    );
    assert_eq!((one.kind, one.ok, one.ratio), (Kind::Removal, true, 0.5));
    assert!(one.tags.is_empty() && one.extra.is_none() && one.absent.is_empty());
    assert_eq!(
        one.images,
        [Image {
            name: "a.png".into()
        }]
    );
    assert_eq!((one.size, one.initial), ((1, 2), 'D'));
    assert_eq!(
        (two.name.as_str(), two.note.as_deref()),
        ("", Some("a note"))
    );
    assert_eq!(
        (two.kind, two.ok, two.ratio),
        (Kind::Avoidance, false, -0.001)
    );
    assert_eq!(two.tags, ["x", "y"]);
    assert_eq!(two.extra.as_ref().unwrap()["a"], 1);
    assert_eq!(two.initial, 'é');
}

#[tokio::test]
async fn csv_cells_that_do_not_fit_are_row_errors_naming_the_column() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Row {
        id: u8,
        ok: Option<bool>,
        tags: Vec<String>,
    }
    let csv = b"id,ok,tags\n1,,[]\n,true,[]\n300,,[]\n4,yes,[]\n5,,[oops\n6,,x\n7,true,\n";
    let got = show(&items::<Row>(csv, ExportFormat::Csv, 3).await);
    let want = [
        "Row { id: 1, ok: None, tags: [] }",
        "row Some(2): record 2 does not match the Rust type: column `id`: the cell is empty but a \
         non-negative integer (u8) is expected; use an `Option` field to accept empty cells",
        "row Some(3): record 3 does not match the Rust type: column `id`: expected a non-negative \
         integer (u8), found `300`",
        "row Some(4): record 4 does not match the Rust type: column `ok`: expected `true` or \
         `false`, found `yes`",
        "row Some(5): record 5 does not match the Rust type: column `tags`: expected value at line \
         1 column 2 in the cell's JSON text",
        "row Some(6): record 6 does not match the Rust type: column `tags`: expected JSON text \
         opening with `[`, found `x`",
        "Row { id: 7, ok: Some(true), tags: [] }",
    ];
    assert_eq!(got, want);
}

#[tokio::test]
async fn csv_missing_columns_and_unknown_columns() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Needs {
        id: u32,
        name: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        id: u32,
    }
    let csv = b"id,extra\n1,x\n";
    let got = show(&items::<Needs>(csv, ExportFormat::Csv, 64).await);
    assert_eq!(
        got,
        ["row Some(1): record 1 does not match the Rust type: the file has no column `name`; if \
          it may be absent, make the field an `Option` or give it `#[serde(default)]`"]
    );
    let got = show(&items::<Strict>(csv, ExportFormat::Csv, 64).await);
    assert_eq!(
        got,
        [
            "row Some(1): record 1 does not match the Rust type: unknown field `extra`, expected \
             `id`"
        ]
    );
}

/// `serde_json::Value` (and untagged enums, flattened fields) get the cell's type guessed.
#[tokio::test]
async fn csv_cells_read_as_json_values_are_guessed() {
    #[derive(Debug, Deserialize)]
    struct Row {
        v: serde_json::Value,
    }
    let cells = [
        ("", serde_json::json!(null)),
        ("[1,\"\"a\"\"]", serde_json::json!([1, "a"])),
        (
            "{\"\"a\"\":{\"\"b\"\":true}}",
            serde_json::json!({"a": {"b": true}}),
        ),
        ("true", serde_json::json!(true)),
        ("false", serde_json::json!(false)),
        ("12", serde_json::json!(12)),
        ("-7", serde_json::json!(-7)),
        ("18446744073709551615", serde_json::json!(u64::MAX)),
        ("-1.5e3", serde_json::json!(-1500.0)),
        ("0.25", serde_json::json!(0.25)),
        ("01", serde_json::json!("01")),
        ("+1", serde_json::json!("+1")),
        (".5", serde_json::json!(".5")),
        ("1.", serde_json::json!("1.")),
        ("1e", serde_json::json!("1e")),
        ("-", serde_json::json!("-")),
        ("NaN", serde_json::json!("NaN")),
        ("null", serde_json::json!("null")),
        (" 1", serde_json::json!(" 1")),
        ("12a", serde_json::json!("12a")),
        ("[not json", serde_json::json!("[not json")),
        ("Delta", serde_json::json!("Delta")),
    ];
    let mut csv = String::from("v\n");
    for (cell, _) in &cells {
        csv.push_str(&format!("\"{cell}\"\n"));
    }
    let got: Vec<Result<Row, _>> = items(csv.as_bytes(), ExportFormat::Csv, 5).await;
    assert_eq!(got.len(), cells.len());
    for ((cell, want), got) in cells.iter().zip(got) {
        assert_eq!(&got.unwrap().v, want, "cell {cell:?}");
    }
}

#[derive(Debug, Deserialize, PartialEq)]
struct Named {
    id: u32,
    name: String,
}

/// A file cut inside a quoted cell is malformed (the `csv` crate alone would hand out the cut
/// record), wherever the reads split it; quotes that close are fine.
#[tokio::test]
async fn csv_cut_inside_a_quoted_cell_is_malformed() {
    let cut = "the file ends inside a quoted cell, so the download is incomplete or corrupt; \
               download it again";
    let long = "x".repeat(200);
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            "id,name\n1,a\n2,\"b, \"\"c\"\"".into(),
            vec![
                "Named { id: 1, name: \"a\" }".into(),
                format!("fatal Some(2): the file is malformed at record 2: {cut}"),
            ],
        ),
        (
            format!("id,name\n1,\"{long}\n2,x"),
            vec![format!(
                "fatal Some(1): the file is malformed at record 1: {cut}"
            )],
        ),
        (
            "id,\"na".into(),
            vec![format!(
                "fatal Some(0): the file is malformed at record 0: {cut}"
            )],
        ),
        (
            format!("id,name\n1,\"{long}\"\"\n\"\n2,a\"b\n3,\"\""),
            vec![
                format!("Named {{ id: 1, name: \"{long}\\\"\\n\" }}"),
                "Named { id: 2, name: \"a\\\"b\" }".into(),
                "Named { id: 3, name: \"\" }".into(),
            ],
        ),
    ];
    for (csv, want) in cases {
        for step in [1, 2, 3, 7, 64, 1 << 20] {
            let got = show(&items::<Named>(csv.as_bytes(), ExportFormat::Csv, step).await);
            assert_eq!(got, want, "{csv:?} in reads of {step}");
        }
    }
}

#[tokio::test]
async fn csv_structure_errors_end_the_stream() {
    let got = show(&items::<Named>(b"id,name\n1,a\n2,b,c\n3,d\n", ExportFormat::Csv, 64).await);
    assert_eq!(
        got,
        [
            "Named { id: 1, name: \"a\" }",
            "fatal Some(2): the file is malformed at record 2: the record has 3 cells but the \
             header row has 2 (line 3); a quote or comma is out of place, so the file is corrupt",
        ]
    );
}

/// A long file in reads of several sizes: quoted cells with `""`, commas and line breaks, CRLF
/// and empty lines, a quote inside an unquoted cell (kept, as `csv-core` reads it), and a late
/// record with a cell too many, reported at the line it starts on.
#[tokio::test]
async fn long_csv_keeps_every_cell_and_the_line_numbers() {
    let mut csv = String::from("id,name\r\n");
    let mut lines = 1;
    for id in 1..=500 {
        let name = match id % 4 {
            0 => format!("\"a, \"\"b\"\"\r\nc {id}\""),
            1 => format!("plain {id}"),
            2 => format!("x\"y {id}"),
            _ => String::new(),
        };
        csv.push_str(&format!("{id},{name}\r\n"));
        lines += 1 + usize::from(id % 4 == 0);
        if id % 50 == 0 {
            csv.push('\n');
            lines += 1;
        }
    }
    csv.push_str("501,a,b\n502,c\n");
    for step in [7, 64, 100, 1 << 20] {
        let got = items::<Named>(csv.as_bytes(), ExportFormat::Csv, step).await;
        assert_eq!(got.len(), 501, "reads of {step}");
        for (id, item) in (1..).zip(&got[..500]) {
            let name = match id % 4 {
                0 => format!("a, \"b\"\r\nc {id}"),
                1 => format!("plain {id}"),
                2 => format!("x\"y {id}"),
                _ => String::new(),
            };
            let item = item.as_ref().expect("a record");
            assert_eq!((item.id, &item.name), (id, &name), "reads of {step}");
        }
        let error = got[500].as_ref().expect_err("the last item is the error");
        let want = format!(
            "the record has 3 cells but the header row has 2 (line {})",
            lines + 1
        );
        assert!(
            error.to_string().contains(&want),
            "{error} in reads of {step}"
        );
    }
}

/// A column name that is not text ends the stream before any record: it would otherwise match no
/// field, and its cells would be dropped without a word.
#[tokio::test]
async fn csv_header_that_is_not_utf8_is_malformed() {
    let got = show(&items::<Named>(b"id,na\xFFme\n1,a\n", ExportFormat::Csv, 64).await);
    assert_eq!(
        got,
        [
            "fatal Some(0): the file is malformed at record 0: a column name in the header row is \
          not UTF-8 text"
        ]
    );
}

#[tokio::test]
async fn byte_order_marks_are_skipped() {
    let csv = b"\xEF\xBB\xBF\"id\",name\n1,\"a\"\n";
    let json = b"\xEF\xBB\xBF [{\"id\":1,\"name\":\"a\"}]";
    for (bytes, format) in [
        (&csv[..], ExportFormat::Csv),
        (&json[..], ExportFormat::Json),
    ] {
        for step in [1, 2, 3, 4, 64] {
            let got = show(&items::<Named>(bytes, format.clone(), step).await);
            assert_eq!(got, ["Named { id: 1, name: \"a\" }"], "{format:?} {step}");
        }
    }
}

#[tokio::test]
async fn json_row_errors_name_the_field() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Image {
        url: Option<String>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Row {
        id: u64,
        #[serde(default)]
        images: Vec<Image>,
    }
    let json =
        br#"[{"id":1,"images":[{"url":"a"},{"url":5}]}, {"id":"x"}, {"images":[]}, {"id":4}]"#;
    let got = show(&items::<Row>(json, ExportFormat::Json, 1 << 20).await);
    assert_eq!(
        got,
        [
            "row Some(1): record 1 does not match the Rust type: field `images[1].url`: invalid \
             type: integer `5`, expected a string",
            "row Some(2): record 2 does not match the Rust type: field `id`: invalid type: string \
             \"x\", expected u64",
            "row Some(3): record 3 does not match the Rust type: missing field `id`",
            "Row { id: 4, images: [] }",
        ]
    );
}

/// Numbers cut by the end of the bytes read so far (`12.`, `1e`, `-`) are read on, not taken for
/// syntax errors, wherever the reads split the file.
#[tokio::test]
async fn json_numbers_cut_between_reads_are_read_on() {
    let json = br#"[{"q":12.5},{"q":-1e3},{"q":-0.25E-1},{"q":"x"},{"q":7}]"#;
    for step in 1..=7 {
        let got = quantities(json, step).await;
        assert_eq!(
            got,
            ["12.5", "-1000", "-0.025", "row Some(4) fatal false", "7"],
            "reads of {step} bytes"
        );
    }
}

/// The `q` of each JSON record read in reads of `step` bytes, or `row N fatal B` for an error.
async fn quantities(json: &[u8], step: usize) -> Vec<String> {
    #[derive(Debug, Deserialize)]
    struct Row {
        q: f64,
    }
    items::<Row>(json, ExportFormat::Json, step)
        .await
        .iter()
        .map(|item| match item {
            Ok(row) => row.q.to_string(),
            Err(e) => format!("row {:?} fatal {}", e.row(), e.is_fatal()),
        })
        .collect()
}

/// A number JSON allows but `f64` cannot hold is a bad record; the stream goes on.
#[tokio::test]
async fn json_number_out_of_range_is_a_bad_record() {
    let got = quantities(br#"[{"q":1}, {"q":1e400}, {"q":2}]"#, 64).await;
    assert_eq!(got, ["1", "row Some(2) fatal false", "2"]);
}

#[tokio::test]
async fn json_syntax_errors_and_cuts_end_the_stream() {
    let cases: [(&[u8], &str); 6] = [
        (
            b"",
            "fatal Some(0): the file is malformed at record 0: expected the `[` that opens the \
             array, found the end of the file at byte 0; the file is not a valid JSON array, so \
             it is corrupt; download it again",
        ),
        (
            b" {}",
            "fatal Some(0): the file is malformed at record 0: expected the `[` that opens \
                  the array, found `{` at byte 1; the file is not a valid JSON array, so it is \
                  corrupt; download it again",
        ),
        (
            br#"[{"id":1,"name":"a"} {"id":2}]"#,
            "fatal Some(2): the file is malformed at record \
             2: expected `,` or `]`, found `{` at byte 21; the file is not a valid JSON array, \
             so it is corrupt; download it again",
        ),
        (
            br#"[{"id":1,"name":"a"},{"id":2,]"#,
            "fatal Some(2): the file is malformed at record \
             2: key must be a string at byte 29; the file is not a valid JSON array, so it is \
             corrupt; download it again",
        ),
        (
            br#"[{"id":1,"name":"a"},{"id":2"#,
            "fatal Some(2): the file is malformed at record \
             2: the file ends inside record 2 (after byte 28), so the download is incomplete; \
             download it again",
        ),
        (
            br#"[{"id":1,"name":"a"}] x"#,
            "fatal Some(2): the file is malformed at record 2: \
             expected nothing but whitespace after the `]` that closes the array, found `x` \
             at byte 22; the file is not a valid JSON array, so it is corrupt; download it again",
        ),
    ];
    for (json, error) in cases {
        for step in [1, 5, 64] {
            let got = show(&items::<Named>(json, ExportFormat::Json, step).await);
            let want: &[&str] = match got.len() {
                2 => &["Named { id: 1, name: \"a\" }", error],
                _ => &[error],
            };
            assert_eq!(
                got,
                want,
                "{} in reads of {step}",
                String::from_utf8_lossy(json)
            );
        }
    }
}

/// Records far larger than a batch or a read come out whole and in order.
#[tokio::test]
async fn large_records_keep_their_order() {
    #[derive(Debug, Deserialize)]
    struct Row {
        id: String,
        #[serde(default)]
        text: String,
    }
    let big = "y".repeat(300 * 1024);
    let csv = format!("id,text\n1,\n2,{big}\n3,\nx,\"{big}\"\n5,\n");
    let json = format!(
        r#"[{{"id":"1"}},{{"id":"2","text":"{big}"}},{{"id":"3"}},{{"id":4,"text":"{big}"}},{{"id":"5"}}]"#
    );
    for (bytes, format) in [(csv, ExportFormat::Csv), (json, ExportFormat::Json)] {
        let got: Vec<String> = items::<Row>(bytes.as_bytes(), format.clone(), 10_000)
            .await
            .iter()
            .map(|item| match item {
                Ok(row) => format!("{} {}", row.id, row.text.len()),
                Err(e) => format!("row {:?} fatal {}", e.row(), e.is_fatal()),
            })
            .collect();
        let bad = match format {
            ExportFormat::Csv => "x 307200",
            _ => "row Some(4) fatal false",
        };
        assert_eq!(got, ["1 0", "2 307200", "3 0", bad, "5 0"], "{format:?}");
    }
}

/// A reader that never ends, for the record size cap.
struct Endless {
    first: &'static [u8],
    then: u8,
}

impl AsyncRead for Endless {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first = &self.first[n..];
        } else {
            let n = buf.remaining();
            buf.put_slice(&vec![self.then; n]);
        }
        Poll::Ready(Ok(()))
    }
}

/// A quote that never closes (or a JSON string), or a record of endless empty cells, does not
/// make the parser buffer the rest of the file: past 64 MiB the record is malformed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_over_64_mib_are_malformed() {
    for (first, then, format) in [
        (
            &b"id,name\n1,a\n2,\"never closed"[..],
            b'x',
            ExportFormat::Csv,
        ),
        (&b"id,name\n1,a\n2,"[..], b',', ExportFormat::Csv),
        (
            &b"[{\"id\":1,\"name\":\"a\"},{\"id\":2,\"name\":\"never closed"[..],
            b'x',
            ExportFormat::Json,
        ),
    ] {
        let got = show(
            &records::from_reader::<Named, _>(Endless { first, then }, format.clone())
                .collect::<Vec<_>>()
                .await,
        );
        assert_eq!(
            got,
            [
                "Named { id: 1, name: \"a\" }".to_owned(),
                "fatal Some(2): the file is malformed at record 2: the record is larger than 64 \
                 MiB, so the file is probably corrupt (for CSV, a quote that never closes); \
                 download it again"
                    .to_owned()
            ],
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn other_formats_are_unsupported() {
    let got = show(&items::<Named>(b"<xml/>", ExportFormat::Unknown("xml".into()), 64).await);
    assert_eq!(
        got,
        ["fatal None: cannot read records of format `xml` (only csv and json)"]
    );
}

/// A type whose `Deserialize` panics.
#[derive(Debug)]
struct Panics;

impl<'de> Deserialize<'de> for Panics {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        panic!("Panics::deserialize");
    }
}

#[tokio::test]
async fn panics_in_deserialize_reach_the_polling_task() {
    for (bytes, format) in [
        (&b"a\n1\n"[..], ExportFormat::Csv),
        (b"[{}]", ExportFormat::Json),
    ] {
        let mut stream = records::from_reader::<Panics, _>(bytes, format);
        let polled = tokio::spawn(async move { stream.next().await }).await;
        let panic = polled.expect_err("the poll panics").into_panic();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"Panics::deserialize"));
    }
}

/// Records whose bytes arrived come out while the input stalls, and dropping the stream then stops
/// the parser and drops the input (its other end sees a broken pipe).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_before_a_stall_and_dropping_releases_the_input() {
    #[derive(Debug, Deserialize)]
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
        let mut stream = records::from_reader::<Row, _>(reader, format.clone());
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
