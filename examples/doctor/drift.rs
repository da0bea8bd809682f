//! Drift between a JSON value and a schema of the spec: the spec itself (OpenAPI 3.0 schema
//! objects, `$ref`, `allOf`, `oneOf`/`anyOf`, `nullable`, `enum`), not the tolerant generated
//! types.
//!
//! A finding names a path (`data[3].feedstocks[0].id`; map keys of `additionalProperties` maps
//! are `*`, since they are the account's data), a [`Kind`], what the spec expects and the JSON
//! type found. It never holds a value of the body.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::spec::Spec;

/// At most this many findings per body (a page of 100 items that all drift the same way).
pub const MAX_FINDINGS: usize = 1_000;

/// What kind of drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A field the schema does not declare (on an object that declares its properties).
    UnknownField,
    /// `null` where the schema is not `nullable`.
    NullNotAllowed,
    /// A JSON type the schema does not allow (a string id where an integer is declared, …).
    TypeMismatch,
    /// A string outside the schema's `enum`.
    EnumOutsideSet,
    /// A `required` field that is absent.
    MissingRequired,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::UnknownField => "unknown field",
            Kind::NullNotAllowed => "null not allowed",
            Kind::TypeMismatch => "type mismatch",
            Kind::EnumOutsideSet => "enum value outside the set",
            Kind::MissingRequired => "required field missing",
        })
    }
}

/// One difference between a body and the spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Where, e.g. `data[3].feedstocks[0].id`; `.` is the body itself.
    pub path: String,
    /// What kind of difference.
    pub kind: Kind,
    /// What the spec declares there: a type (`integer`, `Allocation (object)`), `one of: a, b`
    /// for an enum, `-` for an unknown field.
    pub expected: String,
    /// The JSON type found (`null`, `string`, `integer`, `number`, `boolean`, `array`,
    /// `object`), or `absent`.
    pub found: String,
}

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// An object key the schema declares (or an unknown field's name).
    Key(String),
    /// A key of an `additionalProperties` map, shown as `*`.
    AnyKey,
    /// An array index.
    Index(usize),
}

/// `data[3].feedstocks[0].id`; `.` for the root.
pub fn display_path(segments: &[Segment]) -> String {
    if segments.is_empty() {
        return ".".into();
    }
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if is_plain_key(key) {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{key:?}]"));
                }
            }
            Segment::AnyKey => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('*');
            }
        }
    }
    out
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$' || c == '@')
}

/// `data[*].feedstocks[*].id`: a path with its indexes generalised, to group the same drift
/// across the items of a page.
pub fn generalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' if in_index => {
                in_index = false;
                out.push_str("*]");
            }
            d if in_index && d.is_ascii_digit() => {}
            other => {
                // A quoted key (`["a b"]`) is not an index.
                if in_index {
                    in_index = false;
                }
                out.push(other);
            }
        }
    }
    out
}

/// The JSON type of a value, as reported.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares bodies with the schemas of one spec.
pub struct Checker<'s> {
    spec: &'s Spec,
}

/// A schema with its `$ref`s followed and its `allOf` merged into one object.
#[derive(Debug, Default)]
struct Effective<'s> {
    /// `Allocation` when reached through a `$ref`.
    name: Option<&'s str>,
    nullable: bool,
    ty: Option<&'s str>,
    format: Option<&'s str>,
    enumeration: Option<&'s Vec<Value>>,
    properties: BTreeMap<&'s str, &'s Value>,
    declares_properties: bool,
    required: Vec<&'s str>,
    /// `None`: absent; `Some(Bool)` or `Some(schema)`.
    additional: Option<&'s Value>,
    items: Option<&'s Value>,
    one_of: Option<&'s Vec<Value>>,
}

impl<'s> Checker<'s> {
    /// A checker for schemas of `spec`.
    pub fn new(spec: &'s Spec) -> Checker<'s> {
        Checker { spec }
    }

    /// Every drift of `value` from `schema` (at most [`MAX_FINDINGS`]).
    pub fn check(&self, schema: &'s Value, value: &Value) -> Vec<Drift> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.walk(schema, value, &mut path, &mut out);
        out
    }

    /// `path` with the keys of `additionalProperties` maps replaced by `*` (they are data), as
    /// far as `schema` tells (for the path of a decode error).
    pub fn schema_path(&self, schema: &'s Value, path: &[Segment]) -> String {
        let mut out = Vec::with_capacity(path.len());
        let mut at = Some(schema);
        for segment in path {
            let effective = at.map(|s| self.effective(s));
            match segment {
                Segment::Key(key) => match effective {
                    Some(e) if e.properties.contains_key(key.as_str()) => {
                        out.push(Segment::Key(key.clone()));
                        at = e.properties.get(key.as_str()).copied();
                    }
                    Some(e) if e.additional.is_some_and(Value::is_object) => {
                        out.push(Segment::AnyKey);
                        at = e.additional;
                    }
                    Some(e) if e.one_of.is_some() => {
                        // Follow the first variant that declares the key.
                        let variant = e.one_of.into_iter().flatten().find_map(|v| {
                            let v = self.effective(v);
                            v.properties.get(key.as_str()).copied()
                        });
                        out.push(Segment::Key(key.clone()));
                        at = variant;
                    }
                    _ => {
                        out.push(Segment::Key(key.clone()));
                        at = None;
                    }
                },
                Segment::Index(i) => {
                    out.push(Segment::Index(*i));
                    at = effective.and_then(|e| e.items);
                }
                Segment::AnyKey => {
                    out.push(Segment::AnyKey);
                    at = None;
                }
            }
        }
        display_path(&out)
    }

    fn effective(&self, schema: &'s Value) -> Effective<'s> {
        let mut e = Effective::default();
        self.merge(schema, &mut e, 0);
        e
    }

    fn merge(&self, schema: &'s Value, e: &mut Effective<'s>, depth: usize) {
        if depth > 32 {
            return;
        }
        // `nullable` next to a `$ref` is not OpenAPI 3.0, but it says what the author meant.
        if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            e.nullable = true;
        }
        if e.name.is_none() {
            e.name = Spec::ref_name(schema);
        }
        let schema = self.spec.resolve(schema);
        if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            e.nullable = true;
        }
        if let Some(ty) = schema.get("type").and_then(Value::as_str) {
            e.ty = Some(ty);
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str) {
            e.format = Some(format);
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            e.enumeration = Some(values);
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            e.declares_properties = true;
            for (k, v) in props {
                e.properties.insert(k.as_str(), v);
            }
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            e.required.extend(required.iter().filter_map(Value::as_str));
        }
        if let Some(additional) = schema.get("additionalProperties") {
            e.additional = Some(additional);
        }
        if let Some(items) = schema.get("items") {
            e.items = Some(items);
        }
        if let Some(variants) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            e.one_of = Some(variants);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            // Null passes an `allOf` when the wrapper says `nullable` or every member does.
            let wrapper_nullable = e.nullable;
            let mut all_nullable = !all.is_empty();
            for member in all {
                let mut m = Effective::default();
                self.merge(member, &mut m, depth + 1);
                all_nullable &= m.nullable;
                if e.name.is_none() {
                    e.name = m.name;
                }
                e.ty = e.ty.or(m.ty);
                e.format = e.format.or(m.format);
                e.enumeration = e.enumeration.or(m.enumeration);
                e.declares_properties |= m.declares_properties;
                e.properties.extend(m.properties);
                e.required.extend(m.required);
                e.additional = e.additional.or(m.additional);
                e.items = e.items.or(m.items);
                e.one_of = e.one_of.or(m.one_of);
            }
            e.nullable = wrapper_nullable || all_nullable;
        }
        if e.ty.is_none() && (e.declares_properties || e.additional.is_some()) {
            e.ty = Some("object");
        }
        if e.ty.is_none() && e.items.is_some() {
            e.ty = Some("array");
        }
    }

    fn walk(
        &self,
        schema: &'s Value,
        value: &Value,
        path: &mut Vec<Segment>,
        out: &mut Vec<Drift>,
    ) {
        if out.len() >= MAX_FINDINGS {
            return;
        }
        let e = self.effective(schema);
        let describe = || describe(&e);
        if value.is_null() {
            // OpenAPI 3.0: `nullable` adds null to an explicit `type`; a schema without a type
            // (`{}`) allows anything, null included.
            let any = e.ty.is_none() && e.enumeration.is_none() && e.one_of.is_none();
            if !(e.nullable || any) {
                push(out, path, Kind::NullNotAllowed, describe(), "null");
            }
            return;
        }
        if let Some(variants) = e.one_of {
            self.walk_one_of(&e, variants, value, path, out);
            return;
        }
        let type_ok = match e.ty {
            None => true,
            Some("integer") => matches!(value, Value::Number(n) if n.is_i64() || n.is_u64()),
            Some("number") => value.is_number(),
            Some("string") => value.is_string(),
            Some("boolean") => value.is_boolean(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            Some(_) => true,
        };
        if !type_ok {
            push(out, path, Kind::TypeMismatch, describe(), json_type(value));
            return;
        }
        if let Some(allowed) = e.enumeration {
            if !allowed.contains(value) {
                let set: Vec<String> = allowed
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect();
                push(
                    out,
                    path,
                    Kind::EnumOutsideSet,
                    format!("one of: {}", set.join(", ")),
                    json_type(value),
                );
            }
            return;
        }
        match value {
            Value::Array(items) => {
                if let Some(item_schema) = e.items {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Segment::Index(i));
                        self.walk(item_schema, item, path, out);
                        path.pop();
                    }
                }
            }
            Value::Object(object) => self.walk_object(&e, object, path, out),
            _ => {}
        }
    }

    fn walk_object(
        &self,
        e: &Effective<'s>,
        object: &Map<String, Value>,
        path: &mut Vec<Segment>,
        out: &mut Vec<Drift>,
    ) {
        for name in &e.required {
            if !object.contains_key(*name) {
                path.push(Segment::Key((*name).to_string()));
                let expected = e
                    .properties
                    .get(*name)
                    .map(|s| describe(&self.effective(s)))
                    .unwrap_or_else(|| "any".into());
                push(out, path, Kind::MissingRequired, expected, "absent");
                path.pop();
            }
        }
        for (key, field) in object {
            if let Some(&field_schema) = e.properties.get(key.as_str()) {
                path.push(Segment::Key(key.clone()));
                self.walk(field_schema, field, path, out);
                path.pop();
                continue;
            }
            match e.additional {
                Some(Value::Bool(true)) => {}
                Some(schema @ Value::Object(_)) => {
                    path.push(Segment::AnyKey);
                    self.walk(schema, field, path, out);
                    path.pop();
                }
                // An object that declares no properties is open (`{type: object}`).
                None if !e.declares_properties => {}
                _ => {
                    path.push(Segment::Key(key.clone()));
                    push(out, path, Kind::UnknownField, "-".into(), json_type(field));
                    path.pop();
                }
            }
        }
    }

    fn walk_one_of(
        &self,
        e: &Effective<'s>,
        variants: &'s [Value],
        value: &Value,
        path: &mut Vec<Segment>,
        out: &mut Vec<Drift>,
    ) {
        let mut best: Option<Vec<Drift>> = None;
        let mut all_root_types = true;
        for variant in variants {
            let mut found = Vec::new();
            self.walk(variant, value, path, &mut found);
            if found.is_empty() {
                return;
            }
            let here = display_path(path);
            all_root_types &=
                found.len() == 1 && found[0].kind == Kind::TypeMismatch && found[0].path == here;
            if best.as_ref().is_none_or(|b| found.len() < b.len()) {
                best = Some(found);
            }
        }
        if all_root_types {
            push(out, path, Kind::TypeMismatch, describe(e), json_type(value));
        } else if let Some(best) = best {
            let room = MAX_FINDINGS.saturating_sub(out.len());
            out.extend(best.into_iter().take(room));
        }
    }
}

fn push(out: &mut Vec<Drift>, path: &[Segment], kind: Kind, expected: String, found: &str) {
    if out.len() < MAX_FINDINGS {
        out.push(Drift {
            path: display_path(path),
            kind,
            expected,
            found: found.to_string(),
        });
    }
}

/// `integer`, `string (date-time)`, `Allocation (object)`, `number | boolean | string`.
fn describe(e: &Effective<'_>) -> String {
    let ty = match (e.ty, e.one_of) {
        (Some(ty), _) => match e.format {
            Some(format) if ty == "string" => format!("{ty} ({format})"),
            _ => ty.to_string(),
        },
        (None, Some(variants)) => {
            let types: Vec<&str> = variants
                .iter()
                .map(|v| v.get("type").and_then(Value::as_str).unwrap_or("object"))
                .collect();
            types.join(" | ")
        }
        (None, None) => "any".to_string(),
    };
    match e.name {
        Some(name) => format!("{name} ({ty})"),
        None => ty,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        Spec::with_schemas(json!({
            "List": {
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Batch"}},
                    "info": {"$ref": "#/components/schemas/Info"},
                }
            },
            "Info": {
                "type": "object",
                "properties": {
                    "next_page": {"type": "integer", "nullable": true},
                    "filter": {"type": "array", "items": {}},
                }
            },
            "Batch": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "state": {"$ref": "#/components/schemas/State"},
                    "feedstocks": {"type": "array", "items": {"$ref": "#/components/schemas/Feedstock"}},
                    "allocation": {"$ref": "#/components/schemas/Allocation"},
                    "nullable_allocation": {
                        "allOf": [{"$ref": "#/components/schemas/Allocation"}],
                        "nullable": true
                    },
                    "value": {"$ref": "#/components/schemas/Value"},
                    "custom": {"type": "object", "nullable": true},
                    "results": {"type": "object", "additionalProperties": {"type": "number"}},
                }
            },
            "State": {"type": "string", "enum": ["complete", "processing"]},
            "Feedstock": {
                "type": "object",
                "properties": {"id": {"type": "integer", "format": "int64", "nullable": true}}
            },
            "Allocation": {
                "type": "object",
                "properties": {"amount": {"type": "number"}}
            },
            "Extended": {
                "allOf": [
                    {"$ref": "#/components/schemas/Allocation"},
                    {"type": "object", "properties": {"unit": {"type": "string"}}}
                ]
            },
            "Value": {"oneOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}]},
        }))
    }

    fn check(spec: &Spec, schema: &str, value: Value) -> Vec<(String, Kind, String, String)> {
        let checker = Checker::new(spec);
        checker
            .check(spec.schema(schema).unwrap(), &value)
            .into_iter()
            .map(|d| (d.path, d.kind, d.expected, d.found))
            .collect()
    }

    fn d(path: &str, kind: Kind, expected: &str, found: &str) -> (String, Kind, String, String) {
        (path.into(), kind, expected.into(), found.into())
    }

    fn batch(i: u64) -> Value {
        json!({
            "id": format!("bat_{i}"),
            "state": "complete",
            "feedstocks": [{"id": 1}, {"id": null}],
            "allocation": {"amount": 1.5},
            "nullable_allocation": null,
            "value": 2,
            "custom": {"anything": [1, "x"]},
            "results": {"co2": 1.0},
        })
    }

    #[test]
    fn a_body_that_matches_has_no_drift() {
        let spec = spec();
        let body = json!({
            "data": [batch(0), batch(1)],
            "info": {"next_page": null, "filter": [{"any": "thing"}]},
        });
        assert_eq!(check(&spec, "List", body), vec![]);
    }

    #[test]
    fn each_kind_is_found_by_path() {
        let spec = spec();
        let mut data: Vec<Value> = (0..5).map(batch).collect();
        data[3]["feedstocks"][0]["id"] = json!("fs_1"); // a string id
        data[3]["surprise"] = json!({"deep": {"x": 1}}); // unknown field (not descended into)
        data[1]["feedstocks"] = Value::Null; // null array
        data[2]["state"] = json!("archived"); // outside the enum
        data[4].as_object_mut().unwrap().remove("id"); // required, absent
        data[0]["allocation"] = Value::Null; // a non-nullable $ref
        data[0]["value"] = json!([1]); // none of the oneOf variants
        data[0]["results"]["co2"] = json!("1.0"); // additionalProperties value: key is data
        let body = json!({"data": data, "info": {"next_page": "2", "extra": 1}});
        assert_eq!(
            check(&spec, "List", body),
            vec![
                d(
                    "data[0].allocation",
                    Kind::NullNotAllowed,
                    "Allocation (object)",
                    "null"
                ),
                d("data[0].results.*", Kind::TypeMismatch, "number", "string"),
                d(
                    "data[0].value",
                    Kind::TypeMismatch,
                    "Value (number | boolean | string)",
                    "array"
                ),
                d("data[1].feedstocks", Kind::NullNotAllowed, "array", "null"),
                d(
                    "data[2].state",
                    Kind::EnumOutsideSet,
                    "one of: complete, processing",
                    "string"
                ),
                d(
                    "data[3].feedstocks[0].id",
                    Kind::TypeMismatch,
                    "integer",
                    "string"
                ),
                d("data[3].surprise", Kind::UnknownField, "-", "object"),
                d("data[4].id", Kind::MissingRequired, "string", "absent"),
                d("info.extra", Kind::UnknownField, "-", "integer"),
                d("info.next_page", Kind::TypeMismatch, "integer", "string"),
            ]
        );
    }

    #[test]
    fn integers_and_numbers() {
        let spec = spec();
        let found = |v: Value| check(&spec, "Feedstock", json!({"id": v}));
        assert_eq!(found(json!(7)), vec![]);
        assert_eq!(found(json!(u64::MAX)), vec![]);
        assert_eq!(
            found(json!(7.5)),
            vec![d("id", Kind::TypeMismatch, "integer", "number")]
        );
        assert_eq!(check(&spec, "Allocation", json!({"amount": 3})), vec![]);
    }

    #[test]
    fn all_of_merges_properties_and_nullable_wrappers_allow_null() {
        let spec = spec();
        assert_eq!(
            check(
                &spec,
                "Extended",
                json!({"amount": 1, "unit": "t", "other": 0})
            ),
            vec![d("other", Kind::UnknownField, "-", "integer")]
        );
        assert_eq!(
            check(&spec, "Extended", json!({"unit": 5})),
            vec![d("unit", Kind::TypeMismatch, "string", "integer")]
        );
        // `nullable` next to a `$ref` (not OpenAPI 3.0, but meant) allows null too.
        let spec = Spec::with_schemas(json!({
            "A": {"type": "object", "properties": {
                "x": {"$ref": "#/components/schemas/B", "nullable": true},
                "y": {"$ref": "#/components/schemas/B"},
            }},
            "B": {"type": "object", "properties": {}},
        }));
        assert_eq!(
            check(&spec, "A", json!({"x": null, "y": null})),
            vec![d("y", Kind::NullNotAllowed, "B (object)", "null")]
        );
    }

    #[test]
    fn a_oneof_reports_the_closest_variant() {
        let spec = Spec::with_schemas(json!({
            "Either": {"oneOf": [
                {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}},
                {"type": "string"},
            ]},
        }));
        assert_eq!(check(&spec, "Either", json!("s")), vec![]);
        assert_eq!(
            check(&spec, "Either", json!({"a": 1})),
            vec![d("a", Kind::TypeMismatch, "string", "integer")]
        );
    }

    #[test]
    fn ref_cycles_and_deep_bodies_end() {
        let spec = Spec::with_schemas(json!({
            "Loop": {"$ref": "#/components/schemas/Loop"},
            "Tree": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
            }},
        }));
        assert_eq!(check(&spec, "Loop", json!({"any": 1})), vec![]);
        let mut tree = json!({"children": []});
        for _ in 0..100 {
            tree = json!({"children": [tree]});
        }
        assert_eq!(check(&spec, "Tree", tree), vec![]);
    }

    #[test]
    fn findings_are_capped() {
        let spec = spec();
        let data: Vec<Value> = (0..2 * MAX_FINDINGS).map(|_| json!({"id": 1})).collect();
        let found = check(&spec, "List", json!({ "data": data }));
        assert_eq!(found.len(), MAX_FINDINGS);
    }

    #[test]
    fn paths_display_generalise_and_hide_map_keys() {
        let path = [
            Segment::Key("data".into()),
            Segment::Index(3),
            Segment::Key("feedstocks".into()),
            Segment::Index(0),
            Segment::Key("id".into()),
        ];
        assert_eq!(display_path(&path), "data[3].feedstocks[0].id");
        assert_eq!(display_path(&[]), ".");
        assert_eq!(display_path(&[Segment::Key("a b".into())]), "[\"a b\"]");
        assert_eq!(
            generalise("data[3].feedstocks[10].id"),
            "data[*].feedstocks[*].id"
        );
        let spec = spec();
        let checker = Checker::new(&spec);
        let decode_path = [
            Segment::Key("data".into()),
            Segment::Index(0),
            Segment::Key("results".into()),
            Segment::Key("my-secret-slug".into()),
        ];
        assert_eq!(
            checker.schema_path(spec.schema("List").unwrap(), &decode_path),
            "data[0].results.*"
        );
        assert_eq!(
            checker.schema_path(spec.schema("List").unwrap(), &path),
            "data[3].feedstocks[0].id"
        );
    }
}
