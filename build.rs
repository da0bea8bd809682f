//! Generates the typed Mangrove client from `openapi.yaml` with progenitor.
//!
//! Output: `$OUT_DIR/codegen.rs`, included by `src/generated.rs`. Nothing generated is checked in.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle, TypeImpl};

/// Server-owned string enums that must stay open: the generated type is replaced by a
/// hand-written enum with an `Unknown(String)` variant (see `src/open_enum.rs`).
const OPEN_ENUMS: &[&str] = &[
    "ExportStatus",
    "ExportFileFormat",
    "RecordStatus",
    "BatchState",
    "ModelRunState",
    "ReportStatus",
    "RuleResultStatus",
];

/// The flat list-body schemas of `openapi.yaml` and their item schemas.
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
    let spec: openapiv3::OpenAPI = serde_yaml::from_str(&text)
        .map_err(|e| format!("openapi.yaml is not a valid OpenAPI 3.0 document: {e}"))?;
    write_spec_json(&text)?;

    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_inner_type(quote::quote!(crate::client::Inner))
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
    for name in OPEN_ENUMS {
        settings.with_replacement(
            *name,
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
    let code = prettyplease::unparse(&file);
    let out = Path::new(&env("OUT_DIR")?).join("codegen.rs");
    std::fs::write(&out, code).map_err(|e| format!("cannot write {}: {e}", out.display()))
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
