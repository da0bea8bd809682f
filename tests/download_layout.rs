//! `records()` picks CSV or JSON from the export's `format`, else the download URL's extension
//! (not the query's), else the storage host's `Content-Type`, and never guesses.

use futures::StreamExt;
use mangrove::{ExportError, ExportFormat};

#[path = "common/hostile.rs"]
mod hostile;
use hostile::{Answer, End, Script};

const CSV: &[u8] = b"a,b\n1,2\n3,4\n";
const JSON: &[u8] = b"[{\"a\":1},{\"a\":2}]";

/// How `records()` read `body` served with `content_type` behind a URL ending in `ext`: the
/// layout it picked (by what decodes), or its error.
async fn layout(
    format: Option<&'static str>,
    ext: &'static str,
    content_type: &str,
    body: &[u8],
) -> Result<ExportFormat, ExportError> {
    let answer = Answer {
        status: 200,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("content-length".into(), body.len().to_string()),
        ],
        body: body.to_vec(),
        end: End::Close,
    };
    let server = hostile::start(Script {
        answers: vec![answer],
        file_size: Some(body.len() as i64),
        format,
        ext,
    })
    .await;
    let client = mangrove::Client::builder()
        .token("tok")
        .base_url(server.api())
        .build()
        .unwrap();
    let completed = mangrove::Export::attach(&client, "exp_1").await.unwrap();
    let records = completed.records::<serde_json::Value>().await?;
    let rows: Vec<_> = records.collect().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(Result::is_ok), "{rows:?}");
    Ok(if body == CSV {
        ExportFormat::Csv
    } else {
        ExportFormat::Json
    })
}

#[tokio::test]
async fn the_format_comes_first_then_the_extension_then_the_content_type() {
    let octets = "application/octet-stream";
    // The export's format wins over a misleading extension and type.
    let got = layout(Some("json"), "csv", "text/csv", JSON).await;
    assert_eq!(got.unwrap(), ExportFormat::Json);
    // No format: the URL's extension, in any case.
    assert_eq!(
        layout(None, "CSV", octets, CSV).await.unwrap(),
        ExportFormat::Csv
    );
    assert_eq!(
        layout(None, "json", "text/csv", JSON).await.unwrap(),
        ExportFormat::Json
    );
    // No format, no known extension: the Content-Type, parameters and `+json` included.
    let csv = layout(None, "bin", "Text/CSV; charset=utf-8", CSV).await;
    assert_eq!(csv.unwrap(), ExportFormat::Csv);
    let json = layout(None, "bin", "application/vnd.api+json", JSON).await;
    assert_eq!(json.unwrap(), ExportFormat::Json);
}

#[tokio::test]
async fn nothing_known_is_unknown_format() {
    match layout(Some("parquet"), "bin", "application/octet-stream", CSV).await {
        Err(ExportError::UnknownFormat {
            format,
            extension,
            content_type,
        }) => {
            assert_eq!(format.as_deref(), Some("parquet"));
            assert_eq!(extension.as_deref(), Some("bin"));
            assert_eq!(content_type.as_deref(), Some("application/octet-stream"));
        }
        other => panic!("expected UnknownFormat, got {other:?}"),
    }
}
