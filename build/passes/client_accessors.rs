//! Pass `client_accessors`: a crate-private `client_ref()` on every generated request builder.

use super::{module_items, require, PassError};

const PASS: &str = "client_accessors";

/// Gives every generated request builder (`builder::ListProjects<'a>`, …) a crate-private
/// `client_ref()` accessor, so the hand-written layer can hand an owned clone of the client to
/// exports and page streams started from a builder. The builders keep their `client` field
/// private to the generated module.
///
/// Matches: the structs of the top-level `mod builder` that have a `client` field and generics.
pub fn add_client_accessors(file: &mut syn::File) -> Result<usize, PassError> {
    let Some(items) = module_items(&mut file.items, "builder") else {
        return Err(PassError::nothing_matched(
            PASS,
            "a top-level `mod builder`",
        ));
    };
    let mut accessors: Vec<syn::Item> = Vec::new();
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
    let count = accessors.len();
    items.extend(accessors);
    require(
        PASS,
        count,
        "request builders in `mod builder` with a `client: &'a super::Client` field",
    )
}
