//! Pass `setter_docs`: the request builders' setters documented from the spec's parameters.

use std::collections::BTreeMap;

use super::{doc_attrs, has_doc, module_items, operation_id, require, PassError};

const PASS: &str = "setter_docs";

/// A parameter of an operation, as `openapi.yaml` declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    /// The name on the wire, e.g. `filter[project_id][eq]`.
    pub name: String,
    /// `query`, `path` or `header`.
    pub location: &'static str,
    /// The spec's description, if any.
    pub description: Option<String>,
}

/// The parameters of each operation, by operation id.
pub type Parameters = BTreeMap<String, Vec<Parameter>>;

/// progenitor leaves the setters of its request builders (`.filter_project_id_eq(..)`,
/// `.page(..)`, `.sort(..)`, `.body(..)`) and their `new` undocumented. This pass gives each one
/// the description of its parameter in `openapi.yaml` and the name it is sent under, so the
/// rendered docs say what a filter does without a look at the spec.
///
/// The operation of a builder is the `OperationInfo` of its `send`; a setter is matched to the
/// parameter whose name, with every run of non-alphanumeric characters made one `_`, is the
/// setter's name (`filter[project_id][eq]` → `filter_project_id_eq`: progenitor's snake case).
///
/// Matches: setters of the impls of the top-level `mod builder` that have a `send`. A setter
/// that matches no parameter of its operation is an error (progenitor named it in a new way and
/// this pass must learn it), as is finding no setter at all.
pub fn document_setters(file: &mut syn::File, parameters: &Parameters) -> Result<usize, PassError> {
    let Some(items) = module_items(&mut file.items, "builder") else {
        return Err(PassError::nothing_matched(
            PASS,
            "a top-level `mod builder`",
        ));
    };
    let mut count = 0;
    for item in items.iter_mut() {
        let syn::Item::Impl(imp) = item else { continue };
        if imp.trait_.is_some() {
            continue;
        }
        let operation = imp.items.iter().find_map(|item| match item {
            syn::ImplItem::Fn(f) if f.sig.ident == "send" => operation_id(&f.block),
            _ => None,
        });
        let Some(operation) = operation else { continue };
        let params = parameters.get(&operation).map(Vec::as_slice).unwrap_or(&[]);
        for impl_item in &mut imp.items {
            let syn::ImplItem::Fn(f) = impl_item else {
                continue;
            };
            if has_doc(&f.attrs) {
                continue;
            }
            let name = f.sig.ident.to_string();
            let text = match name.as_str() {
                "new" => format!(
                    "A [`Client::{operation}`](super::Client::{operation}) request on `client`, \
                     with nothing set: the same as `client.{operation}()`."
                ),
                "body" => "The request body: a value of its `types` struct, or anything that \
                           converts into one (such as its `types::builder` struct)."
                    .to_string(),
                "body_map" => "Edits the request body through its `types::builder` struct \
                               (starting from the body set so far)."
                    .to_string(),
                _ => {
                    let Some(param) = params.iter().find(|p| snake(&p.name) == snake(&name)) else {
                        return Err(PassError {
                            pass: PASS,
                            problem: format!(
                                "the setter `{name}` of `{operation}` matches none of its \
                                 parameters in openapi.yaml ({:?})",
                                params.iter().map(|p| &p.name).collect::<Vec<_>>()
                            ),
                        });
                    };
                    count += 1;
                    let sent =
                        format!("Sent as the {} parameter `{}`.", param.location, param.name);
                    match param.description.as_deref().map(str::trim) {
                        Some(description) if !description.is_empty() => {
                            format!("{description}\n\n{sent}")
                        }
                        _ => sent,
                    }
                }
            };
            let mut attrs = doc_attrs(&text);
            attrs.append(&mut f.attrs);
            f.attrs = attrs;
        }
    }
    require(
        PASS,
        count,
        "setters named after the parameters of their operation in the request builders of \
         `mod builder` (impls with a `send` holding an `OperationInfo`)",
    )
}

/// `filter[project_id][eq]` → `filter_project_id_eq`: lower case, every run of other characters
/// one `_`, none at either end.
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}
