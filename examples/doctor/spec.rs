//! The spec (`openapi.yaml`), embedded as JSON by `build.rs`: its `GET` operations and the schema
//! of each answer, with `$ref`s resolved against the document itself.

use serde_json::{Map, Value};

/// `openapi.yaml` as JSON, written by `build.rs` (no YAML parsing at run time).
pub const SPEC_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// How many `$ref`s in a row are followed before giving up (a cycle of refs to refs).
const MAX_REF_CHAIN: usize = 32;

/// A parsed OpenAPI document.
#[derive(Debug)]
pub struct Spec {
    root: Value,
}

/// A `GET` operation of the spec.
#[derive(Clone, Debug)]
pub struct Operation {
    /// `operationId`.
    pub id: String,
    /// Path template relative to the server URL, e.g. `/projects/{project_id}/events`.
    pub path: String,
    /// Names of the path parameters, in the template's order.
    pub path_params: Vec<String>,
    /// A list endpoint: it has a `response_mode` query parameter.
    pub is_list: bool,
}

impl Spec {
    /// The embedded spec.
    pub fn embedded() -> Result<Spec, String> {
        Spec::parse(SPEC_JSON)
    }

    /// A spec from its JSON text.
    pub fn parse(json: &str) -> Result<Spec, String> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| format!("the spec is not JSON: {e}"))?;
        if !root.is_object() {
            return Err("the spec is not a JSON object".into());
        }
        Ok(Spec { root })
    }

    /// A spec whose `components.schemas` are `schemas` (for tests of the drift checker).
    #[cfg(test)]
    pub fn with_schemas(schemas: Value) -> Spec {
        Spec {
            root: serde_json::json!({ "components": { "schemas": schemas } }),
        }
    }

    /// `info.version` of the spec.
    pub fn version(&self) -> &str {
        self.root
            .pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or("?")
    }

    /// The schema `components.schemas.<name>`.
    #[cfg(test)]
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.root.get("components")?.get("schemas")?.get(name)
    }

    /// Follows `$ref` (local `#/…` pointers only) until a schema without one.
    pub fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        for _ in 0..MAX_REF_CHAIN {
            match schema.get("$ref").and_then(Value::as_str) {
                Some(reference) => match self.pointer(reference) {
                    Some(target) => schema = target,
                    None => return schema,
                },
                None => return schema,
            }
        }
        schema
    }

    /// The name of the component a schema refers to (`Allocation` for
    /// `{"$ref": "#/components/schemas/Allocation"}`).
    pub fn ref_name(schema: &Value) -> Option<&str> {
        schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
    }

    fn pointer(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// Every `GET` operation, in the spec's order of paths.
    pub fn get_operations(&self) -> Vec<Operation> {
        let Some(paths) = self.root.get("paths").and_then(Value::as_object) else {
            return Vec::new();
        };
        let mut operations = Vec::new();
        for (path, item) in paths {
            let Some(get) = item.get("get") else { continue };
            let Some(id) = get.get("operationId").and_then(Value::as_str) else {
                continue;
            };
            let params = self.parameters(item, get);
            let is_list = params.iter().any(|p| {
                p.get("in").and_then(Value::as_str) == Some("query")
                    && p.get("name").and_then(Value::as_str) == Some("response_mode")
            });
            operations.push(Operation {
                id: id.to_string(),
                path: path.clone(),
                path_params: template_params(path),
                is_list,
            });
        }
        operations
    }

    /// Parameters of an operation and of its path item, `$ref`s resolved.
    fn parameters<'a>(&'a self, item: &'a Value, op: &'a Value) -> Vec<&'a Value> {
        [item, op]
            .into_iter()
            .filter_map(|v| v.get("parameters").and_then(Value::as_array))
            .flatten()
            .map(|p| self.resolve(p))
            .collect()
    }

    /// The JSON schema of the answer of `GET <path>` with `status` (an exact code, then `2XX`
    /// style ranges, then `default`), and whether the spec lists the status at all.
    pub fn response_schema(&self, path: &str, status: u16) -> ResponseSchema<'_> {
        let Some(responses) = self
            .root
            .get("paths")
            .and_then(|p| p.get(path))
            .and_then(|item| item.get("get"))
            .and_then(|op| op.get("responses"))
            .and_then(Value::as_object)
        else {
            return ResponseSchema::NotListed;
        };
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let response = responses
            .get(&exact)
            .or_else(|| {
                responses
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&range))
                    .map(|(_, v)| v)
            })
            .or_else(|| responses.get("default"));
        let Some(response) = response else {
            return ResponseSchema::NotListed;
        };
        let response = self.resolve(response);
        match json_content(response.get("content").and_then(Value::as_object)) {
            Some(schema) => ResponseSchema::Json(schema),
            None => ResponseSchema::NoJsonBody,
        }
    }
}

/// What the spec says about one answer.
#[derive(Debug)]
pub enum ResponseSchema<'a> {
    /// The status is listed with this JSON schema.
    Json(&'a Value),
    /// The status is listed without a JSON body.
    NoJsonBody,
    /// The spec does not list the status (nor a range or `default` covering it).
    NotListed,
}

fn json_content(content: Option<&Map<String, Value>>) -> Option<&Value> {
    let content = content?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(k, _)| k.ends_with("json"))
                .map(|(_, v)| v)
        })?
        .get("schema")
}

/// `["project_id", "event_id"]` for `/projects/{project_id}/events/{event_id}`.
fn template_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_spec_has_the_get_operations() {
        let spec = Spec::embedded().unwrap();
        let ops = spec.get_operations();
        let lists = ops.iter().filter(|o| o.is_list).count();
        assert_eq!(lists, 15, "list endpoints");
        assert!(ops.len() >= 25, "{} GET operations", ops.len());
        let event = ops.iter().find(|o| o.id == "get_event").unwrap();
        assert_eq!(event.path_params, ["project_id", "event_id"]);
        assert!(matches!(
            spec.response_schema("/projects", 200),
            ResponseSchema::Json(_)
        ));
        // 4XX and 5XX ranges answer the error schema.
        match spec.response_schema("/projects", 404) {
            ResponseSchema::Json(s) => assert_eq!(Spec::ref_name(s), Some("ApiError")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            spec.response_schema("/projects", 302),
            ResponseSchema::NotListed
        ));
    }
}
