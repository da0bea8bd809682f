//! Whether a downloaded file holds CSV or JSON records.

use crate::error::ExportError;
use crate::open_enum::ExportFormat;

/// The records layout of a file: the export's `format` if it is CSV or JSON, else the download
/// URL's extension, else the storage host's `Content-Type`; else [`ExportError::UnknownFormat`]
/// with what each said, passed through `scrub` (they come from the server or its URL).
pub(super) fn layout(
    format: Option<&ExportFormat>,
    download_url: &str,
    content_type: Option<&str>,
    scrub: impl Fn(&str) -> String,
) -> Result<ExportFormat, ExportError> {
    let url = url::Url::parse(download_url).ok();
    // The URL's last path segment: the query (the signature) is not part of it.
    let name = url.as_ref().and_then(|u| u.path_segments()?.next_back());
    let extension = name.and_then(|n| n.rsplit_once('.')).map(|(_, e)| e);
    (format.cloned())
        .filter(|f| matches!(f, ExportFormat::Csv | ExportFormat::Json))
        .or_else(|| extension.and_then(known))
        .or_else(|| content_type.and_then(|c| known(c.split(';').next()?)))
        .ok_or_else(|| ExportError::UnknownFormat {
            format: format.map(|f| scrub(f.as_str())),
            extension: extension.filter(|e| !e.is_empty()).map(&scrub),
            content_type: content_type.map(&scrub),
        })
}

/// The layout an extension or a media type names, in any case.
fn known(name: &str) -> Option<ExportFormat> {
    match name.trim().to_ascii_lowercase().as_str() {
        "csv" | "text/csv" | "application/csv" | "text/comma-separated-values" => {
            Some(ExportFormat::Csv)
        }
        "json" | "application/json" | "text/json" => Some(ExportFormat::Json),
        other if other.ends_with("+json") => Some(ExportFormat::Json),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://files.example/exports/e1.csv?signature=secret";
    const BARE: &str = "https://files.example/exports/e1?signature=secret";

    fn of(
        format: Option<ExportFormat>,
        url: &str,
        content_type: Option<&str>,
    ) -> Result<ExportFormat, ExportError> {
        layout(format.as_ref(), url, content_type, |text| {
            format!("<{text}>")
        })
    }

    #[test]
    fn the_format_comes_first_then_the_extension_then_the_content_type() {
        let json = Some("application/json");
        assert_eq!(
            of(Some(ExportFormat::Json), URL, None).ok(),
            Some(ExportFormat::Json)
        );
        assert_eq!(of(None, URL, json).ok(), Some(ExportFormat::Csv));
        assert_eq!(of(None, BARE, json).ok(), Some(ExportFormat::Json));
        assert_eq!(
            of(None, BARE, Some("Text/CSV; charset=utf-8")).ok(),
            Some(ExportFormat::Csv)
        );
        assert_eq!(
            of(None, BARE, Some("application/vnd.api+json")).ok(),
            Some(ExportFormat::Json)
        );
        assert_eq!(
            of(None, "https://f.example/x.JSON", None).ok(),
            Some(ExportFormat::Json)
        );
        // A format the records cannot read gives way to the extension.
        let parquet = ExportFormat::Unknown("parquet".to_owned());
        assert_eq!(of(Some(parquet), URL, None).ok(), Some(ExportFormat::Csv));
    }

    #[test]
    fn unknown_layouts_say_what_each_source_said_scrubbed() {
        let parquet = ExportFormat::Unknown("parquet".to_owned());
        let error = of(
            Some(parquet),
            "https://f.example/e1.bin?sig=x",
            Some("application/octet-stream"),
        );
        match error {
            Err(ExportError::UnknownFormat {
                format,
                extension,
                content_type,
            }) => {
                assert_eq!(format.as_deref(), Some("<parquet>"));
                assert_eq!(extension.as_deref(), Some("<bin>"));
                assert_eq!(content_type.as_deref(), Some("<application/octet-stream>"));
            }
            other => panic!("{other:?}"),
        }
        match of(None, "not a url", None) {
            Err(ExportError::UnknownFormat {
                format: None,
                extension: None,
                content_type: None,
            }) => {}
            other => panic!("{other:?}"),
        }
    }
}
