//! Single-object operations: `GET`s of one row, and writes answered with plausible objects.
//!
//! Writes are validated the way the documentation describes (wrapped bodies, required fields,
//! "Only draft reports can be updated.", …) and answered with an object built from the seeded
//! row and the request, but nothing is stored.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

use super::api::{Ctx, Op, Reply};
use super::data::{self, Collection};
use super::lookup;

/// Every operation that is neither a list nor an export.
pub(crate) fn handle(ctx: &Ctx<'_>) -> Reply {
    let result = match ctx.op {
        Op::GetProject => get(ctx, Collection::Projects, 0),
        Op::GetEvent => get(ctx, Collection::Events, 1),
        Op::GetDataPoint => get(ctx, Collection::DataPoints, 2),
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

/// The row of `resource` whose id is path parameter `param`, or `404`.
fn find(ctx: &Ctx<'_>, resource: Collection, param: usize) -> Result<Map<String, Value>, Reply> {
    lookup::find(resource, ctx.shared.config.rows(resource), ctx.param(param))
        .ok_or_else(Reply::not_found)
}

fn get(ctx: &Ctx<'_>, resource: Collection, param: usize) -> Answer {
    Ok(Reply::json(
        200,
        &Value::Object(find(ctx, resource, param)?),
    ))
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
    let rows = ctx.shared.config.rows(Collection::Events);
    let mut event = data::row(Collection::Events, rows);
    event.insert("id".into(), json!(fresh_id("evt_")));
    apply_event_input(&mut event, &input);
    event.insert("status".into(), json!("complete"));
    event.insert("created_at".into(), json!(now(ctx)));
    event.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(201, &Value::Object(event)))
}

fn apply_event_input(event: &mut Map<String, Value>, input: &Map<String, Value>) {
    if let Some(slug) = input.get("event_type") {
        event.insert("slug".into(), slug.clone());
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
    let mut event = find(ctx, Collection::Events, 1)?;
    let input = wrapped(ctx, "event")?;
    for field in ["start_time", "end_time"] {
        if input.contains_key(field) {
            timestamp(&input, field)?;
        }
    }
    apply_event_input(&mut event, &input);
    event.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(200, &Value::Object(event)))
}

fn create_event_type(ctx: &Ctx<'_>) -> Answer {
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
    let id = ctx.shared.config.rows(Collection::EventTypes) + 1;
    Ok(Reply::json(
        201,
        &json!({
            "id": id,
            "slug": slug,
            "name": name,
            "description": input.get("description").cloned().unwrap_or(Value::Null),
            "is_static": false,
            "data_point_types": [],
            "created_at": now(ctx),
            "updated_at": now(ctx),
        }),
    ))
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
    let mut ledger = find(ctx, Collection::Ledgers, 0)?;
    let input = wrapped(ctx, "ledger")?;
    if ledger
        .get("system_ledger_type")
        .is_some_and(|t| !t.is_null())
    {
        return Err(unprocessable("Cannot update system ledgers."));
    }
    overlay(&mut ledger, &input, &["name"]);
    ledger.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(200, &Value::Object(ledger)))
}

fn update_batch_inputs(ctx: &Ctx<'_>) -> Answer {
    find(ctx, Collection::Ledgers, 0)?;
    let batch =
        find(ctx, Collection::LedgerBatches, 1).or_else(|_| find(ctx, Collection::Batches, 1))?;
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
        let rows = ctx.shared.config.rows(Collection::Batches);
        for amount in amounts {
            let id = amount.get("batch_id").and_then(Value::as_str).unwrap_or("");
            if lookup::find(Collection::Batches, rows, id).is_none() {
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
    let mut slim = Map::new();
    overlay(
        &mut slim,
        &batch,
        &["id", "tracking_id", "start_time", "end_time", "created_at"],
    );
    slim.insert("state".into(), json!("processing"));
    slim.insert("updated_at".into(), json!(now(ctx)));
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
    let ledger = find(ctx, Collection::Ledgers, 0)?;
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
    let mut model = find(ctx, Collection::Models, 0)?;
    let input = wrapped(ctx, "model")?;
    overlay(&mut model, &input, &["cadence", "partition_type"]);
    model.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(200, &Value::Object(model)))
}

fn create_model_version(ctx: &Ctx<'_>) -> Answer {
    let mut model = find(ctx, Collection::Models, 0)?;
    let body = object(ctx)?;
    if body
        .get("yaml")
        .and_then(Value::as_str)
        .is_none_or(|y| y.trim().is_empty())
    {
        return Err(unprocessable("yaml can't be blank."));
    }
    let version = model.get("version").and_then(Value::as_u64).unwrap_or(1) + 1;
    model.insert("version".into(), json!(version));
    model.insert("is_latest".into(), json!(true));
    model.insert("created_at".into(), json!(now(ctx)));
    model.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(201, &Value::Object(model)))
}

fn model_schema(ctx: &Ctx<'_>) -> Answer {
    let model = find(ctx, Collection::Models, 0)?;
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
    Ok(Reply::json(
        200,
        &json!({
            "results": { "net-carbon-removal": (total * 0.5 * 100.0).round() / 100.0 },
            "errors": [],
            "execution_time_ms": 1.5,
        }),
    ))
}

fn create_model_run(ctx: &Ctx<'_>) -> Answer {
    find(ctx, Collection::Models, 0)?;
    let input = wrapped(ctx, "model_run")?;
    let (start, end) = (
        timestamp(&input, "start_time")?,
        timestamp(&input, "end_time")?,
    );
    if end < start {
        return Err(unprocessable("end_time must be after start_time."));
    }
    let rows = ctx.shared.config.rows(Collection::ModelRuns);
    let mut run = data::row(Collection::ModelRuns, rows);
    overlay(&mut run, &input, &["start_time", "end_time"]);
    run.insert("state".into(), json!("complete"));
    run.insert("error_message".into(), Value::Null);
    run.insert("created_at".into(), json!(now(ctx)));
    run.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(201, &Value::Object(run)))
}

fn update_report(ctx: &Ctx<'_>) -> Answer {
    let mut report = find(ctx, Collection::Reports, 0)?;
    let input = wrapped(ctx, "report")?;
    if report.get("status").and_then(Value::as_str) != Some("draft") {
        return Err(unprocessable("Only draft reports can be updated."));
    }
    if let Some(Value::Array(ids)) = input.get("batch_ids") {
        let rows = ctx.shared.config.rows(Collection::Batches);
        if let Some(bad) = ids.iter().find(|id| {
            id.as_str()
                .is_none_or(|id| lookup::find(Collection::Batches, rows, id).is_none())
        }) {
            return Err(unprocessable(format!("Unknown batch id {bad}.")));
        }
    }
    overlay(&mut report, &input, &["name"]);
    report.insert("updated_at".into(), json!(now(ctx)));
    Ok(Reply::json(200, &Value::Object(report)))
}
