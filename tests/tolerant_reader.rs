//! The tolerant reader (`openapi.yaml`, "Tolerant reader"): every JSON response example of the
//! docs (taken from `tests/api_examples.rs`, where they are copied verbatim) still decodes when it
//! is varied the ways the docs leave open:
//!
//! * each optional field `null` (also the declared fields the example does not show),
//! * each optional field absent,
//! * an unknown field added to every object,
//! * each guessed id (`LooseId`) sent as a string instead of an integer,
//!
//! and each guessed write status (`2XX`) is success for 200, 201 and 202. Where the docs are
//! explicit the types stay strict; the last tests prove that too.

mod common;

use std::collections::BTreeMap;

use common::{json, setup};
use mangrove::lenient::LooseId;
use mangrove::types;
use mangrove::ListBody;
use schemars::schema::{RootSchema, Schema, SchemaObject};
use serde::de::DeserializeOwned;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// The source of `tests/api_examples.rs`: its `const NAME: &str = r#"…"#;` blocks are the docs'
/// examples.
const EXAMPLES_SOURCE: &str = include_str!("api_examples.rs");

/// Request bodies (what the SDK sends, not what it reads) are not varied.
const REQUEST_EXAMPLES: &[&str] = &[
    "EVENT_CREATE_REQUEST",
    "EVENT_UPDATE_REQUEST",
    "BULK_DISMISS_REQUEST",
    "UPDATE_INPUTS_REQUEST",
    "CREATE_VERSION_REQUEST",
    "SIMULATE_REQUEST",
    "CREATE_MODEL_RUN_REQUEST",
    "REPORT_PATCH_REQUEST",
];

/// Every `const NAME: &str = r#"…"#;` (or `=\n    r#"…"#;`) of the examples file.
fn examples() -> BTreeMap<&'static str, String> {
    let mut found = BTreeMap::new();
    let mut rest = EXAMPLES_SOURCE;
    while let Some(start) = rest.find("\nconst ") {
        rest = &rest[start + "\nconst ".len()..];
        let Some(colon) = rest.find(':') else { break };
        let name = &rest[..colon];
        let (Some(open), Some(close)) = (rest.find("r#\""), rest.find("\"#;")) else {
            break;
        };
        // Completed as `api_examples.rs` completes them: the placeholder `[...]` (pagination,
        // summary) stands for items, none here; the cut-off event types excerpt is closed.
        let text = rest[open + 3..close]
            .replace("[...]", "[]")
            .replace('…', "}\n      ]\n    }\n  ]\n}");
        found.insert(name, text);
        rest = &rest[close..];
    }
    found
}

/// Decodes `value` as the type of example `name`, re-encoded as JSON for comparisons.
fn decode(name: &str, value: &Value) -> Result<Value, String> {
    fn as_<T: DeserializeOwned + serde::Serialize>(value: &Value) -> Result<Value, String> {
        let decoded: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
        serde_json::to_value(decoded).map_err(|e| e.to_string())
    }
    match name {
        "PAGINATION_EXAMPLE" | "SUMMARY_WITH_EXPORT_EXAMPLE" => {
            as_::<ListBody<types::Project>>(value)
        }
        "EXPORT_STATUS_OVERVIEW" | "EXPORT_STATUS_GET_PAGE" => as_::<types::ExportJob>(value),
        "ERROR_BODY" => as_::<types::ApiError>(value),
        "PROJECT" => as_::<types::Project>(value),
        "EVENT" => as_::<types::Event>(value),
        "EVENT_TYPES_LIST_EXCERPT" => as_::<ListBody<types::EventType>>(value),
        "DATA_POINT" => as_::<types::DataPoint>(value),
        "BULK_DISMISS_RESPONSE" => as_::<types::RuleResultList>(value),
        "EVIDENCE_LIST" => as_::<ListBody<types::Evidence>>(value),
        "BATCH_LIST" => as_::<ListBody<types::Batch>>(value),
        "BATCH" | "UPDATE_INPUTS_RESPONSE" => as_::<types::Batch>(value),
        "LEDGER" => as_::<types::Ledger>(value),
        "LEDGER_LIST" => as_::<ListBody<types::Ledger>>(value),
        "GENERATE_PREVIEW_RESPONSE" => as_::<types::GeneratePreview>(value),
        "MODEL" => as_::<types::Model>(value),
        "MODEL_SCHEMA" => as_::<types::ModelSchema>(value),
        "SIMULATE_RESPONSE" => as_::<types::SimulationResult>(value),
        "MODEL_RUNS_LIST" => as_::<ListBody<types::ModelRun>>(value),
        "REPORT" => as_::<types::Report>(value),
        "ORDER" => as_::<types::Order>(value),
        other => panic!("example {other} has no type here: add it to decode() or REQUEST_EXAMPLES"),
    }
}

/// The schema of the type of example `name` (the generated types derive `JsonSchema`).
fn schema(name: &str) -> RootSchema {
    use schemars::schema_for;
    match name {
        "PAGINATION_EXAMPLE" | "SUMMARY_WITH_EXPORT_EXAMPLE" => {
            schema_for!(ListBody<types::Project>)
        }
        "EXPORT_STATUS_OVERVIEW" | "EXPORT_STATUS_GET_PAGE" => schema_for!(types::ExportJob),
        "ERROR_BODY" => schema_for!(types::ApiError),
        "PROJECT" => schema_for!(types::Project),
        "EVENT" => schema_for!(types::Event),
        "EVENT_TYPES_LIST_EXCERPT" => schema_for!(ListBody<types::EventType>),
        "DATA_POINT" => schema_for!(types::DataPoint),
        "BULK_DISMISS_RESPONSE" => schema_for!(types::RuleResultList),
        "EVIDENCE_LIST" => schema_for!(ListBody<types::Evidence>),
        "BATCH_LIST" => schema_for!(ListBody<types::Batch>),
        "BATCH" | "UPDATE_INPUTS_RESPONSE" => schema_for!(types::Batch),
        "LEDGER" => schema_for!(types::Ledger),
        "LEDGER_LIST" => schema_for!(ListBody<types::Ledger>),
        "GENERATE_PREVIEW_RESPONSE" => schema_for!(types::GeneratePreview),
        "MODEL" => schema_for!(types::Model),
        "MODEL_SCHEMA" => schema_for!(types::ModelSchema),
        "SIMULATE_RESPONSE" => schema_for!(types::SimulationResult),
        "MODEL_RUNS_LIST" => schema_for!(ListBody<types::ModelRun>),
        "REPORT" => schema_for!(types::Report),
        "ORDER" => schema_for!(types::Order),
        other => panic!("example {other} has no schema here"),
    }
}

/// One way of varying an example, at a JSON pointer.
#[derive(Clone, Debug)]
enum Variant {
    /// The optional field at the pointer is `null`.
    Null(String),
    /// The optional field at the pointer is removed.
    Absent(String),
    /// The object at the pointer gets an unknown field.
    Unknown(String),
    /// The integer `LooseId` at the pointer is sent as a string.
    StringId(String),
}

/// The schema objects `schema` may be (through `$ref`, `anyOf`, `oneOf`, `allOf`).
fn alternatives<'a>(schema: &'a Schema, root: &'a RootSchema, out: &mut Vec<&'a SchemaObject>) {
    let Schema::Object(object) = schema else {
        return;
    };
    if let Some(reference) = &object.reference {
        if let Some(target) = root
            .definitions
            .get(reference.trim_start_matches("#/definitions/"))
        {
            alternatives(target, root, out);
        }
        return;
    }
    out.push(object);
    if let Some(sub) = &object.subschemas {
        for schema in [&sub.all_of, &sub.any_of, &sub.one_of]
            .into_iter()
            .flatten()
            .flatten()
        {
            alternatives(schema, root, out);
        }
    }
}

/// Whether `schema` is (or may be) a `LooseId`.
fn is_loose_id(schema: &Schema) -> bool {
    let Schema::Object(object) = schema else {
        return false;
    };
    let direct = object
        .reference
        .as_deref()
        .is_some_and(|r| r.ends_with("/LooseId"));
    direct
        || object.subschemas.as_ref().is_some_and(|sub| {
            [&sub.any_of, &sub.one_of, &sub.all_of]
                .into_iter()
                .flatten()
                .flatten()
                .any(is_loose_id)
        })
}

/// Every variant of `value` (of schema `schema`) under pointer `at`.
fn variants(value: &Value, schema: &Schema, root: &RootSchema, at: &str, out: &mut Vec<Variant>) {
    let mut objects = Vec::new();
    alternatives(schema, root, &mut objects);
    match value {
        Value::Object(map) => {
            let Some(declared) = objects.iter().find_map(|o| o.object.as_deref()) else {
                return;
            };
            // A map (`additionalProperties: {type: number}`) is not an open object.
            if declared.additional_properties.is_none() {
                out.push(Variant::Unknown(at.to_string()));
            }
            for (key, property) in &declared.properties {
                let pointer = format!("{at}/{key}");
                let required = declared.required.contains(key);
                match map.get(key) {
                    Some(item) => {
                        if !required {
                            if !item.is_null() {
                                out.push(Variant::Null(pointer.clone()));
                            }
                            out.push(Variant::Absent(pointer.clone()));
                        }
                        if is_loose_id(property) && item.is_i64() {
                            out.push(Variant::StringId(pointer.clone()));
                        }
                        variants(item, property, root, &pointer, out);
                    }
                    None if !required => out.push(Variant::Null(pointer)),
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            let item_schema = objects
                .iter()
                .find_map(|o| match o.array.as_deref()?.items {
                    Some(schemars::schema::SingleOrVec::Single(ref s)) => Some(s.as_ref()),
                    _ => None,
                });
            if let Some(item_schema) = item_schema {
                for (i, item) in items.iter().enumerate() {
                    variants(item, item_schema, root, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

/// Splits a pointer into its parent and last key.
fn parent(pointer: &str) -> (&str, &str) {
    pointer.rsplit_once('/').unwrap_or(("", pointer))
}

/// `value` with `variant` applied.
fn apply(value: &Value, variant: &Variant) -> Value {
    let mut value = value.clone();
    match variant {
        Variant::Null(pointer) => {
            let (up, key) = parent(pointer);
            let object = value.pointer_mut(up).and_then(Value::as_object_mut);
            object
                .expect("parent object")
                .insert(key.into(), Value::Null);
        }
        Variant::Absent(pointer) => {
            let (up, key) = parent(pointer);
            let object = value.pointer_mut(up).and_then(Value::as_object_mut);
            object.expect("parent object").remove(key);
        }
        Variant::Unknown(pointer) => {
            let object = value.pointer_mut(pointer).and_then(Value::as_object_mut);
            object.expect("object").insert(
                "field_from_a_newer_api".into(),
                json(r#"{"nested": [1, null, "x"]}"#),
            );
        }
        Variant::StringId(pointer) => {
            let slot = value.pointer_mut(pointer).expect("id");
            *slot = Value::String(slot.to_string());
        }
    }
    value
}

/// Proves: each documented response example decodes under every variation the docs leave open;
/// `null` and absent decode to the same value, an unknown field changes nothing, a string id is
/// kept as a string. Prints the number of variants per example and in total.
#[test]
fn every_documented_example_decodes_when_varied() {
    let examples = examples();
    assert!(
        examples.len() >= 30,
        "found only {} examples",
        examples.len()
    );
    let mut total = 0usize;
    let mut per_kind = BTreeMap::<&str, usize>::new();
    for (name, text) in &examples {
        if REQUEST_EXAMPLES.contains(name) {
            continue;
        }
        let original = json(text);
        let decoded = decode(name, &original)
            .unwrap_or_else(|e| panic!("{name}: the example itself does not decode: {e}"));
        let root = schema(name);
        let mut list = Vec::new();
        variants(
            &original,
            &Schema::Object(root.schema.clone()),
            &root,
            "",
            &mut list,
        );
        assert!(!list.is_empty(), "{name}: no variants");
        for variant in &list {
            let varied = apply(&original, variant);
            let result = decode(name, &varied)
                .unwrap_or_else(|e| panic!("{name}: {variant:?} does not decode: {e}"));
            match variant {
                Variant::Null(pointer) => {
                    // `null` reads exactly like an absent field.
                    let (up, key) = parent(pointer);
                    let mut absent = varied.clone();
                    if let Some(object) = absent.pointer_mut(up).and_then(Value::as_object_mut) {
                        object.remove(key);
                    }
                    let absent = decode(name, &absent).expect("absent variant decodes");
                    assert_eq!(result, absent, "{name}: {variant:?} differs from absent");
                }
                Variant::Unknown(_) => {
                    assert_eq!(result, decoded, "{name}: {variant:?} changed the value");
                }
                Variant::StringId(pointer) => {
                    let sent = varied.pointer(pointer).cloned();
                    assert_eq!(
                        result.pointer(pointer).cloned(),
                        sent,
                        "{name}: {variant:?}"
                    );
                }
                Variant::Absent(_) => {}
            }
            let kind = match variant {
                Variant::Null(_) => "null",
                Variant::Absent(_) => "absent",
                Variant::Unknown(_) => "unknown field",
                Variant::StringId(_) => "string id",
            };
            *per_kind.entry(kind).or_default() += 1;
            total += 1;
        }
        println!("{name}: {} variants decode", list.len());
    }
    println!("variants by kind: {per_kind:?}");
    println!("total: {total} variants of the documented response examples decode");
    for kind in ["null", "absent", "unknown field", "string id"] {
        assert!(
            per_kind.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} variant"
        );
    }
}

/// Proves: a `null` optional array or map reads as empty, an absent one too, across pages:
/// one `null` list no longer fails the whole page.
#[test]
fn null_arrays_and_maps_read_as_empty() {
    let project: types::Project = serde_json::from_value(json(
        r#"{"id": 1, "credit_types": null, "images": null, "sustainable_development_goals": null}"#,
    ))
    .unwrap();
    assert!(project.credit_types.is_empty() && project.images.is_empty());
    let result: types::SimulationResult =
        serde_json::from_value(json(r#"{"results": null, "errors": null}"#)).unwrap();
    assert!(result.results.is_empty() && result.errors.is_empty());
    let page: ListBody<types::Order> = serde_json::from_value(json(
        r#"{"data": [{"id": 1, "deliveries": null}, {"id": 2, "deliveries": [{"friendly_id": "dl_1"}]}]}"#,
    ))
    .unwrap();
    assert!(page.data[0].deliveries.is_empty());
    assert_eq!(page.data[1].deliveries.len(), 1);
}

/// Proves: undocumented ids take a string or an integer, `info.sort`/`filter` any JSON, and
/// `Report.allocation` may be `null`.
#[test]
fn guessed_shapes_accept_what_a_server_may_send() {
    let batch: types::Batch = serde_json::from_value(json(
        r#"{"id": "bat_1", "feedstocks": [{"id": "fs_9"}, {"id": 9}],
            "allocations": [{"id": "alc_1", "amount": 1.5}]}"#,
    ))
    .unwrap();
    assert_eq!(batch.feedstocks[0].id, Some(LooseId::Str("fs_9".into())));
    assert_eq!(batch.feedstocks[1].id, Some(LooseId::Int(9)));
    assert_eq!(batch.allocations[0].id, Some("alc_1".into()));
    let page: ListBody<types::Feedstock> = serde_json::from_value(json(
        r#"{"data": [], "info": {"sort": {"created_at": "desc"}, "filter": {"project_id": {"eq": 7}}}}"#,
    ))
    .unwrap();
    let info = page.info.unwrap();
    assert_eq!(info.sort, Some(json(r#"{"created_at": "desc"}"#)));
    assert_eq!(info.filter, Some(json(r#"{"project_id": {"eq": 7}}"#)));
    let report: types::Report =
        serde_json::from_value(json(r#"{"id": "rpt_1", "allocation": null}"#)).unwrap();
    assert_eq!(report.allocation, None);
    // A result the model cannot compute as a finite number comes as `null` (JSON has no NaN or
    // infinity): read as `None`, the other results kept.
    let simulated: types::SimulationResult =
        serde_json::from_value(json(r#"{"results": {"co2e": null, "mass": 2.5}}"#)).unwrap();
    assert_eq!(simulated.results.get("co2e"), Some(&None));
    assert_eq!(simulated.results.get("mass"), Some(&Some(2.5)));
}

/// Proves: what the docs state stays strict - a documented integer id sent as a string, a
/// documented string id sent as a number, a missing required id, and a mistyped documented
/// field each fail.
#[test]
fn documented_fields_stay_strict() {
    for (text, why) in [
        (r#"{"id": "123"}"#, "project ids are documented integers"),
        (
            r#"{"id": 1, "credit_types": "CORC"}"#,
            "credit_types is a list",
        ),
        (r#"{"name": "no id"}"#, "id is required"),
    ] {
        assert!(
            serde_json::from_str::<types::Project>(text).is_err(),
            "{why}: {text}"
        );
    }
    assert!(serde_json::from_str::<types::Event>(r#"{"id": 5}"#).is_err());
    assert!(serde_json::from_str::<types::Order>(r#"{"id": "1529"}"#).is_err());
    assert!(
        serde_json::from_str::<ListBody<types::Project>>(r#"{"data": {"id": 1}}"#).is_err(),
        "data is a list"
    );
}

/// Proves: `BatchAmount` can carry the field the server expects under its real name.
#[test]
fn batch_amount_sends_extra_fields() {
    let mut amount: types::BatchAmount = types::BatchAmount::builder()
        .batch_id("bat_up".to_string())
        .try_into()
        .unwrap();
    amount.extra.insert("proportion".into(), json("0.5"));
    assert_eq!(
        serde_json::to_value(&amount).unwrap(),
        json(r#"{"batch_id": "bat_up", "proportion": 0.5}"#)
    );
}

/// Proves: each write whose success status the docs do not show accepts 200, 201 and 202 with
/// the documented body (12 variants).
#[tokio::test]
async fn guessed_write_statuses_accept_any_2xx() {
    let examples = examples();
    let event = json(&examples["EVENT"]);
    let dismissed = json(&examples["BULK_DISMISS_RESPONSE"]);
    let export = json(&examples["EXPORT_STATUS_OVERVIEW"]);
    let event_type = json(r#"{"id": 7, "slug": "delivery", "name": "Delivery"}"#);
    let mut count = 0;
    for status in [200u16, 201, 202] {
        let (server, client) = setup().await;
        for (route, body) in [
            ("/api/v1/projects/1/events", &event),
            ("/api/v1/projects/1/event_types", &event_type),
            ("/api/v1/projects/1/rule_results/bulk_dismiss", &dismissed),
            ("/api/v1/exports", &export),
        ] {
            Mock::given(method("POST"))
                .and(path(route))
                .respond_with(ResponseTemplate::new(status).set_body_json(body))
                .expect(1)
                .mount(&server)
                .await;
        }
        let created = client
            .create_event()
            .project_id(1)
            .body(
                types::EventRequest::builder()
                    .event(types::EventInput::builder().event_type("delivery".to_string())),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create_event {status}: {e}"));
        assert_eq!(created.id, "evt_DLnYvzbjSujNAvXE");
        let kind = client
            .create_event_type()
            .project_id(1)
            .body(
                types::EventTypeRequest::builder()
                    .event_type(types::EventTypeInput::builder().name("Delivery".to_string())),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create_event_type {status}: {e}"));
        assert_eq!(kind.id, Some(7));
        let results = client
            .bulk_dismiss_rule_results()
            .project_id(1)
            .body(
                types::BulkDismissRequest::builder()
                    .result_ids(vec!["dpres_8XF1QtGs79oX9A6k".to_string()])
                    .reason("checked".to_string()),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("bulk_dismiss_rule_results {status}: {e}"));
        assert!(!results.data.is_empty());
        let started = client
            .create_export()
            .body(
                types::CreateExportRequest::builder()
                    .resource_type(mangrove::ResourceType::Delivery),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("create_export {status}: {e}"));
        assert_eq!(started.id, "exp_ABC123");
        assert_eq!(started.status().as_u16(), status);
        count += 4;
        server.verify().await;
    }
    println!("{count} write-status variants succeed");
    assert_eq!(count, 12);
}
