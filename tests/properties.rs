//! Property tests on every decoder that a server's bytes reach: list bodies in all response
//! modes, the export status, error bodies, CSV and JSON record streams. CI runs proptest's default budget (256 cases per
//! property); for a deep run:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release --test properties
//! ```

use mangrove::types::{self, Project};
use mangrove::{ExportSnapshot, ExportStatus, ListBody};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// Arbitrary JSON values, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn project(id: i64) -> Value {
    json!({"id": id, "name": format!("P{id}"), "credit_types": ["CORC"], "images": [{"name": "a.png", "url": "http://x"}]})
}

fn status_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("pending".to_string()),
        Just("processing".to_string()),
        Just("completed".to_string()),
        Just("failed".to_string()),
        Just("expired".to_string()),
        "[a-z_]{1,12}",
    ]
}

/// A well-formed list body in one of the three modes, plus arbitrary extra keys.
fn list_body() -> impl Strategy<Value = (Value, bool, bool)> {
    (
        0u8..3,
        prop::collection::vec(1i64..10_000, 0..12),
        0u64..1_000_000,
        status_value(),
        prop::collection::btree_map("x_[a-z]{1,6}", any_json(), 0..4),
    )
        .prop_map(|(mode, ids, count, status, extra)| {
            let items: Vec<Value> = ids.iter().map(|i| project(*i)).collect();
            let mut body = match mode {
                0 => json!({"data": items, "info": {"items": ids.len(), "page_size": 10, "current_page": 1, "next_page": null, "sort": [], "filter": []}}),
                1 => json!({"count": count, "samples": items, "response_mode": "summary"}),
                _ => json!({"count": count, "samples": items, "response_mode": "summary_with_export",
                            "export": {"id": "exp_ABC", "status": status, "status_url": "https://app.gomangrove.com/api/v1/exports/exp_ABC"}}),
            };
            if let Value::Object(map) = &mut body {
                map.extend(extra);
            }
            (body, mode >= 1, mode == 2)
        })
}

proptest! {
    // Any well-formed body, in any mode, with unknown extra keys and unknown statuses, decodes to
    // the right shape; an export that is present is always kept.
    #[test]
    fn list_bodies_decode_in_every_mode((body, summary, export) in list_body()) {
        let decoded: ListBody<Project> = serde_json::from_value(body.clone()).expect("well-formed body decodes");
        prop_assert_eq!(decoded.export.is_some(), export);
        prop_assert_eq!(decoded.count.is_some(), summary);
        if export {
            let status = body["export"]["status"].as_str().unwrap();
            let got = decoded.export.and_then(|e| e.status).expect("status kept");
            prop_assert_eq!(got.as_str(), status);
        }
    }

    // Arbitrary JSON never panics the list decoder; if `export` is present and decoding succeeds,
    // it is kept.
    #[test]
    fn arbitrary_json_never_panics_list_decoder(extra in prop::collection::btree_map("[a-z_]{1,10}", any_json(), 0..8), export in proptest::option::of(any_json())) {
        let mut map: Map<String, Value> = extra.into_iter().collect();
        if let Some(e) = &export {
            map.insert("export".into(), e.clone());
        }
        if let Ok(decoded) = serde_json::from_value::<ListBody<Project>>(Value::Object(map)) {
            if export.as_ref().is_some_and(|e| !e.is_null()) {
                prop_assert!(decoded.export.is_some(), "export dropped silently");
            }
        }
    }

    // Arbitrary bytes never panic any decoder a response reaches.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = serde_json::from_slice::<ListBody<Project>>(&bytes);
        let _ = serde_json::from_slice::<types::ExportJob>(&bytes);
        let _ = serde_json::from_slice::<types::ApiError>(&bytes);
        let _ = serde_json::from_slice::<types::Order>(&bytes);
    }

    // Any export status object decodes when `id` is a string; the status (given or inferred) is
    // consistent with the fields.
    #[test]
    fn export_status_objects_decode(status in proptest::option::of(status_value()), url in proptest::option::of("https://s\\.example/[a-z]{1,8}"), error in proptest::option::of(".{0,20}"), size in proptest::option::of(0i64..1_000_000_000), extra in prop::collection::btree_map("x_[a-z]{1,6}", any_json(), 0..3)) {
        let mut map: Map<String, Value> = extra.into_iter().collect();
        map.insert("id".into(), json!("exp_1"));
        if let Some(s) = &status { map.insert("status".into(), json!(s)); }
        if let Some(u) = &url { map.insert("download_url".into(), json!(u)); }
        if let Some(e) = &error { map.insert("error".into(), json!(e)); }
        if let Some(n) = size { map.insert("file_size_bytes".into(), json!(n)); }
        let raw: types::ExportJob = serde_json::from_value(Value::Object(map)).expect("decodes");
        let snapshot = ExportSnapshot::from(raw);
        match &status {
            Some(s) => prop_assert_eq!(snapshot.status.as_str(), s.as_str()),
            None if url.is_some() => prop_assert_eq!(snapshot.status, ExportStatus::Completed),
            None if error.is_some() => prop_assert_eq!(snapshot.status, ExportStatus::Failed),
            None => prop_assert_eq!(snapshot.status, ExportStatus::Pending),
        }
    }

    // Open enums round-trip any string exactly.
    #[test]
    fn export_status_round_trips(s in ".{0,24}") {
        let status: ExportStatus = serde_json::from_value(json!(s)).unwrap();
        prop_assert_eq!(status.as_str(), s.as_str());
        prop_assert_eq!(serde_json::to_value(&status).unwrap(), json!(s));
    }
}

// ---------------------------------------------------------------------------------------------
// Record streams (`mangrove::records`): the bytes of an export file.

mod record_streams {
    use futures::StreamExt;
    use mangrove::records::{self, RecordError};
    use mangrove::ExportFormat;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        id: u32,
        name: String,
        amount: Option<i64>,
        ok: bool,
    }

    fn row() -> impl Strategy<Value = Row> {
        // Names with the characters CSV must quote: commas, quotes, line breaks, and any text.
        let name = prop_oneof![".{0,12}", "[a-z,\"\n\r ]{0,12}"];
        (
            any::<u32>(),
            name,
            proptest::option::of(any::<i64>()),
            any::<bool>(),
        )
            .prop_map(|(id, name, amount, ok)| Row {
                id,
                name,
                amount,
                ok,
            })
    }

    fn csv_bytes(rows: &[Row]) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        for row in rows {
            writer.serialize(row).expect("serialize");
        }
        if rows.is_empty() {
            writer
                .write_record(["id", "name", "amount", "ok"])
                .expect("header");
        }
        writer.into_inner().expect("flush")
    }

    /// Streams `bytes` through `records::from_reader`, in reads of exactly `chunk` bytes (the
    /// last one shorter).
    fn collect<T: serde::de::DeserializeOwned + Send + 'static>(
        bytes: Vec<u8>,
        layout: ExportFormat,
        chunk: usize,
    ) -> Vec<Result<T, RecordError>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let chunks: Vec<std::io::Result<bytes::Bytes>> = bytes
                .chunks(chunk)
                .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                .collect();
            let reader = tokio_util::io::StreamReader::new(futures::stream::iter(chunks));
            records::from_reader::<T, _>(reader, layout).collect().await
        })
    }

    /// CSV text with three columns, mostly well-formed records (quoted cells with `""`, commas
    /// and line breaks; CRLF, CR and empty lines) and some broken ones (a quote inside an
    /// unquoted cell, text after a closing quote, two or four cells, a quote that never closes).
    fn csv_text() -> impl Strategy<Value = Vec<u8>> {
        let cell = prop_oneof![
            4 => "[a-z0-9 ]{0,30}",
            2 => "[a-z,\n\r\" ]{0,20}".prop_map(|c| format!("\"{}\"", c.replace('"', "\"\""))),
            1 => "[a-z]{0,3}\"[a-z]{0,3}",
            1 => "\"[a-z]{0,3}\"[a-z ]{1,3}",
            1 => Just("\"".to_owned()),
        ];
        let record = prop_oneof![
            12 => prop::collection::vec(cell.clone(), 3),
            1 => prop::collection::vec(cell, 1..5),
        ];
        let line_break =
            prop_oneof![8 => Just("\n"), 2 => Just("\r\n"), 1 => Just("\r"), 1 => Just("\n\n")];
        prop::collection::vec((record, line_break), 0..60).prop_map(|records| {
            let mut text = String::from("a,b,c\n");
            for (cells, line_break) in records {
                text.push_str(&cells.join(","));
                text.push_str(line_break);
            }
            text.into_bytes()
        })
    }

    type Cells = std::collections::BTreeMap<String, String>;

    /// The records of `text` read in `chunk`-byte reads, errors as their text.
    fn csv_outcome(text: &[u8], chunk: usize) -> Vec<Result<Cells, String>> {
        let items = collect::<Cells>(text.to_vec(), ExportFormat::Csv, chunk);
        items
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    /// Nothing follows a fatal error.
    fn fatal_is_last(items: &[Result<Row, RecordError>]) -> bool {
        items
            .iter()
            .position(|r| r.as_ref().is_err_and(RecordError::is_fatal))
            .is_none_or(|i| i == items.len() - 1)
    }

    proptest! {
        // Any rows, written as CSV (header row) or as a JSON array, come back exactly, in order,
        // whatever the sizes of the reads.
        #[test]
        fn csv_and_json_round_trip(rows in prop::collection::vec(row(), 0..40), chunk in 1usize..4096) {
            let csv = collect(csv_bytes(&rows), ExportFormat::Csv, chunk);
            let json = collect(serde_json::to_vec(&rows).expect("json"), ExportFormat::Json, chunk);
            for items in [csv, json] {
                let got: Vec<Row> = items.into_iter().collect::<Result<_, _>>().map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&got, &rows);
            }
        }

        // Reads of 64 bytes or more take the bulk CSV splitter, shorter ones `csv-core` alone:
        // both give the same records and the same errors (row and line numbers included).
        #[test]
        fn csv_bulk_splitter_matches_csv_core(text in csv_text(), chunk in 64usize..2048) {
            prop_assert_eq!(csv_outcome(&text, chunk), csv_outcome(&text, 63));
        }

        // A JSON array cut anywhere gives a prefix of the rows and then one fatal error: rows are
        // never lost silently.
        #[test]
        fn truncated_json_ends_in_an_error(rows in prop::collection::vec(row(), 1..20), cut in any::<prop::sample::Index>(), chunk in 1usize..64) {
            let bytes = serde_json::to_vec(&rows).expect("json");
            let cut = cut.index(bytes.len());
            let items = collect(bytes[..cut].to_vec(), ExportFormat::Json, chunk);
            let last = items.last().expect("at least the error");
            prop_assert!(last.as_ref().is_err_and(RecordError::is_fatal), "{:?}", last);
            let good: Vec<&Row> = items.iter().filter_map(|r| r.as_ref().ok()).collect();
            prop_assert!(good.len() <= rows.len());
            prop_assert!(good.iter().zip(&rows).all(|(a, b)| *a == b));
        }

        // Arbitrary bytes in either layout: no panic, the stream ends, nothing after a fatal
        // error, and every error names a row unless it is an I/O error.
        #[test]
        fn arbitrary_bytes_never_panic_a_record_stream(bytes in prop::collection::vec(any::<u8>(), 0..512), chunk in 1usize..600) {
            for layout in [ExportFormat::Csv, ExportFormat::Json] {
                let items = collect(bytes.clone(), layout, chunk);
                prop_assert!(fatal_is_last(&items));
                for item in &items {
                    if let Err(e) = item {
                        prop_assert!(e.row().is_some() || matches!(e, RecordError::Io(_)), "{e:?}");
                    }
                }
            }
        }
    }
}
