//! List endpoints in their three response modes.

use serde_json::{json, Map, Value};

use super::api::{Ctx, Op, Reply};
use super::data::Collection;
use super::query::{Query, Selection};
use super::store::Table;
use super::{exports, TokenKind};
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

/// The parent row a nested list (`/projects/{id}/events`, …) serves the rows of: its index in
/// the parent collection, or `404` when there is no such parent. `None` for top-level lists.
fn parent(ctx: &Ctx<'_>) -> Result<Option<u64>, Reply> {
    let parent = match ctx.op {
        Op::ListEvents | Op::ListEventTypes | Op::ListDataPoints => Collection::Projects,
        Op::ListLedgerBatches => Collection::Ledgers,
        Op::ListBatchEvidences => Collection::Batches,
        Op::ListModelRuns => Collection::Models,
        _ => return Ok(None),
    };
    let table = ctx.shared.lock().store.table(parent);
    table
        .find(ctx.param(0))
        .map(Some)
        .ok_or_else(Reply::not_found)
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
    let page = positive(ctx.query("page"), 1, "page")?;
    let page_size = positive(ctx.query("page_size"), 10, "page_size")?;
    let parent = parent(ctx)?;
    let query = Query::parse(resource, &ctx.query, parent)?;
    let table = ctx.shared.lock().store.table(resource);
    let selection = query.select(&table);

    match mode {
        Mode::Default => Ok(Reply::json(
            200,
            &page_body(
                &table,
                &selection,
                &query,
                page,
                page_size,
                ctx.shared.config.page_size_max,
            ),
        )),
        Mode::Summary => Ok(Reply::json(
            200,
            &Value::Object(summary(&table, &selection, "summary")),
        )),
        Mode::SummaryWithExport => {
            if ctx.token != TokenKind::Account {
                return Err(exports::forbidden());
            }
            if !resource.exportable() {
                return Ok(Reply::json(
                    200,
                    &Value::Object(summary(&table, &selection, "summary")),
                ));
            }
            let mut body = summary(&table, &selection, "summary_with_export");
            let export = exports::start(ctx, resource, format, query)?;
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

/// A `default`-mode page. Builds only the rows on the page.
fn page_body(
    table: &Table,
    selection: &Selection,
    query: &Query,
    page: u64,
    page_size: u64,
    max: u64,
) -> Value {
    let total = selection.len();
    let size = page_size.min(max).max(1);
    let total_pages = total.div_ceil(size).max(1);
    let start = (page - 1).saturating_mul(size);
    let end = start.saturating_add(size).min(total);
    let data: Vec<Value> = (start..end)
        .filter_map(|k| selection.get(k).and_then(|i| table.row(i)))
        .map(Value::Object)
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
            "sort": query.sort_info(),
            "filter": query.filter_info(),
        }
    })
}

/// `{count, samples, response_mode}`: the selected count and the first ten selected rows.
fn summary(table: &Table, selection: &Selection, mode: &str) -> Map<String, Value> {
    let samples: Vec<Value> = (0..selection.len().min(SAMPLES))
        .filter_map(|k| selection.get(k).and_then(|i| table.row(i)))
        .map(Value::Object)
        .collect();
    let mut body = Map::new();
    body.insert("count".into(), json!(selection.len()));
    body.insert("samples".into(), Value::Array(samples));
    body.insert("response_mode".into(), json!(mode));
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::data::Links;
    use crate::testing::store::Store;

    #[test]
    fn pages_are_lazy_and_bounded() {
        let store = Store::new(Links::new(|_| 1_000_000));
        let table = store.table(Collection::Projects);
        let all = Query::default();
        let selection = all.select(&table);
        let body = page_body(&table, &selection, &all, 50_000, 20, 100);
        assert_eq!(body["data"].as_array().map(Vec::len), Some(20));
        assert_eq!(body["info"]["next_page"], Value::Null);
        assert_eq!(body["info"]["total_pages"], json!(50_000));
        assert_eq!(body["info"]["sort"], json!([]));
        let small = Store::new(Links::new(|_| 3));
        let table = small.table(Collection::Projects);
        let selection = all.select(&table);
        let past = page_body(
            &table,
            &selection,
            &all,
            i64::MAX as u64,
            i64::MAX as u64,
            100,
        );
        assert_eq!(past["data"], json!([]));
        assert_eq!(past["info"]["page_size"], json!(100));
        let empty = Store::new(Links::new(|_| 0));
        let table = empty.table(Collection::Projects);
        let selection = all.select(&table);
        let body = page_body(&table, &selection, &all, 1, 10, 100);
        assert_eq!(body["info"]["total_pages"], json!(1));
        assert_eq!(body["info"]["next_page"], Value::Null);
    }
}
