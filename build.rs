//! Generates the typed Mangrove client from `openapi.yaml` with progenitor.
//!
//! Output, in `$OUT_DIR`: `codegen.rs` (the client and types, included by `src/generated.rs`),
//! `open_enums.rs` (included by `src/open_enum.rs`), `list_endpoints.rs` (included by
//! `src/resource.rs`) and `openapi.json`. Nothing generated is checked in.
//!
//! Steps: read the spec (`build/spec.rs`), write the tables the hand layer includes, generate
//! with progenitor, then edit its output in passes (`build/passes/`, one file each). Every pass
//! fails the build, naming itself, when it matches nothing: a progenitor release that changes
//! the shape of its output stops the build instead of silently dropping an edit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle, TypeImpl};

#[path = "build/passes/mod.rs"]
mod passes;
#[path = "build/spec.rs"]
mod spec;

use spec::OpenEnum;

/// Server-owned string enums that must stay open: the generated type of each schema is replaced
/// by an enum with an `Unknown(String)` variant, made by `open_enum!` in `src/open_enum.rs` from
/// the schema's values. The request's `ExportFormat` and the status's `ExportFileFormat` are one
/// type.
const OPEN_ENUMS: &[OpenEnum] = &[
    OpenEnum {
        schema: "ExportStatus",
        name: "ExportStatus",
        rust_doc: "",
    },
    OpenEnum {
        schema: "ExportFormat",
        name: "ExportFormat",
        rust_doc: "",
    },
    OpenEnum {
        schema: "ExportFileFormat",
        name: "ExportFormat",
        rust_doc: "",
    },
    OpenEnum {
        schema: "RecordStatus",
        name: "RecordStatus",
        rust_doc: "",
    },
    OpenEnum {
        schema: "BatchState",
        name: "BatchState",
        rust_doc: "",
    },
    OpenEnum {
        schema: "ModelRunState",
        name: "ModelRunState",
        rust_doc: "",
    },
    OpenEnum {
        schema: "ReportStatus",
        name: "ReportStatus",
        rust_doc: "",
    },
    OpenEnum {
        schema: "RuleResultStatus",
        name: "RuleResultStatus",
        rust_doc: "",
    },
    OpenEnum {
        schema: "ResourceType",
        name: "ResourceType",
        rust_doc: "\n[`Client::export_resource`](crate::Client::export_resource) takes one; each \
                   exportable list request names its own as \
                   [`Exportable::RESOURCE_TYPE`](crate::Exportable::RESOURCE_TYPE).",
    },
];

/// The flat list-body schemas of `openapi.yaml` and their item schemas (each operation answering
/// one is a list endpoint: `build/spec.rs`'s `list_endpoints_code`).
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

/// Schemas renamed in `openapi.yaml` (new name, old name): the generated type keeps its old
/// name as a deprecated alias (pass `renamed_types`). `Export` became `ExportJob` so the status
/// object no longer shares its name with the `mangrove::Export` handle.
const RENAMED_SCHEMAS: &[(&str, &str)] = &[("ExportJob", "Export")];

fn main() -> ExitCode {
    println!("cargo:rerun-if-changed=openapi.yaml");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build");
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
    write_out("openapi.json", spec::spec_json(&text)?)?;
    write_out("open_enums.rs", spec::open_enums_code(&spec, OPEN_ENUMS)?)?;
    // Every export resource type of a list endpoint must be a value of `ResourceType`.
    let (_, resource_types) = spec::string_enum(&spec, "ResourceType")?;
    write_out(
        "list_endpoints.rs",
        spec::list_endpoints_code(&spec, LIST_BODIES, &resource_types)?,
    )?;

    let parameters = spec::parameters(&spec)?;
    spec::plain_page_parameters(&mut spec)?;

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
    for e in OPEN_ENUMS {
        settings.with_replacement(
            e.schema,
            format!("crate::open_enum::{}", e.name),
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
    edit(&mut file, &parameters).map_err(|e| e.to_string())?;
    let types = split_types(&mut file)?;
    write_out("types.rs", prettyplease::unparse(&types))?;
    write_out("codegen.rs", prettyplease::unparse(&file))
}

/// Takes progenitor's `pub mod types { … }` out of `file` and answers its items as a file of
/// their own: `$OUT_DIR/types.rs`, included by `src/types.rs`.
///
/// Why: the types are plain data (serde derives, builders) that depend on nothing of the
/// client, while the client code needs the crate's hand-written layer (`client::Inner`, the retry
/// hook). In one module, every part of the crate that names a type (errors, summaries, the
/// slot limiter) would sit in one import cycle with the client. Apart, `types` is a bottom layer
/// (see the README's architecture section), and only the client code and `client`/`retry` form
/// the cycle the generator forces. `src/generated.rs` re-imports `crate::types`, so the client
/// code's `types::…` paths resolve unchanged.
fn split_types(file: &mut syn::File) -> Result<syn::File, String> {
    let at = file.items.iter().position(
        |item| matches!(item, syn::Item::Mod(m) if m.ident == "types" && m.content.is_some()),
    );
    let Some(at) = at else {
        return Err(
            "build.rs split_types: progenitor's output has no inline `pub mod types { … }` \
                    (did progenitor change the shape of its output?)"
                .into(),
        );
    };
    let syn::Item::Mod(module) = file.items.remove(at) else {
        unreachable!("position() matched a module");
    };
    let items = module.content.map(|(_, items)| items).unwrap_or_default();
    Ok(syn::File {
        shebang: None,
        attrs: Vec::new(),
        items,
    })
}

/// The passes over progenitor's output, in order (each in `build/passes/`).
fn edit(
    file: &mut syn::File,
    parameters: &passes::setter_docs::Parameters,
) -> Result<(), passes::PassError> {
    passes::client_accessors::add_client_accessors(file)?;
    passes::hide_constructors::hide_internal_constructors(file)?;
    passes::null_collections::read_null_collections_as_empty(file)?;
    passes::extra_maps::default_extra_maps(file)?;
    passes::decode_routing::route_decodes(file)?;
    passes::redact_debug::redact_download_urls_in_debug(file)?;
    passes::list_query_setters::hide_list_query_setters(file)?;
    passes::setter_docs::document_setters(file, parameters)?;
    passes::builder_docs::document_type_builders(file)?;
    passes::renamed_types::alias_renamed_types(file, RENAMED_SCHEMAS)?;
    passes::fallback_docs::document_the_rest(file)?;
    passes::schemars_feature::schemars_behind_feature(file)?;
    Ok(())
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (build.rs must run under cargo)"))
}

/// Writes `text` to `$OUT_DIR/name`.
fn write_out(name: &str, text: String) -> Result<(), String> {
    let out = Path::new(&env("OUT_DIR")?).join(name);
    std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
