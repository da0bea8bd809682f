//! What `build.rs` reads from `openapi.yaml` besides progenitor's code: the open enums, the list
//! endpoint table, the parameter descriptions, the spec as JSON; and the one change made to the
//! spec before code generation (plain page parameters).

use crate::passes::setter_docs::{Parameter, Parameters};

/// An open enum of `src/open_enum.rs`: the generated type of `schema` is replaced by the open
/// enum `name`, made by `open_enum!` from the schema's values and description, followed by
/// `rust_doc` (links to Rust items, which the spec cannot hold).
pub struct OpenEnum {
    pub schema: &'static str,
    pub name: &'static str,
    pub rust_doc: &'static str,
}

/// The `open_enum!` invocations for `enums`, with the description and values of the first
/// schema that maps to each type. Every schema must be a string enum.
pub fn open_enums_code(spec: &openapiv3::OpenAPI, enums: &[OpenEnum]) -> Result<String, String> {
    let mut code = String::new();
    for (i, e) in enums.iter().enumerate() {
        if enums[..i].iter().any(|earlier| earlier.name == e.name) {
            continue;
        }
        let (description, values) = string_enum(spec, e.schema)?;
        let description = description.unwrap_or(e.name);
        code += "open_enum! {\n";
        let rust_doc = if e.rust_doc.is_empty() {
            String::new()
        } else {
            format!("\n{}", e.rust_doc)
        };
        for line in format!("{}{rust_doc}", description.trim_end()).lines() {
            code += &format!("    #[doc = {:?}]\n", format!(" {line}"));
        }
        code += &format!("    {} {{\n", e.name);
        for value in values {
            code += &format!("        {} = {value:?},\n", pascal_case(value));
        }
        code += "    }\n}\n\n";
    }
    Ok(code)
}

/// The description and values of the string enum schema `name`.
pub fn string_enum<'a>(
    spec: &'a openapiv3::OpenAPI,
    name: &str,
) -> Result<(Option<&'a str>, Vec<&'a str>), String> {
    let found = spec.components.as_ref().and_then(|c| c.schemas.get(name));
    let Some(openapiv3::ReferenceOr::Item(openapiv3::Schema {
        schema_data,
        schema_kind: openapiv3::SchemaKind::Type(openapiv3::Type::String(string)),
    })) = found
    else {
        return Err(format!("openapi.yaml: {name} must be a string enum schema"));
    };
    let values: Vec<&str> = string
        .enumeration
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    if values.is_empty() {
        return Err(format!("openapi.yaml: {name} must list its values (enum)"));
    }
    Ok((schema_data.description.as_deref(), values))
}

/// The `list_endpoints!` rows of every `GET` answering one of `list_bodies` (list body schema,
/// item schema): its builder, item type and resource (the last segment of its path), and the
/// resource type of an export (its `x-export-resource-type`, which must be one of
/// `resource_types`).
pub fn list_endpoints_code(
    spec: &openapiv3::OpenAPI,
    list_bodies: &[(&str, &str)],
    resource_types: &[&str],
) -> Result<String, String> {
    use openapiv3::ReferenceOr::{Item, Reference};
    let mut code = String::from("list_endpoints! {\n");
    let mut rows = 0;
    for (path, item) in &spec.paths.paths {
        let Item(openapiv3::PathItem { get: Some(get), .. }) = item else {
            continue;
        };
        let ok = get
            .responses
            .responses
            .get(&openapiv3::StatusCode::Code(200));
        let Some(Item(ok)) = ok else { continue };
        let schema = ok
            .content
            .get("application/json")
            .and_then(|m| m.schema.as_ref());
        let Some(Reference { reference }) = schema else {
            continue;
        };
        let list = reference.rsplit('/').next();
        let Some((_, item)) = list_bodies.iter().find(|(name, _)| list == Some(*name)) else {
            continue;
        };
        let id = get
            .operation_id
            .as_deref()
            .ok_or(format!("GET {path} has no operationId"))?;
        let resource = path.rsplit('/').next().unwrap_or(path);
        code += &format!("    {} => {item}, {resource:?}", pascal_case(id));
        if let Some(export) = get.extensions.get("x-export-resource-type") {
            let export = export
                .as_str()
                .ok_or("x-export-resource-type must be a string")?;
            if !resource_types.contains(&export) {
                return Err(format!(
                    "GET {path}: x-export-resource-type `{export}` is not a value of the \
                     ResourceType schema ({resource_types:?})"
                ));
            }
            code += &format!(", export {export}");
        }
        code += ";\n";
        rows += 1;
    }
    if rows == 0 {
        return Err("openapi.yaml: no GET answers one of the list body schemas".into());
    }
    Ok(code + "}\n")
}

/// The parameters of every operation, with their descriptions (for the setter docs). Shared
/// parameters (`$ref: '#/components/parameters/…'`) are resolved.
pub fn parameters(spec: &openapiv3::OpenAPI) -> Result<Parameters, String> {
    use openapiv3::ReferenceOr::{Item, Reference};
    let mut all = Parameters::new();
    for (path, item) in &spec.paths.paths {
        let Item(item) = item else { continue };
        for (method, op) in item.iter() {
            let Some(id) = op.operation_id.clone() else {
                return Err(format!("{method} {path} has no operationId"));
            };
            let mut params = Vec::new();
            for p in item.parameters.iter().chain(&op.parameters) {
                let p = match p {
                    Item(p) => p,
                    Reference { reference } => {
                        let name = reference.rsplit('/').next().unwrap_or(reference);
                        match spec
                            .components
                            .as_ref()
                            .and_then(|c| c.parameters.get(name))
                        {
                            Some(Item(p)) => p,
                            _ => return Err(format!("openapi.yaml: no parameter {reference}")),
                        }
                    }
                };
                let (data, location) = match p {
                    openapiv3::Parameter::Query { parameter_data, .. } => (parameter_data, "query"),
                    openapiv3::Parameter::Path { parameter_data, .. } => (parameter_data, "path"),
                    openapiv3::Parameter::Header { parameter_data, .. } => {
                        (parameter_data, "header")
                    }
                    openapiv3::Parameter::Cookie { parameter_data, .. } => {
                        (parameter_data, "cookie")
                    }
                };
                params.push(Parameter {
                    name: data.name.clone(),
                    location,
                    description: data.description.clone(),
                });
            }
            all.insert(id, params);
        }
    }
    Ok(all)
}

/// The list parameters whose bounds (`minimum: 1`) stay in the spec for servers, fakes and
/// schemathesis, but not in the generated builders.
const PLAIN_PAGE_PARAMETERS: &[&str] = &["Page", "PageSize"];

/// Drops `minimum`/`maximum` from the `page` and `page_size` parameters before code generation.
/// With `minimum: 1` typify would type the builders' `page`/`page_size` as `NonZeroU64`, and
/// `.page(2)` (an `i32` literal) would no longer compile; the builders keep `i64` and a 0 is
/// answered `400` by the server, which the spec states. A missing parameter is an error, not a
/// silent skip: the builders' types would change without notice.
pub fn plain_page_parameters(spec: &mut openapiv3::OpenAPI) -> Result<(), String> {
    let components = spec
        .components
        .as_mut()
        .ok_or("openapi.yaml has no components")?;
    for name in PLAIN_PAGE_PARAMETERS {
        let Some(openapiv3::ReferenceOr::Item(openapiv3::Parameter::Query {
            parameter_data, ..
        })) = components.parameters.get_mut(*name)
        else {
            return Err(format!(
                "plain_page_parameters: openapi.yaml has no query parameter components/parameters/{name}"
            ));
        };
        let openapiv3::ParameterSchemaOrContent::Schema(openapiv3::ReferenceOr::Item(schema)) =
            &mut parameter_data.format
        else {
            return Err(format!(
                "plain_page_parameters: {name} has no inline schema"
            ));
        };
        let openapiv3::SchemaKind::Type(openapiv3::Type::Integer(integer)) =
            &mut schema.schema_kind
        else {
            return Err(format!("plain_page_parameters: {name} is not an integer"));
        };
        integer.minimum = None;
        integer.maximum = None;
    }
    Ok(())
}

/// `summary_with_export` → `SummaryWithExport`.
pub fn pascal_case(name: &str) -> String {
    let words = name.split(['_', '-', ' ']).flat_map(|word| {
        let mut chars = word.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase());
        first.into_iter().chain(chars)
    });
    words.collect()
}

/// The spec, as it is in `openapi.yaml`, as JSON (for `$OUT_DIR/openapi.json`, which code of
/// this package, the `doctor` example, embeds to read it without a YAML parser). Map keys that
/// YAML reads as numbers or booleans (an unquoted `200:`) are written as strings.
pub fn spec_json(yaml: &str) -> Result<String, String> {
    fn to_json(value: serde_yaml::Value) -> Result<serde_json::Value, String> {
        use serde_yaml::Value as Y;
        Ok(match value {
            Y::Null => serde_json::Value::Null,
            Y::Bool(b) => serde_json::Value::Bool(b),
            Y::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
            Y::String(s) => serde_json::Value::String(s),
            Y::Sequence(items) => {
                serde_json::Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
            }
            Y::Mapping(map) => {
                let mut object = serde_json::Map::new();
                for (key, value) in map {
                    let key = match key {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        other => return Err(format!("unsupported map key {other:?}")),
                    };
                    object.insert(key, to_json(value)?);
                }
                serde_json::Value::Object(object)
            }
            Y::Tagged(tagged) => to_json(tagged.value)?,
        })
    }
    let value: serde_yaml::Value =
        serde_yaml::from_str(yaml).map_err(|e| format!("openapi.yaml is not YAML: {e}"))?;
    let json =
        to_json(value).map_err(|e| format!("openapi.yaml cannot be written as JSON: {e}"))?;
    serde_json::to_string(&json).map_err(|e| format!("cannot write the spec as JSON: {e}"))
}
