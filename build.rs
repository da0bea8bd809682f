//! Generates the typed Mangrove client from `openapi.yaml` with progenitor.
//!
//! Output: `$OUT_DIR/codegen.rs`, included by `src/generated.rs`. Nothing generated is checked in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle, TypeImpl};

/// Server-owned string enums that must stay open: the generated type (schema name, left) is
/// replaced by an enum with an `Unknown(String)` variant (right), made by `open_enum!` in
/// `src/open_enum.rs` from the schema's values ([`write_open_enums`]). The request's
/// `ExportFormat` and the status's `ExportFileFormat` are one type.
const OPEN_ENUMS: &[(&str, &str)] = &[
    ("ExportStatus", "ExportStatus"),
    ("ExportFormat", "ExportFormat"),
    ("ExportFileFormat", "ExportFormat"),
    ("RecordStatus", "RecordStatus"),
    ("BatchState", "BatchState"),
    ("ModelRunState", "ModelRunState"),
    ("ReportStatus", "ReportStatus"),
    ("RuleResultStatus", "RuleResultStatus"),
];

/// The flat list-body schemas of `openapi.yaml` and their item schemas (each operation answering
/// one is a list endpoint: [`write_list_endpoints`]).
const LIST_BODIES: &[(&str, &str)] = &[
    ("ProjectList", "Project"),
    ("EventList", "Event"),
    ("EventTypeList", "EventType"),
    ("DataPointList", "DataPoint"),
    ("BatchList", "Batch"),
    ("LedgerList", "Ledger"),
    ("OrderList", "Order"),
    ("FeedstockList", "Feedstock"),
    ("TrackingUnitList", "TrackingUnit"),
    ("ModelList", "Model"),
    ("ReportList", "Report"),
    ("LocationList", "Location"),
    ("EvidenceList", "Evidence"),
    ("ModelRunList", "ModelRun"),
];

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=openapi.yaml");
    println!("cargo:rerun-if-changed=build.rs");
    match generate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // `cargo::error=` shows the message as a build error (cargo >= 1.84).
            for line in message.lines() {
                println!("cargo::error={line}");
            }
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn generate() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let spec_path = manifest_dir.join("openapi.yaml");
    let text = std::fs::read_to_string(&spec_path)
        .map_err(|e| format!("cannot read {}: {e}", spec_path.display()))?;
    let mut spec: openapiv3::OpenAPI = serde_yaml::from_str(&text)
        .map_err(|e| format!("openapi.yaml is not a valid OpenAPI 3.0 document: {e}"))?;
    write_spec_json(&text)?;
    write_open_enums(&spec)?;
    write_list_endpoints(&spec)?;

    plain_page_parameters(&mut spec);

    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_inner_type(quote::quote!(crate::client::Inner))
        // Behind the crate feature `schemars`: see `schemars_behind_feature`.
        .with_derive("schemars::JsonSchema")
        .with_derive("PartialEq");
    // Every `<Resource>List` schema (the flat list body) becomes the one generic `ListBody<T>`.
    for (list, item) in LIST_BODIES {
        settings.with_replacement(
            *list,
            format!("crate::summary::ListBody<crate::types::{item}>"),
            std::iter::empty(),
        );
    }
    // Ids of nested objects the docs never type: an integer or a string (see `src/lenient.rs`).
    settings.with_replacement(
        "LooseId",
        "crate::lenient::LooseId",
        [TypeImpl::Display].into_iter(),
    );
    for (schema, name) in OPEN_ENUMS {
        settings.with_replacement(
            *schema,
            format!("crate::open_enum::{name}"),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }

    // progenitor reports some spec problems by panicking; turn those into a readable error too.
    let generated = std::panic::catch_unwind(move || {
        let mut generator = Generator::new(&settings);
        generator.generate_tokens(&spec).map_err(|e| e.to_string())
    });
    let tokens = match generated {
        Ok(Ok(tokens)) => tokens,
        Ok(Err(e)) => return Err(format!("progenitor rejected openapi.yaml: {e}")),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            return Err(format!(
                "progenitor failed on openapi.yaml: {what}\n\
                 (common causes: two different success or error schemas in one operation, \
                 an inline response schema, a missing operationId)"
            ));
        }
    };
    let mut file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("progenitor produced invalid Rust: {e}"))?;
    add_client_accessors(&mut file);
    hide_internal_constructors(&mut file);
    read_null_collections_as_empty(&mut file);
    default_extra_maps(&mut file);
    decode_with_paths(&mut file)?;
    redact_download_urls_in_debug(&mut file);
    schemars_behind_feature(&mut file);
    let code = prettyplease::unparse(&file);
    let out = Path::new(&env("OUT_DIR")?).join("codegen.rs");
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Writes `$OUT_DIR/open_enums.rs`, included by `src/open_enum.rs`: an `open_enum!` for each
/// type of [`OPEN_ENUMS`], with the description and values of the first schema that maps to it.
fn write_open_enums(spec: &openapiv3::OpenAPI) -> Result<(), String> {
    let schemas = spec.components.as_ref().map(|c| &c.schemas);
    let mut code = String::new();
    for (i, (schema, name)) in OPEN_ENUMS.iter().enumerate() {
        if OPEN_ENUMS[..i].iter().any(|(_, earlier)| earlier == name) {
            continue;
        }
        let found = schemas.and_then(|s| s.get(*schema));
        let Some(openapiv3::ReferenceOr::Item(openapiv3::Schema {
            schema_data,
            schema_kind: openapiv3::SchemaKind::Type(openapiv3::Type::String(string)),
        })) = found
        else {
            return Err(format!(
                "openapi.yaml: {schema} must be a string enum schema"
            ));
        };
        let description = schema_data.description.as_deref().unwrap_or(name);
        code += "open_enum! {\n";
        for line in description.lines() {
            code += &format!("    #[doc = {line:?}]\n");
        }
        code += &format!("    {name} {{\n");
        for value in string.enumeration.iter().flatten() {
            code += &format!("        {} = {value:?},\n", pascal_case(value));
        }
        code += "    }\n}\n\n";
    }
    let out = Path::new(&env("OUT_DIR")?).join("open_enums.rs");
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Writes `$OUT_DIR/list_endpoints.rs`, included by `src/resource.rs`: the `list_endpoints!` row
/// of every `GET` answering one of [`LIST_BODIES`]: its builder, item type and resource (the last
/// segment of its path), and the resource type of an export (its `x-export-resource-type`).
fn write_list_endpoints(spec: &openapiv3::OpenAPI) -> Result<(), String> {
    use openapiv3::ReferenceOr::{Item, Reference};
    let mut code = String::from("list_endpoints! {\n");
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
        let Some((_, item)) = LIST_BODIES.iter().find(|(name, _)| list == Some(*name)) else {
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
            code += &format!(", export {export}");
        }
        code += ";\n";
    }
    let out = Path::new(&env("OUT_DIR")?).join("list_endpoints.rs");
    std::fs::write(&out, code + "}\n").map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// `summary_with_export` → `SummaryWithExport`.
fn pascal_case(name: &str) -> String {
    let words = name.split(['_', '-', ' ']).flat_map(|word| {
        let mut chars = word.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase());
        first.into_iter().chain(chars)
    });
    words.collect()
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (build.rs must run under cargo)"))
}

/// Gives every generated request builder (`builder::ListProjects<'a>`, …) a crate-private
/// `client()` accessor, so the hand-written layer can hand an owned clone of the client to
/// exports and page streams started from a builder. The builders keep their `client` field
/// private to the generated module; this is the only change made to generated code.
fn add_client_accessors(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Mod(module) = item else {
            continue;
        };
        if module.ident != "builder" {
            continue;
        }
        let Some((_, items)) = module.content.as_mut() else {
            continue;
        };
        let mut accessors = Vec::new();
        for item in items.iter() {
            let syn::Item::Struct(s) = item else { continue };
            let has_client = s
                .fields
                .iter()
                .any(|f| f.ident.as_ref().is_some_and(|i| i == "client"));
            if has_client && !s.generics.params.is_empty() {
                let name = &s.ident;
                accessors.push(syn::parse_quote! {
                    impl<'a> #name<'a> {
                        #[allow(dead_code)]
                        pub(crate) fn client_ref(&self) -> &'a super::Client {
                            self.client
                        }
                    }
                });
            }
        }
        items.extend(accessors);
    }
}

/// `Client::new` and `Client::new_with_client` take the crate-private client state
/// (`crate::client::Inner`, progenitor's inner type), so a user cannot call them: hidden from the
/// docs (`Client::builder()` and `Client::from_env()` are the constructors).
fn hide_internal_constructors(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else { continue };
        let is_client = imp.trait_.is_none()
            && matches!(&*imp.self_ty, syn::Type::Path(p) if p.path.is_ident("Client"));
        if !is_client {
            continue;
        }
        for item in &mut imp.items {
            if let syn::ImplItem::Fn(f) = item {
                if f.sig.ident == "new" || f.sig.ident == "new_with_client" {
                    f.attrs.push(syn::parse_quote!(#[doc(hidden)]));
                }
            }
        }
    }
}

/// The list parameters whose bounds (`minimum: 1`) stay in the spec for servers, fakes and
/// schemathesis, but not in the generated builders.
const PLAIN_PAGE_PARAMETERS: &[&str] = &["Page", "PageSize"];

/// Drops `minimum`/`maximum` from the `page` and `page_size` parameters before code generation.
/// With `minimum: 1` typify would type the builders' `page`/`page_size` as `NonZeroU64`, and
/// `.page(2)` (an `i32` literal) would no longer compile; the builders keep `i64` and a 0 is
/// answered `400` by the server, which the spec states.
fn plain_page_parameters(spec: &mut openapiv3::OpenAPI) {
    let Some(components) = spec.components.as_mut() else {
        return;
    };
    for name in PLAIN_PAGE_PARAMETERS {
        let Some(openapiv3::ReferenceOr::Item(openapiv3::Parameter::Query {
            parameter_data, ..
        })) = components.parameters.get_mut(*name)
        else {
            continue;
        };
        let openapiv3::ParameterSchemaOrContent::Schema(openapiv3::ReferenceOr::Item(schema)) =
            &mut parameter_data.format
        else {
            continue;
        };
        if let openapiv3::SchemaKind::Type(openapiv3::Type::Integer(integer)) =
            &mut schema.schema_kind
        {
            integer.minimum = None;
            integer.maximum = None;
        }
    }
}

/// Collection types that `null` may stand for (an empty one).
const COLLECTIONS: &[&str] = &["Vec", "HashMap", "BTreeMap", "Map"];

/// Puts `#[serde(deserialize_with = "crate::lenient::null_as_default")]` on every field of the
/// generated `types` that has `#[serde(default…)]` and is a `Vec` or a map: the spec's optional
/// arrays and maps. `null` then reads as empty, like an absent field, instead of failing the
/// whole response (the docs never say which fields are omitted and which are sent as `null`).
fn read_null_collections_as_empty(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Mod(module) = item else {
            continue;
        };
        if module.ident != "types" {
            continue;
        }
        let Some((_, items)) = module.content.as_mut() else {
            continue;
        };
        for item in items.iter_mut() {
            let syn::Item::Struct(s) = item else { continue };
            for field in s.fields.iter_mut() {
                if has_serde_default(&field.attrs) && is_collection(&field.ty) {
                    field.attrs.push(syn::parse_quote! {
                        #[serde(deserialize_with = "crate::lenient::null_as_default")]
                    });
                }
            }
        }
    }
}

/// Whether the attributes hold `#[serde(default …)]` (with or without other serde options).
fn has_serde_default(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("serde") {
            return false;
        }
        let mut found = false;
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                found = true;
            }
            // Skip `= value` of the other options.
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
        found
    })
}

/// Whether `ty` is one of [`COLLECTIONS`] (by its last path segment).
fn is_collection(ty: &syn::Type) -> bool {
    let syn::Type::Path(path) = ty else {
        return false;
    };
    path.path
        .segments
        .last()
        .is_some_and(|segment| COLLECTIONS.iter().any(|c| segment.ident == c))
}

/// Lets the struct builders of open request objects (`additionalProperties: {}`, such as
/// `BatchAmount`) start with an empty `extra` map: typify's builders otherwise demand
/// `.extra(...)` on every object, even when there is nothing to add.
fn default_extra_maps(file: &mut syn::File) {
    for item in &mut file.items {
        let syn::Item::Mod(types) = item else {
            continue;
        };
        if types.ident != "types" {
            continue;
        }
        let Some((_, items)) = types.content.as_mut() else {
            continue;
        };
        for item in items.iter_mut() {
            let syn::Item::Mod(builder) = item else {
                continue;
            };
            if builder.ident != "builder" {
                continue;
            }
            let Some((_, items)) = builder.content.as_mut() else {
                continue;
            };
            for item in items.iter_mut() {
                let syn::Item::Impl(imp) = item else { continue };
                let is_default = imp
                    .trait_
                    .as_ref()
                    .and_then(|(_, path, _)| path.segments.last())
                    .is_some_and(|s| s.ident == "Default");
                if !is_default {
                    continue;
                }
                for impl_item in &mut imp.items {
                    let syn::ImplItem::Fn(f) = impl_item else {
                        continue;
                    };
                    for stmt in &mut f.block.stmts {
                        let syn::Stmt::Expr(syn::Expr::Struct(init), _) = stmt else {
                            continue;
                        };
                        for field in init.fields.iter_mut() {
                            if matches!(&field.member, syn::Member::Named(name) if name == "extra")
                            {
                                field.expr = syn::parse_quote!(Ok(Default::default()));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Rewrites every `ResponseValue::from_response(response).await` of the generated calls into
/// `crate::decode::from_response(response, "<operation_id>").await`: the same decode (one
/// `serde_json::from_slice`), but a body that does not decode gives an error that names the
/// operation and the JSON path (see `src/decode.rs`). The operation id is taken from the
/// `OperationInfo { operation_id: "…" }` of the same method.
fn decode_with_paths(file: &mut syn::File) -> Result<(), String> {
    use syn::visit_mut::VisitMut;

    /// Finds the operation id literal of one method.
    struct FindOperation(Option<syn::LitStr>);
    impl VisitMut for FindOperation {
        fn visit_expr_struct_mut(&mut self, e: &mut syn::ExprStruct) {
            if e.path.is_ident("OperationInfo") {
                for field in &e.fields {
                    if let (
                        syn::Member::Named(name),
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(op),
                            ..
                        }),
                    ) = (&field.member, &field.expr)
                    {
                        if name == "operation_id" {
                            self.0 = Some(op.clone());
                        }
                    }
                }
            }
            syn::visit_mut::visit_expr_struct_mut(self, e);
        }
    }

    /// Replaces the calls within one method.
    struct Rewrite<'a> {
        operation: &'a syn::LitStr,
        count: usize,
    }
    impl VisitMut for Rewrite<'_> {
        fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
            syn::visit_mut::visit_expr_call_mut(self, call);
            let syn::Expr::Path(func) = call.func.as_ref() else {
                return;
            };
            let names: Vec<String> = func
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if names == ["ResponseValue", "from_response"] && call.args.len() == 1 {
                let response = &call.args[0];
                let operation = self.operation;
                *call = syn::parse_quote!(crate::decode::from_response(#response, #operation));
                self.count += 1;
            }
        }
    }

    struct Methods {
        rewritten: usize,
        error: Option<String>,
    }
    impl VisitMut for Methods {
        fn visit_impl_item_fn_mut(&mut self, method: &mut syn::ImplItemFn) {
            let mut find = FindOperation(None);
            find.visit_block_mut(&mut method.block);
            if let Some(operation) = find.0 {
                let mut rewrite = Rewrite {
                    operation: &operation,
                    count: 0,
                };
                rewrite.visit_block_mut(&mut method.block);
                self.rewritten += rewrite.count;
            } else {
                let text = quote::quote!(#method).to_string();
                if text.contains("from_response") {
                    self.error = Some(format!(
                        "build.rs: `{}` decodes a response but has no OperationInfo",
                        method.sig.ident
                    ));
                }
            }
        }
    }

    let mut methods = Methods {
        rewritten: 0,
        error: None,
    };
    methods.visit_file_mut(file);
    if let Some(error) = methods.error {
        return Err(error);
    }
    if methods.rewritten == 0 {
        return Err(
            "build.rs: found no `ResponseValue::from_response` in the generated client to \
             rewrite (did progenitor change how it decodes responses?)"
                .into(),
        );
    }
    Ok(())
}

/// Writes the spec, as it is in `openapi.yaml`, as JSON to `$OUT_DIR/openapi.json`, so that code of
/// this package (the `doctor` example) can embed it with
/// `include_str!(concat!(env!("OUT_DIR"), "/openapi.json"))` and read it without a YAML parser.
/// Map keys that YAML reads as numbers or booleans (an unquoted `200:`) are written as strings.
fn write_spec_json(yaml: &str) -> Result<(), String> {
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
    let text =
        serde_json::to_string(&json).map_err(|e| format!("cannot write the spec as JSON: {e}"))?;
    let out = Path::new(&env("OUT_DIR")?).join("openapi.json");
    std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// A pre-signed `download_url` reads the export file for 24 hours: it must not reach a log line
/// through `{:?}`. Every generated struct with a `download_url` field (`types::Export` and its
/// builder) loses its derived `Debug` for one that prints the URL without its query
/// (`crate::redact::redact_query`); `CompletedExport::download_url()` still hands it out.
fn redact_download_urls_in_debug(file: &mut syn::File) {
    fn is_result(s: &syn::ItemStruct, name: &syn::Ident) -> bool {
        s.fields.iter().any(|f| {
            f.ident.as_ref() == Some(name)
                && matches!(&f.ty, syn::Type::Path(p)
                    if p.path.segments.last().is_some_and(|seg| seg.ident == "Result"))
        })
    }
    fn visit(items: &mut Vec<syn::Item>) {
        let mut impls: Vec<syn::Item> = Vec::new();
        for item in items.iter_mut() {
            match item {
                syn::Item::Mod(m) => {
                    if let Some((_, inner)) = m.content.as_mut() {
                        visit(inner);
                    }
                }
                syn::Item::Struct(s) => {
                    let names: Vec<syn::Ident> =
                        s.fields.iter().filter_map(|f| f.ident.clone()).collect();
                    if !names.iter().any(|n| n == "download_url") {
                        continue;
                    }
                    for attr in &mut s.attrs {
                        if !attr.path().is_ident("derive") {
                            continue;
                        }
                        let Ok(derives) = attr.parse_args_with(
                            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                        ) else {
                            continue;
                        };
                        let kept: Vec<&syn::Path> =
                            derives.iter().filter(|p| !p.is_ident("Debug")).collect();
                        *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
                    }
                    let name = &s.ident;
                    let label = name.to_string();
                    let fields = names.iter().map(|n| {
                        let text = n.to_string();
                        if n == "download_url" {
                            // `Option<String>`, or `Result<Option<String>, String>` in builders.
                            let url = if is_result(s, n) {
                                quote::quote!(self.#n.as_ref().ok().and_then(|u| u.as_deref()))
                            } else {
                                quote::quote!(self.#n.as_deref())
                            };
                            quote::quote!(.field(#text, &#url.map(crate::redact::redact_query)))
                        } else {
                            quote::quote!(.field(#text, &self.#n))
                        }
                    });
                    impls.push(syn::parse_quote! {
                        impl ::std::fmt::Debug for #name {
                            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                                f.debug_struct(#label) #(#fields)* .finish()
                            }
                        }
                    });
                }
                _ => {}
            }
        }
        items.extend(impls);
    }
    visit(&mut file.items);
}

/// `schemars::JsonSchema` (asked of progenitor with `with_derive`, which has no way to make a
/// derive conditional) is derived only with the crate feature `schemars`: every generated
/// `#[derive(.., schemars::JsonSchema)]` becomes `#[derive(..)]` plus
/// `#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]`, so a build without the
/// feature compiles neither schemars nor the schema code of every type.
fn schemars_behind_feature(file: &mut syn::File) {
    use syn::visit_mut::VisitMut;
    struct Gate;
    impl Gate {
        fn gate(attrs: &mut Vec<syn::Attribute>) {
            let mut gated = None;
            for (i, attr) in attrs.iter_mut().enumerate() {
                if !attr.path().is_ident("derive") {
                    continue;
                }
                let Ok(derives) = attr.parse_args_with(
                    syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
                ) else {
                    continue;
                };
                let is_schema = |p: &syn::Path| {
                    p.segments.len() == 2
                        && p.segments[0].ident == "schemars"
                        && p.segments[1].ident == "JsonSchema"
                };
                if !derives.iter().any(is_schema) {
                    continue;
                }
                let kept: Vec<&syn::Path> = derives.iter().filter(|p| !is_schema(p)).collect();
                *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
                gated = Some(i);
            }
            // Right after the derive it came from, before the `#[serde]` attributes it reads.
            if let Some(i) = gated {
                let derive = syn::parse_quote!(
                    #[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
                );
                attrs.insert(i + 1, derive);
            }
        }
    }
    impl VisitMut for Gate {
        fn visit_item_struct_mut(&mut self, s: &mut syn::ItemStruct) {
            Gate::gate(&mut s.attrs);
        }
        fn visit_item_enum_mut(&mut self, e: &mut syn::ItemEnum) {
            Gate::gate(&mut e.attrs);
        }
    }
    Gate.visit_file_mut(file);
}
