//! Single-object operations: `GET`s of one row, and writes.
//!
//! Writes are validated the way the documentation describes (wrapped bodies, required fields,
//! "Only draft reports can be updated.", …), kept in the store (see `store.rs`) and answered with
//! the object as kept, so a later read, list, summary or export returns exactly that object.
//! Objects under a project (`/projects/{id}/events/{event_id}`) are found only under their own
//! project: another project's id is `404`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::api::{Ctx, Op, Reply};
use super::data::{self, Collection};
use super::store::Row;

/// Every operation that is neither a list nor an export.
pub(crate) fn handle(ctx: &Ctx<'_>) -> Reply {
    let result = match ctx.op {
        Op::GetProject => get(ctx, Collection::Projects, 0),
        Op::GetEvent => get_in_project(ctx, Collection::Events, 1),
        Op::GetDataPoint => get_in_project(ctx, Collection::DataPoints, 2),
        Op::GetBatch => get(ctx, Collection::Batches, 0),
        Op::GetLedger => get(ctx, Collection::Ledgers, 0),
        Op::GetModel => get(ctx, Collection::Models, 0),
        Op::GetModelRun => get(ctx, Collection::ModelRuns, 0),
        Op::GetReport => get(ctx, Collection::Reports, 0),
        Op::GetOrder => get(ctx, Collection::Orders, 0),
        Op::CreateEvent => create_event(ctx),
        Op::UpdateEvent => update_event(ctx),
        Op::CreateEventType => create_event_type(ctx),
        Op::BulkDismissRuleResults => bulk_dismiss(ctx),
        Op::UpdateLedger => update_ledger(ctx),
        Op::UpdateBatchInputs => update_batch_inputs(ctx),
        Op::GetLedgerRequiredInputs => required_inputs(ctx),
        Op::GeneratePreview => generate_preview(ctx),
        Op::CreateBatchGeneration => batch_generation(ctx),
        Op::UpdateModel => update_model(ctx),
        Op::CreateModelVersion => create_model_version(ctx),
        Op::GetModelSchema => model_schema(ctx),
        Op::SimulateModel => simulate(ctx),
        Op::CreateModelRun => create_model_run(ctx),
        Op::UpdateReport => update_report(ctx),
        _ => Err(Reply::message(404, "Not Found")),
    };
    match result {
        Ok(reply) | Err(reply) => reply,
    }
}

type Answer = Result<Reply, Reply>;

/// The index and row of `resource` whose id is path parameter `param`, or `404`.
fn find(ctx: &Ctx<'_>, resource: Collection, param: usize) -> Result<(u64, Row), Reply> {
    let table = ctx.shared.lock().store.table(resource);
    table
        .find(ctx.param(param))
        .and_then(|index| Some((index, table.row(index)?)))
        .ok_or_else(Reply::not_found)
}

/// The project of path parameter 0 (its index), or `404`.
fn project(ctx: &Ctx<'_>) -> Result<u64, Reply> {
    find(ctx, Collection::Projects, 0).map(|(index, _)| index)
}

/// As [`find`], for a row that must belong to the project of path parameter 0.
fn find_in_project(ctx: &Ctx<'_>, resource: Collection, param: usize) -> Result<(u64, Row), Reply> {
    let project = project(ctx)?;
    let (index, row) = find(ctx, resource, param)?;
    let table = ctx.shared.lock().store.table(resource);
    if table.parent_of(index) != Some(project) {
        return Err(Reply::not_found());
    }
    Ok((index, row))
}

fn get(ctx: &Ctx<'_>, resource: Collection, param: usize) -> Answer {
    let (_, row) = find(ctx, resource, param)?;
    Ok(Reply::json(200, &Value::Object(row)))
}

fn get_in_project(ctx: &Ctx<'_>, resource: Collection, param: usize) -> Answer {
    let (_, row) = find_in_project(ctx, resource, param)?;
    Ok(Reply::json(200, &Value::Object(row)))
}

/// Keeps `row` as row `index` of `resource` and answers it with `status`.
fn keep(ctx: &Ctx<'_>, resource: Collection, index: u64, row: Row, status: u16) -> Answer {
    let reply = Reply::json(status, &Value::Object(row.clone()));
    ctx.shared.lock().store.update(resource, index, row);
    Ok(reply)
}

/// Adds `row` to `resource` under `parent` and answers it with `201`.
fn create(ctx: &Ctx<'_>, resource: Collection, row: Row, parent: Option<u64>) -> Answer {
    let reply = Reply::json(201, &Value::Object(row.clone()));
    ctx.shared.lock().store.add(resource, row, parent);
    Ok(reply)
}

/// The next integer id of `resource` (integer ids are the row index + 1).
fn next_int_id(ctx: &Ctx<'_>, resource: Collection) -> u64 {
    ctx.shared.lock().store.table(resource).len() + 1
}

fn now(ctx: &Ctx<'_>) -> String {
    ctx.shared.clock.rfc3339_at(ctx.at)
}

fn unprocessable(message: impl Into<String>) -> Reply {
    Reply::message(422, message)
}

/// The body as a JSON object.
fn object(ctx: &Ctx<'_>) -> Result<Map<String, Value>, Reply> {
    match ctx.json_body()? {
        Value::Object(map) => Ok(map),
        _ => Err(unprocessable("The request body must be a JSON object.")),
    }
}

/// The object under `root` of a wrapped body (`{"event": {...}}`).
fn wrapped(ctx: &Ctx<'_>, root: &str) -> Result<Map<String, Value>, Reply> {
    match object(ctx)?.remove(root) {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(unprocessable(format!(
            "param is missing or the value is empty: {root}"
        ))),
    }
}

/// A required RFC 3339 timestamp field.
fn timestamp(
    body: &Map<String, Value>,
    field: &str,
) -> Result<chrono::DateTime<chrono::FixedOffset>, Reply> {
    body.get(field)
        .and_then(Value::as_str)
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .ok_or_else(|| {
            unprocessable(format!(
                "{field} is required and must be an ISO 8601 timestamp."
            ))
        })
}

/// Copies the listed fields of `from` (when present) into `into`.
fn overlay(into: &mut Map<String, Value>, from: &Map<String, Value>, fields: &[&str]) {
    for field in fields {
        if let Some(value) = from.get(*field) {
            into.insert((*field).to_string(), value.clone());
        }
    }
}

/// A new friendly id (`prefix` + 16 alphanumerics), unique in this process.
fn fresh_id(prefix: &str) -> String {
    const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let mut n = COUNTER
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut id = prefix.to_string();
    for _ in 0..16 {
        id.push(ALNUM[(n % 62) as usize] as char);
        n = n / 62 + 0x2545_F491_4F6C_DD1D;
    }
    id
}

fn create_event(ctx: &Ctx<'_>) -> Answer {
    let project = project(ctx)?;
    let input = wrapped(ctx, "event")?;
    if !input.get("event_type").is_some_and(Value::is_string) {
        return Err(unprocessable("event_type is required."));
    }
    let (start, end) = (
        timestamp(&input, "start_time")?,
        timestamp(&input, "end_time")?,
    );
    if end < start {
        return Err(unprocessable("end_time must be after start_time."));
    }
    let mut event = Row::new();
    for column in data::columns(Collection::Events) {
        event.insert((*column).to_string(), Value::Null);
    }
    event.insert("id".into(), json!(fresh_id("evt_")));
    event.insert("status".into(), json!("complete"));
    event.insert("created_at".into(), json!(now(ctx)));
    event.insert("updated_at".into(), json!(now(ctx)));
    for list in ["data_points", "locations", "evidences"] {
        event.insert(list.into(), json!([]));
    }
    apply_event_input(ctx, project, &mut event, &input);
    create(ctx, Collection::Events, event, Some(project))
}

/// Copies the fields of an event input into `event`. `event_type` (a slug) sets `slug`, and
/// `event_type` to the name of the project's event type with that slug (the slug itself when the
/// project has none: GAP choice, the fake does not refuse unknown types).
fn apply_event_input(ctx: &Ctx<'_>, project: u64, event: &mut Row, input: &Row) {
    if let Some(slug) = input.get("event_type").and_then(Value::as_str) {
        event.insert("slug".into(), json!(slug));
        let types = ctx.shared.lock().store.table(Collection::EventTypes);
        let name = (0..types.len())
            .filter(|&j| types.parent_of(j) == Some(project))
            .filter_map(|j| types.row(j))
            .find(|t| t.get("slug").and_then(Value::as_str) == Some(slug))
            .and_then(|t| t.get("name").cloned())
            .unwrap_or_else(|| json!(slug));
        event.insert("event_type".into(), name);
    }
    overlay(
        event,
        input,
        &["start_time", "end_time", "tracking_id", "notes"],
    );
    if let Some(Value::Array(locations)) = input.get("locations") {
        event.insert("locations".into(), Value::Array(locations.clone()));
    }
    if let Some(Value::Array(points)) = input.get("data_points") {
        let points = points
            .iter()
            .map(|p| {
                json!({
                    "id": fresh_id("in_"),
                    "slug": p.get("slug").cloned().unwrap_or(Value::Null),
                    "value": p.get("value").cloned().unwrap_or(Value::Null),
                    "status": "complete",
                })
            })
            .collect();
        event.insert("data_points".into(), Value::Array(points));
    }
}

fn update_event(ctx: &Ctx<'_>) -> Answer {
    let (index, mut event) = find_in_project(ctx, Collection::Events, 1)?;
    let input = wrapped(ctx, "event")?;
    for field in ["start_time", "end_time"] {
        if input.contains_key(field) {
            timestamp(&input, field)?;
        }
    }
    let project = project(ctx)?;
    apply_event_input(ctx, project, &mut event, &input);
    event.insert("updated_at".into(), json!(now(ctx)));
    keep(ctx, Collection::Events, index, event, 200)
}

fn create_event_type(ctx: &Ctx<'_>) -> Answer {
    let project = project(ctx)?;
    let input = wrapped(ctx, "event_type")?;
    let Some(name) = input
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
    else {
        return Err(unprocessable("name can't be blank."));
    };
    let slug = match input.get("slug").and_then(Value::as_str) {
        Some(slug) => slug.to_string(),
        None => name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect(),
    };
    let id = next_int_id(ctx, Collection::EventTypes);
    let row = json!({
        "id": id,
        "slug": slug,
        "name": name,
        "description": input.get("description").cloned().unwrap_or(Value::Null),
        "is_static": false,
        "data_point_types": [],
        "created_at": now(ctx),
        "updated_at": now(ctx),
    });
    let Value::Object(row) = row else {
        return Err(Reply::message(500, "event type is not an object"));
    };
    create(ctx, Collection::EventTypes, row, Some(project))
}

fn bulk_dismiss(ctx: &Ctx<'_>) -> Answer {
    let body = object(ctx)?;
    let reason = body.get("reason").and_then(Value::as_str).unwrap_or("");
    if reason.trim().is_empty() {
        return Err(unprocessable("reason can't be blank."));
    }
    let ids: Vec<&str> = match body.get("result_ids") {
        Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if ids.is_empty() {
        return Err(unprocessable("result_ids can't be empty."));
    }
    if let Some(bad) = ids
        .iter()
        .find(|id| !(id.starts_with("dpres_") || id.starts_with("mrres_")))
    {
        return Err(unprocessable(format!(
            "Unknown rule result id {bad:?}; nothing was dismissed."
        )));
    }
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "status": "dismissed",
                "dismissed_at": now(ctx),
                "dismissed_by": "api",
                "dismissal_reason": reason,
            })
        })
        .collect();
    Ok(Reply::json(200, &json!({ "data": data })))
}

fn update_ledger(ctx: &Ctx<'_>) -> Answer {
    let (index, mut ledger) = find(ctx, Collection::Ledgers, 0)?;
    let input = wrapped(ctx, "ledger")?;
    if ledger
        .get("system_ledger_type")
        .is_some_and(|t| !t.is_null())
    {
        return Err(unprocessable("Cannot update system ledgers."));
    }
    overlay(&mut ledger, &input, &["name"]);
    ledger.insert("updated_at".into(), json!(now(ctx)));
    keep(ctx, Collection::Ledgers, index, ledger, 200)
}

fn update_batch_inputs(ctx: &Ctx<'_>) -> Answer {
    find(ctx, Collection::Ledgers, 0)?;
    let (collection, (index, mut batch)) = find(ctx, Collection::LedgerBatches, 1)
        .map(|found| (Collection::LedgerBatches, found))
        .or_else(|_| find(ctx, Collection::Batches, 1).map(|found| (Collection::Batches, found)))?;
    let body = object(ctx)?;
    if let Some(ids) = body.get("data_point_ids") {
        let ok = ids.as_array().is_some_and(|ids| {
            ids.iter().all(|id| {
                id.as_str()
                    .is_some_and(|s| s.starts_with("in_") || s.starts_with("dp_"))
            })
        });
        if !ok {
            return Err(unprocessable("Unknown data_point_ids."));
        }
    }
    if let Some(Value::Array(amounts)) = body.get("batch_amounts") {
        let batches = ctx.shared.lock().store.table(Collection::Batches);
        for amount in amounts {
            let id = amount.get("batch_id").and_then(Value::as_str).unwrap_or("");
            if batches.find(id).is_none() {
                return Err(Reply::not_found());
            }
        }
    }
    if let Some(skipped) = body.get("skipped_data_point_type_ids") {
        if !skipped
            .as_array()
            .is_some_and(|ids| ids.iter().all(Value::is_u64))
        {
            return Err(unprocessable("Unknown skipped_data_point_type_ids."));
        }
    }
    // The batch is recalculated: kept as `processing` (GAP choice: the fake never finishes it).
    batch.insert("state".into(), json!("processing"));
    batch.insert("updated_at".into(), json!(now(ctx)));
    let mut slim = Map::new();
    overlay(
        &mut slim,
        &batch,
        &[
            "id",
            "tracking_id",
            "start_time",
            "end_time",
            "created_at",
            "state",
            "updated_at",
        ],
    );
    ctx.shared.lock().store.update(collection, index, batch);
    Ok(Reply::json(200, &Value::Object(slim)))
}

fn required_inputs(ctx: &Ctx<'_>) -> Answer {
    find(ctx, Collection::Ledgers, 0)?;
    Ok(Reply::json(200, &json!({ "data": required_input_list() })))
}

fn required_input_list() -> Value {
    json!([
        {"slug": "feedstock-mass", "name": "Feedstock mass", "type": "number", "unit": "t",
         "description": "Mass of feedstock processed", "is_manual_select": false},
        {"slug": "moisture-content", "name": "Moisture content", "type": "number", "unit": "%",
         "description": "Moisture content of the feedstock", "is_manual_select": false},
        {"slug": "lab-report", "name": "Lab report", "type": "string", "unit": null,
         "description": "Laboratory analysis", "is_manual_select": true},
    ])
}

/// The time range of a generation request, validated.
fn generation_range(ctx: &Ctx<'_>) -> Result<i64, Reply> {
    let body = object(ctx)?;
    let (start, end) = (
        timestamp(&body, "start_time")?,
        timestamp(&body, "end_time")?,
    );
    if end < start {
        return Err(unprocessable("end_time must be after start_time."));
    }
    Ok((end - start).num_days())
}

fn generate_preview(ctx: &Ctx<'_>) -> Answer {
    let (_, ledger) = find(ctx, Collection::Ledgers, 0)?;
    let days = generation_range(ctx)?;
    let count = (days / 30).max(1);
    Ok(Reply::json(
        200,
        &json!({ "data": [{ "id": ledger.get("id"), "name": ledger.get("name"), "count": count }] }),
    ))
}

fn batch_generation(ctx: &Ctx<'_>) -> Answer {
    find(ctx, Collection::Ledgers, 0)?;
    generation_range(ctx)?;
    Ok(Reply::json(
        202,
        &json!({ "id": fresh_id("bg_"), "status": "pending" }),
    ))
}

fn update_model(ctx: &Ctx<'_>) -> Answer {
    let (index, mut model) = find(ctx, Collection::Models, 0)?;
    let input = wrapped(ctx, "model")?;
    overlay(&mut model, &input, &["cadence", "partition_type"]);
    model.insert("updated_at".into(), json!(now(ctx)));
    keep(ctx, Collection::Models, index, model, 200)
}

fn create_model_version(ctx: &Ctx<'_>) -> Answer {
    let (index, mut model) = find(ctx, Collection::Models, 0)?;
    let body = object(ctx)?;
    if body
        .get("yaml")
        .and_then(Value::as_str)
        .is_none_or(|y| y.trim().is_empty())
    {
        return Err(unprocessable("yaml can't be blank."));
    }
    // A new version is a new model row (its own `mdl_` id, GAP choice) of the same project;
    // the version it replaces is no longer the latest.
    let mut previous = model.clone();
    previous.insert("is_latest".into(), json!(false));
    let version = model.get("version").and_then(Value::as_u64).unwrap_or(1) + 1;
    model.insert("id".into(), json!(fresh_id("mdl_")));
    model.insert("version".into(), json!(version));
    model.insert("is_latest".into(), json!(true));
    model.insert("created_at".into(), json!(now(ctx)));
    model.insert("updated_at".into(), json!(now(ctx)));
    let parent = {
        let mut state = ctx.shared.lock();
        state.store.update(Collection::Models, index, previous);
        state.store.table(Collection::Models).parent_of(index)
    };
    create(ctx, Collection::Models, model, parent)
}

fn model_schema(ctx: &Ctx<'_>) -> Answer {
    let (_, model) = find(ctx, Collection::Models, 0)?;
    Ok(Reply::json(
        200,
        &json!({
            "model": { "id": model.get("id"), "name": model.get("name"), "version": model.get("version") },
            "required_inputs": required_input_list(),
            "outputs": [{ "id": 1, "name": "Net Carbon Removal", "unit": "t", "ghg": "co2e", "lca_role": "net" }],
            "operators": ["+", "-", "*", "/", "sum"],
            "example_simulation": {
                "inputs": { "feedstock-mass": 100.0, "moisture-content": 12.5 },
                "start_time": "2025-01-01T00:00:00.000Z",
                "end_time": "2025-01-31T23:59:59.000Z",
            },
        }),
    ))
}

fn simulate(ctx: &Ctx<'_>) -> Answer {
    find(ctx, Collection::Models, 0)?;
    let body = object(ctx)?;
    let Some(Value::Object(inputs)) = body.get("inputs") else {
        return Err(unprocessable("inputs is required."));
    };
    timestamp(&body, "start_time")?;
    timestamp(&body, "end_time")?;
    let total: f64 = inputs.values().filter_map(Value::as_f64).sum();
    let result = (total * 0.5 * 100.0).round() / 100.0;
    // GAP choice: JSON has no infinity or NaN, and `results` holds numbers, so inputs whose
    // result is not a finite number (a sum past f64::MAX) are refused with a 422, the way a
    // real API validates inputs, rather than answered with a `null` the spec does not allow.
    if !result.is_finite() {
        return Err(unprocessable(
            "The inputs give a result that is not a finite number; use smaller inputs.",
        ));
    }
    Ok(Reply::json(
        200,
        &json!({
            "results": { "net-carbon-removal": result },
            "errors": [],
            "execution_time_ms": 1.5,
        }),
    ))
}

fn create_model_run(ctx: &Ctx<'_>) -> Answer {
    let (model, _) = find(ctx, Collection::Models, 0)?;
    let input = wrapped(ctx, "model_run")?;
    let (start, end) = (
        timestamp(&input, "start_time")?,
        timestamp(&input, "end_time")?,
    );
    if end < start {
        return Err(unprocessable("end_time must be after start_time."));
    }
    let id = next_int_id(ctx, Collection::ModelRuns);
    // The seeded run of that index gives plausible calculations and outputs.
    let mut run = data::row(Collection::ModelRuns, id - 1);
    run.insert("id".into(), json!(id));
    overlay(&mut run, &input, &["start_time", "end_time"]);
    run.insert("state".into(), json!("complete"));
    run.insert("error_message".into(), Value::Null);
    run.insert("created_at".into(), json!(now(ctx)));
    run.insert("updated_at".into(), json!(now(ctx)));
    create(ctx, Collection::ModelRuns, run, Some(model))
}

fn update_report(ctx: &Ctx<'_>) -> Answer {
    let (index, mut report) = find(ctx, Collection::Reports, 0)?;
    let input = wrapped(ctx, "report")?;
    if report.get("status").and_then(Value::as_str) != Some("draft") {
        return Err(unprocessable("Only draft reports can be updated."));
    }
    if let Some(Value::Array(ids)) = input.get("batch_ids") {
        let batches = ctx.shared.lock().store.table(Collection::Batches);
        if let Some(bad) = ids
            .iter()
            .find(|id| id.as_str().is_none_or(|id| batches.find(id).is_none()))
        {
            return Err(unprocessable(format!("Unknown batch id {bad}.")));
        }
    }
    overlay(&mut report, &input, &["name"]);
    report.insert("updated_at".into(), json!(now(ctx)));
    keep(ctx, Collection::Reports, index, report, 200)
}
