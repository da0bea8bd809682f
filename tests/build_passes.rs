//! The passes `build.rs` runs over progenitor's output (`build/passes/`), each on a small input
//! shaped like progenitor's: a matching input is edited, and an input that no longer has the
//! expected shape fails with an error naming the pass (instead of silently doing nothing).

#[allow(dead_code)]
#[path = "../build/passes/mod.rs"]
mod passes;

use passes::PassError;

/// The file as one line of tokens, for `contains` checks.
fn text(file: &syn::File) -> String {
    quote::quote!(#file).to_string()
}

/// Asserts that `result` is the error of `pass`, and that its text names the pass.
fn assert_named<T: std::fmt::Debug>(result: Result<T, PassError>, pass: &str) {
    let err = result.expect_err("a non-matching input must fail");
    assert_eq!(err.pass, pass);
    let message = err.to_string();
    assert!(message.contains(&format!("`{pass}`")), "{message}");
    assert!(message.contains("progenitor"), "{message}");
}

/// A file with nothing progenitor would generate.
fn unrelated() -> syn::File {
    syn::parse_quote! {
        pub mod other { pub struct Thing { pub x: u8 } }
        impl Other { pub fn new() -> Self { Other } }
    }
}

/// A request builder and its `send`, shaped like progenitor 0.15's.
fn request_builder() -> syn::File {
    syn::parse_quote! {
        impl Client {
            pub fn new(baseurl: &str, inner: Inner) -> Self { todo!() }
            pub fn new_with_client(baseurl: &str, client: reqwest::Client, inner: Inner) -> Self { todo!() }
            pub fn baseurl(&self) -> &str { todo!() }
        }
        pub mod builder {
            #[derive(Debug, Clone)]
            pub struct ListBatches<'a> {
                client: &'a super::Client,
                export_format: Result<Option<crate::open_enum::ExportFormat>, String>,
                filter_project_id_eq: Result<Option<i64>, String>,
                response_mode: Result<Option<types::ResponseMode>, String>,
            }
            impl<'a> ListBatches<'a> {
                pub fn new(client: &'a super::Client) -> Self { todo!() }
                pub fn export_format<V>(mut self, value: V) -> Self
                where V: std::convert::TryInto<crate::open_enum::ExportFormat> { self }
                pub fn filter_project_id_eq<V>(mut self, value: V) -> Self
                where V: std::convert::TryInto<i64> { self }
                pub fn response_mode<V>(mut self, value: V) -> Self
                where V: std::convert::TryInto<types::ResponseMode> { self }
                ///Sends a `GET` request to `/batches`
                pub async fn send(self) -> Result<ResponseValue<crate::types::Batch>, Error<types::ApiError>> {
                    let info = OperationInfo { operation_id: "list_batches" };
                    let response = result?;
                    match response.status().as_u16() {
                        200u16 => ResponseValue::from_response(response).await,
                        400u16..=499u16 => Err(Error::ErrorResponse(ResponseValue::from_response(response).await?)),
                        _ => Err(Error::UnexpectedResponse(response)),
                    }
                }
            }
        }
    }
}

/// `types` with a struct, its typify builder and a `Default` with an `extra` map.
fn types_module() -> syn::File {
    syn::parse_quote! {
        pub mod types {
            #[derive(Clone, Debug, PartialEq)]
            pub struct ExportJob {
                pub id: String,
                ///Temporary download URL.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub download_url: Option<String>,
                #[serde(default, skip_serializing_if = "Vec::is_empty")]
                pub tags: Vec<String>,
                #[serde(default)]
                pub count: Option<i64>,
            }
            impl ExportJob {
                pub fn builder() -> builder::ExportJob { Default::default() }
            }
            pub mod builder {
                #[derive(Clone, Debug)]
                pub struct ExportJob {
                    id: Result<String, String>,
                    download_url: Result<Option<String>, String>,
                    extra: Result<Map<String, Value>, String>,
                }
                impl Default for ExportJob {
                    fn default() -> Self {
                        Self {
                            id: Err("no value supplied for id".to_string()),
                            download_url: Ok(Default::default()),
                            extra: Err("no value supplied for extra".to_string()),
                        }
                    }
                }
                impl ExportJob {
                    pub fn id<T>(mut self, value: T) -> Self { self }
                    pub fn download_url<T>(mut self, value: T) -> Self { self }
                }
            }
        }
    }
}

#[test]
fn client_accessors_add_client_ref_to_request_builders() {
    let mut file = request_builder();
    assert_eq!(
        passes::client_accessors::add_client_accessors(&mut file),
        Ok(1)
    );
    let text = text(&file);
    assert!(
        text.contains("pub (crate) fn client_ref (& self) -> & 'a super :: Client"),
        "{text}"
    );
    assert_named(
        passes::client_accessors::add_client_accessors(&mut unrelated()),
        "client_accessors",
    );
    // A `mod builder` whose structs have no `client` field: progenitor changed shape.
    let mut file = syn::parse_quote!(
        pub mod builder {
            pub struct Foo<'a> {
                inner: &'a u8,
            }
        }
    );
    assert_named(
        passes::client_accessors::add_client_accessors(&mut file),
        "client_accessors",
    );
}

#[test]
fn hide_constructors_hides_both_and_only_both() {
    let mut file = request_builder();
    assert_eq!(
        passes::hide_constructors::hide_internal_constructors(&mut file),
        Ok(2)
    );
    let text = text(&file);
    assert_eq!(text.matches("# [doc (hidden)]").count(), 2, "{text}");
    assert!(text.contains("# [doc (hidden)] pub fn new_with_client"));
    assert_named(
        passes::hide_constructors::hide_internal_constructors(&mut unrelated()),
        "hide_constructors",
    );
    // One of the two renamed: still an error, the other one would stay visible.
    let mut file = syn::parse_quote!(impl Client { pub fn new() -> Self { todo!() } });
    assert_named(
        passes::hide_constructors::hide_internal_constructors(&mut file),
        "hide_constructors",
    );
}

#[test]
fn null_collections_reads_null_as_empty_for_defaulted_collections_only() {
    let mut file = types_module();
    assert_eq!(
        passes::null_collections::read_null_collections_as_empty(&mut file),
        Ok(1)
    );
    let text = text(&file);
    assert_eq!(text.matches("null_as_default").count(), 1, "{text}");
    assert!(text
        .contains("# [serde (deserialize_with = \"crate::lenient::null_as_default\")] pub tags"));
    assert_named(
        passes::null_collections::read_null_collections_as_empty(&mut unrelated()),
        "null_collections",
    );
    let mut file = syn::parse_quote!(
        pub mod types {
            pub struct A {
                pub tags: Vec<String>,
            }
        }
    );
    assert_named(
        passes::null_collections::read_null_collections_as_empty(&mut file),
        "null_collections",
    );
}

#[test]
fn extra_maps_start_empty() {
    let mut file = types_module();
    assert_eq!(passes::extra_maps::default_extra_maps(&mut file), Ok(1));
    let text = text(&file);
    assert!(
        text.contains("extra : Ok (Default :: default ())"),
        "{text}"
    );
    assert!(!text.contains("no value supplied for extra"));
    assert!(
        text.contains("no value supplied for id"),
        "other fields are left alone"
    );
    assert_named(
        passes::extra_maps::default_extra_maps(&mut unrelated()),
        "extra_maps",
    );
    let mut file = syn::parse_quote!(
        pub mod types {
            pub mod builder {
                impl Default for A {
                    fn default() -> Self {
                        Self { id: Ok(1) }
                    }
                }
            }
        }
    );
    assert_named(
        passes::extra_maps::default_extra_maps(&mut file),
        "extra_maps",
    );
}

#[test]
fn decode_routing_routes_every_decode_with_its_operation() {
    let mut file = request_builder();
    assert_eq!(passes::decode_routing::route_decodes(&mut file), Ok(2));
    let text = text(&file);
    assert_eq!(
        text.matches("crate :: decode :: from_response (response , \"list_batches\")")
            .count(),
        2,
        "{text}"
    );
    assert!(!text.contains("ResponseValue :: from_response"));
    assert_named(
        passes::decode_routing::route_decodes(&mut unrelated()),
        "decode_routing",
    );
    // A decode outside a method with an OperationInfo would stay unrouted: an error.
    let mut file = syn::parse_quote! {
        impl X { async fn get(self) { ResponseValue::from_response(response).await } }
    };
    let err = passes::decode_routing::route_decodes(&mut file).unwrap_err();
    assert_eq!(err.pass, "decode_routing");
    assert!(err.problem.contains("`get`"), "{err}");
}

#[test]
fn redact_debug_replaces_the_derived_debug() {
    let mut file = types_module();
    assert_eq!(
        passes::redact_debug::redact_download_urls_in_debug(&mut file),
        Ok(2)
    );
    let text = text(&file);
    assert_eq!(
        text.matches("impl :: std :: fmt :: Debug for ExportJob")
            .count(),
        2
    );
    assert_eq!(text.matches("crate :: redact :: redact_query").count(), 2);
    assert!(
        text.contains("# [derive (Clone , PartialEq)] pub struct ExportJob"),
        "{text}"
    );
    assert_named(
        passes::redact_debug::redact_download_urls_in_debug(&mut unrelated()),
        "redact_debug",
    );
    // The field without a derived Debug to replace: the pass cannot know where Debug comes from.
    let mut file = syn::parse_quote!(
        pub struct E {
            pub download_url: Option<String>,
        }
    );
    assert_named(
        passes::redact_debug::redact_download_urls_in_debug(&mut file),
        "redact_debug",
    );
}

#[test]
fn list_query_setters_become_crate_private_with_a_hidden_test_trait() {
    let mut file = request_builder();
    assert_eq!(
        passes::list_query_setters::hide_list_query_setters(&mut file),
        Ok(2)
    );
    let text = text(&file);
    assert!(text.contains("pub (crate) fn export_format"), "{text}");
    assert!(text.contains("pub (crate) fn response_mode"), "{text}");
    assert!(
        text.contains("pub fn filter_project_id_eq"),
        "other setters stay public"
    );
    assert!(text.contains(
        "# [cfg (feature = \"testing\")] impl < 'a > super :: wire :: ExportFormatQuery for ListBatches < 'a >"
    ));
    assert_named(
        passes::list_query_setters::hide_list_query_setters(&mut unrelated()),
        "list_query_setters",
    );
    // A builder with `response_mode` but no `export_format` anywhere: the table is out of date.
    let mut file = syn::parse_quote!(
        pub mod builder {
            impl<'a> ListA<'a> {
                pub fn response_mode<V>(self, v: V) -> Self {
                    self
                }
            }
        }
    );
    let err = passes::list_query_setters::hide_list_query_setters(&mut file).unwrap_err();
    assert_eq!(err.pass, "list_query_setters");
    assert!(err.problem.contains("export_format"), "{err}");
}

#[test]
fn setter_docs_come_from_the_parameters() {
    use passes::setter_docs::{document_setters, snake, Parameter, Parameters};
    assert_eq!(snake("filter[project_id][eq]"), "filter_project_id_eq");
    assert_eq!(snake("page_size"), "page_size");
    let param = |name: &str, description: Option<&str>| Parameter {
        name: name.into(),
        location: "query",
        description: description.map(Into::into),
    };
    let mut parameters = Parameters::new();
    parameters.insert(
        "list_batches".into(),
        vec![
            param("export_format", Some("File format.")),
            param("filter[project_id][eq]", Some("Filter by project id.")),
            param("response_mode", None),
        ],
    );
    let mut file = request_builder();
    assert_eq!(document_setters(&mut file, &parameters), Ok(3));
    let text = text(&file);
    assert!(
        text.contains(
            "# [doc = \" Filter by project id.\"] # [doc = \" \"] \
             # [doc = \" Sent as the query parameter `filter[project_id][eq]`.\"] \
             pub fn filter_project_id_eq"
        ),
        "{text}"
    );
    assert!(text.contains(
        "# [doc = \" Sent as the query parameter `response_mode`.\"] pub fn response_mode"
    ));
    assert!(
        text.contains("the same as `client.list_batches()`"),
        "`new` documented"
    );
    assert_eq!(
        text.matches("Sends a `GET` request").count(),
        1,
        "an existing doc is kept, not doubled"
    );

    // A setter that matches no parameter of its operation: progenitor named it in a new way.
    parameters.insert("list_batches".into(), vec![param("page", None)]);
    let err = document_setters(&mut request_builder(), &parameters).unwrap_err();
    assert_eq!(err.pass, "setter_docs");
    assert!(err.problem.contains("`export_format`"), "{err}");
    assert_named(
        document_setters(&mut unrelated(), &parameters),
        "setter_docs",
    );
}

#[test]
fn builder_docs_document_type_builders_and_their_setters() {
    let mut file = types_module();
    assert_eq!(
        passes::builder_docs::document_type_builders(&mut file),
        Ok(1)
    );
    let text = text(&file);
    assert!(
        text.contains("# [doc = \" Builder for [`super::ExportJob`]"),
        "{text}"
    );
    // A setter takes its field's doc, or links the field when the spec does not describe it.
    assert!(
        text.contains("Temporary download URL.\"] pub fn download_url"),
        "{text}"
    );
    assert!(text.contains("# [doc = \" Sets [`ExportJob::id`](super::ExportJob::id).\"] pub fn id"));
    assert!(text.contains("pub fn builder"), "{text}");
    assert!(text.contains("# [doc = \" A builder of this type"));
    assert_named(
        passes::builder_docs::document_type_builders(&mut unrelated()),
        "builder_docs",
    );
    let mut file = syn::parse_quote!(
        pub mod types {
            pub mod builder {}
        }
    );
    assert_named(
        passes::builder_docs::document_type_builders(&mut file),
        "builder_docs",
    );
}

#[test]
fn renamed_types_keep_their_old_names_as_deprecated_aliases() {
    let mut file = types_module();
    assert_eq!(
        passes::renamed_types::alias_renamed_types(&mut file, &[("ExportJob", "Export")]),
        Ok(1)
    );
    let text = text(&file);
    assert_eq!(
        text.matches(
            "# [deprecated (note = \"renamed `ExportJob`\")] pub type Export = ExportJob ;"
        )
        .count(),
        2,
        "in `types` and in `types::builder`: {text}"
    );
    assert_named(
        passes::renamed_types::alias_renamed_types(&mut types_module(), &[("Job", "Export")]),
        "renamed_types",
    );
}

// The renamed items of the generated code, under their new and (deprecated) old names.
#[test]
#[allow(deprecated)]
fn old_and_new_names_of_generated_items() {
    let job: mangrove::types::Export =
        serde_json::from_value(serde_json::json!({"id": "exp_1"})).unwrap();
    let job: mangrove::types::ExportJob = job;
    assert_eq!(job.id, "exp_1");
    let _: mangrove::types::builder::Export = mangrove::types::ExportJob::builder();
    let _: fn(&mangrove::Client) -> mangrove::request::ListBatches<'_> =
        mangrove::Client::list_batches;
    let _: fn(&mangrove::Client) -> mangrove::builder::ListBatches<'_> =
        mangrove::Client::list_batches;
}

#[test]
fn fallback_docs_name_the_json_field_or_variant() {
    let mut file: syn::File = syn::parse_quote! {
        pub mod types {
            pub struct Address {
                ///Documented by the spec.
                pub street: Option<String>,
                #[serde(rename = "postalCode")]
                pub postal_code: Option<String>,
                #[serde(flatten)]
                pub extra: Map<String, Value>,
            }
            #[serde(untagged)]
            pub enum Value { Double(f64), Boolean(bool), String(::std::string::String) }
            pub enum Mode { #[serde(rename = "summary")] Summary }
        }
    };
    assert_eq!(passes::fallback_docs::document_the_rest(&mut file), Ok(3));
    let text = text(&file);
    assert!(
        text.contains("Documented by the spec.\"] pub street"),
        "{text}"
    );
    assert_eq!(text.matches("Documented by the spec.").count(), 1);
    assert!(text.contains(
        "\" `postalCode` in the JSON object (not described by the API's documentation).\""
    ));
    assert!(text.contains("\" Fields the spec does not name, as sent.\""));
    assert!(text.contains("# [doc = \" A JSON number.\"] Double"));
    assert!(text.contains("# [doc = \" A JSON boolean.\"] Boolean"));
    assert!(text.contains("# [doc = \" A JSON string.\"] String"));
    assert!(text.contains(
        "# [doc = \" `summary` on the wire.\"] # [serde (rename = \"summary\")] Summary"
    ));
    assert_named(
        passes::fallback_docs::document_the_rest(&mut unrelated()),
        "fallback_docs",
    );
    let mut file = syn::parse_quote!(
        pub mod types {
            fn private() {}
        }
    );
    assert_named(
        passes::fallback_docs::document_the_rest(&mut file),
        "fallback_docs",
    );
}

#[test]
fn schemars_feature_gates_the_derive_and_its_helper_attributes() {
    let mut file: syn::File = syn::parse_quote! {
        pub mod types {
            #[derive(Clone, Debug, schemars::JsonSchema, serde::Serialize)]
            #[schemars(deny_unknown_fields)]
            pub struct Batch {
                #[schemars(skip)]
                pub id: i64,
            }
            #[derive(Clone, schemars::JsonSchema)]
            pub enum Mode { A }
            #[derive(Clone)]
            pub struct Untouched;
        }
    };
    assert_eq!(
        passes::schemars_feature::schemars_behind_feature(&mut file),
        Ok(2)
    );
    let code = text(&file);
    assert!(
        !code.contains("derive (Clone , Debug , schemars :: JsonSchema"),
        "{code}"
    );
    assert_eq!(
        code.matches("cfg_attr (feature = \"schemars\" , derive (schemars :: JsonSchema))")
            .count(),
        2,
        "{code}"
    );
    assert!(
        code.contains("cfg_attr (feature = \"schemars\" , schemars (skip))"),
        "{code}"
    );
    assert!(
        code.contains("cfg_attr (feature = \"schemars\" , schemars (deny_unknown_fields))"),
        "{code}"
    );
    assert_named(
        passes::schemars_feature::schemars_behind_feature(&mut unrelated()),
        "schemars_feature",
    );
}
