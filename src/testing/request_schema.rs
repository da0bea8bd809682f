//! What the spec types about a request, checked before the fake answers it.
//!
//! A request body that breaks `openapi.yaml` (a mistyped field, a `null` where the spec declares a
//! value) is refused with a message (filters are checked where they are parsed, in `query.rs`),
//! so the fake never echoes mistyped input back. Bodies are checked against the SDK's own
//! generated request types (built from the same spec) plus one rule serde cannot see: no request
//! field of the spec is nullable, so a declared field sent as `null` is refused. Undeclared fields
//! are allowed (every request object is open), as the spec says.
//!
//! Business rules the spec cannot express (end before start, draft-only updates, blank strings,
//! unknown ids) stay in the handlers and answer `422`.

use schemars::schema::{RootSchema, Schema, SingleOrVec};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::api::{Ctx, Op, Reply};
use crate::types;

/// `422` with a message when the body of a write does not match its request schema.
pub(crate) fn check_body(ctx: &Ctx<'_>) -> Result<(), Reply> {
    let check: fn(&Value) -> Result<(), String> = match ctx.op {
        Op::CreateEvent | Op::UpdateEvent => typed::<types::EventRequest>,
        Op::CreateEventType => typed::<types::EventTypeRequest>,
        Op::BulkDismissRuleResults => typed::<types::BulkDismissRequest>,
        Op::UpdateLedger => typed::<types::LedgerRequest>,
        Op::UpdateBatchInputs => typed::<types::UpdateBatchInputsRequest>,
        Op::GeneratePreview | Op::CreateBatchGeneration => typed::<types::GenerationRequest>,
        Op::UpdateModel => typed::<types::ModelRequest>,
        Op::CreateModelVersion => typed::<types::ModelVersionRequest>,
        Op::SimulateModel => typed::<types::SimulationRequest>,
        Op::CreateModelRun => typed::<types::ModelRunRequest>,
        Op::UpdateReport => typed::<types::ReportRequest>,
        Op::CreateExport => typed::<types::CreateExportRequest>,
        _ => return Ok(()),
    };
    let body = ctx.json_body()?;
    check(&body).map_err(|message| Reply::message(422, message))
}

/// Whether `body` is a `T` and sends no declared field as `null`.
fn typed<T>(body: &Value) -> Result<(), String>
where
    T: DeserializeOwned + schemars::JsonSchema,
{
    let root = schemars::schema_for!(T);
    no_declared_nulls(body, &Schema::Object(root.schema.clone()), &root, "body")?;
    T::deserialize(body)
        .map(drop)
        .map_err(|e| format!("The request body does not match the schema: {e}."))
}

/// Refuses a `null` for any property `schema` declares, at any depth.
fn no_declared_nulls(
    value: &Value,
    schema: &Schema,
    root: &RootSchema,
    path: &str,
) -> Result<(), String> {
    let Schema::Object(object) = schema else {
        return Ok(());
    };
    if let Some(reference) = &object.reference {
        let name = reference.trim_start_matches("#/definitions/");
        return match root.definitions.get(name) {
            Some(schema) => no_declared_nulls(value, schema, root, path),
            None => Ok(()),
        };
    }
    if let Some(sub) = &object.subschemas {
        let alternatives = [&sub.all_of, &sub.any_of, &sub.one_of];
        for schema in alternatives.into_iter().flatten().flatten() {
            no_declared_nulls(value, schema, root, path)?;
        }
    }
    match value {
        Value::Object(map) => {
            let Some(declared) = object.object.as_ref() else {
                return Ok(());
            };
            for (key, item) in map {
                let Some(property) = declared.properties.get(key) else {
                    continue;
                };
                let at = format!("{path}.{key}");
                if item.is_null() {
                    return Err(format!("{at} must not be null."));
                }
                no_declared_nulls(item, property, root, &at)?;
            }
        }
        Value::Array(items) => {
            if let Some(SingleOrVec::Single(item_schema)) =
                object.array.as_ref().and_then(|a| a.items.as_ref())
            {
                for (i, item) in items.iter().enumerate() {
                    no_declared_nulls(item, item_schema, root, &format!("{path}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_checked_against_the_request_types() {
        let ok = json!({"event_type": {"name": "Delivery", "extra": null, "requires_tracking_id": true}});
        assert_eq!(typed::<types::EventTypeRequest>(&ok), Ok(()));
        let mistyped = json!({"event_type": {"name": "x", "requires_tracking_id": []}});
        assert!(typed::<types::EventTypeRequest>(&mistyped).is_err());
        let null = json!({"event_type": {"name": "x", "description": null}});
        assert_eq!(
            typed::<types::EventTypeRequest>(&null),
            Err("body.event_type.description must not be null.".into())
        );
        let null_list = json!({"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-02T00:00:00Z", "batch_amounts": null});
        assert!(typed::<types::GenerationRequest>(&null_list).is_err());
        let nested = json!({"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-02T00:00:00Z",
                            "batch_amounts": [{"batch_id": "bat_x", "proportion": null}]});
        assert_eq!(typed::<types::GenerationRequest>(&nested), Ok(()));
        let nested_null = json!({"start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-02T00:00:00Z",
                                 "batch_amounts": [{"batch_id": null}]});
        assert_eq!(
            typed::<types::GenerationRequest>(&nested_null),
            Err("body.batch_amounts[0].batch_id must not be null.".into())
        );
    }
}
