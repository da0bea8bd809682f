//! Pass `redact_debug`: `Debug` of every struct with a `download_url` hides the URL's query.

use super::{require, PassError};

const PASS: &str = "redact_debug";

/// A pre-signed `download_url` reads the export file for 24 hours: it must not reach a log line
/// through `{:?}`. Every generated struct with a `download_url` field (`types::ExportJob` and its
/// builder) loses its derived `Debug` for one that prints the URL without its query
/// (`crate::redact::redact_query`); `CompletedExport::download_url()` still hands it out.
///
/// Matches: structs (in any module) with a `download_url` field whose `#[derive(…)]` holds
/// `Debug`. A struct with the field but no derived `Debug` is an error: the pass would not know
/// where the derive went.
pub fn redact_download_urls_in_debug(file: &mut syn::File) -> Result<usize, PassError> {
    let mut count = 0;
    visit(&mut file.items, &mut count)?;
    require(
        PASS,
        count,
        "structs with a `download_url` field and `#[derive(Debug, …)]`",
    )
}

fn is_result(s: &syn::ItemStruct, name: &syn::Ident) -> bool {
    s.fields.iter().any(|f| {
        f.ident.as_ref() == Some(name)
            && matches!(&f.ty, syn::Type::Path(p)
                if p.path.segments.last().is_some_and(|seg| seg.ident == "Result"))
    })
}

fn visit(items: &mut Vec<syn::Item>, count: &mut usize) -> Result<(), PassError> {
    let mut impls: Vec<syn::Item> = Vec::new();
    for item in items.iter_mut() {
        match item {
            syn::Item::Mod(m) => {
                if let Some((_, inner)) = m.content.as_mut() {
                    visit(inner, count)?;
                }
            }
            syn::Item::Struct(s) => {
                let names: Vec<syn::Ident> =
                    s.fields.iter().filter_map(|f| f.ident.clone()).collect();
                if !names.iter().any(|n| n == "download_url") {
                    continue;
                }
                let removed =
                    super::remove_derives(&mut s.attrs, |p| p.is_ident("Debug")).is_some();
                if !removed {
                    return Err(PassError {
                        pass: PASS,
                        problem: format!(
                            "`{}` has a `download_url` field but no `#[derive(Debug)]` to replace",
                            s.ident
                        ),
                    });
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
                *count += 1;
            }
            _ => {}
        }
    }
    items.extend(impls);
    Ok(())
}
