//! List endpoints in their three response modes.

use serde_json::{json, Map, Value};

use super::api::{Ctx, Reply};
use super::data::{self, Collection};
use super::{exports, request_schema, TokenKind};
use crate::ExportFormat;

/// Number of samples in a summary.
const SAMPLES: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Default,
    Summary,
    SummaryWithExport,
}

/// `GET` of a list endpoint serving `resource`.
pub(crate) fn list(ctx: &Ctx<'_>, resource: Collection) -> Reply {
    match answer(ctx, resource) {
        Ok(reply) | Err(reply) => reply,
    }
}

fn answer(ctx: &Ctx<'_>, resource: Collection) -> Result<Reply, Reply> {
    let mode = match ctx.query("response_mode") {
        None | Some("default") => Mode::Default,
        Some("summary") => Mode::Summary,
        Some("summary_with_export") => Mode::SummaryWithExport,
        Some(other) => {
            return Err(Reply::message(
                400,
                format!("Invalid response_mode {other:?}: expected default, summary or summary_with_export."),
            ))
        }
    };
    let format = export_format(ctx.query("export_format"))
        .map_err(|message| Reply::message(400, message))?;
    request_schema::check_query(ctx)?;
    let page = positive(ctx.query("page"), 1, "page")?;
    let page_size = positive(ctx.query("page_size"), 10, "page_size")?;
    let total = ctx.shared.config.rows(resource);

    match mode {
        Mode::Default => Ok(Reply::json(
            200,
            &page_body(
                resource,
                total,
                page,
                page_size,
                ctx.shared.config.page_size_max,
            ),
        )),
        Mode::Summary => Ok(Reply::json(
            200,
            &Value::Object(summary(resource, total, "summary")),
        )),
        Mode::SummaryWithExport => {
            if ctx.token != TokenKind::Account {
                return Err(exports::forbidden());
            }
            if !resource.exportable() {
                return Ok(Reply::json(
                    200,
                    &Value::Object(summary(resource, total, "summary")),
                ));
            }
            let export = exports::start(ctx, resource, format)?;
            let mut body = summary(resource, total, "summary_with_export");
            body.insert("export".into(), export);
            Ok(Reply::json(200, &Value::Object(body)))
        }
    }
}

/// `export_format` (default csv).
pub(crate) fn export_format(value: Option<&str>) -> Result<ExportFormat, String> {
    match value {
        None | Some("csv") => Ok(ExportFormat::Csv),
        Some("json") => Ok(ExportFormat::Json),
        Some(other) => Err(format!(
            "Invalid export format {other:?}: expected csv or json."
        )),
    }
}

/// A positive integer query parameter.
fn positive(value: Option<&str>, default: u64, name: &str) -> Result<u64, Reply> {
    match value {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if n >= 1 && i64::try_from(n).is_ok() => Ok(n),
            _ => Err(Reply::message(
                400,
                format!("{name} must be a positive integer, got {text:?}."),
            )),
        },
    }
}

/// A `default`-mode page. Generates only the rows on the page.
fn page_body(resource: Collection, total: u64, page: u64, page_size: u64, max: u64) -> Value {
    let size = page_size.min(max).max(1);
    let total_pages = total.div_ceil(size).max(1);
    let start = (page - 1).saturating_mul(size);
    let end = start.saturating_add(size).min(total);
    let data: Vec<Value> = (start..end)
        .map(|i| Value::Object(data::row(resource, i)))
        .collect();
    json!({
        "data": data,
        "info": {
            "items": data.len(),
            "page_size": size,
            "total_items": total,
            "current_page": page,
            "next_page": if page < total_pages { Some(page + 1) } else { None },
            "previous_page": if page > 1 { Some(page - 1) } else { None },
            "total_pages": total_pages,
            "sort": [],
            "filter": [],
        }
    })
}

/// `{count, samples, response_mode}` with the first ten rows as samples.
fn summary(resource: Collection, total: u64, mode: &str) -> Map<String, Value> {
    let samples: Vec<Value> = (0..total.min(SAMPLES))
        .map(|i| Value::Object(data::row(resource, i)))
        .collect();
    let mut body = Map::new();
    body.insert("count".into(), json!(total));
    body.insert("samples".into(), Value::Array(samples));
    body.insert("response_mode".into(), json!(mode));
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_lazy_and_bounded() {
        let body = page_body(Collection::Projects, 1_000_000, 50_000, 20, 100);
        assert_eq!(body["data"].as_array().map(Vec::len), Some(20));
        assert_eq!(body["info"]["next_page"], Value::Null);
        assert_eq!(body["info"]["total_pages"], json!(50_000));
        let past = page_body(
            Collection::Projects,
            3,
            i64::MAX as u64,
            i64::MAX as u64,
            100,
        );
        assert_eq!(past["data"], json!([]));
        assert_eq!(past["info"]["page_size"], json!(100));
        let empty = page_body(Collection::Projects, 0, 1, 10, 100);
        assert_eq!(empty["info"]["total_pages"], json!(1));
        assert_eq!(empty["info"]["next_page"], Value::Null);
    }
}
