//! Pass `list_query_setters`: the list builders' `response_mode` and `export_format` setters
//! become crate-private.

use super::{module_items, require, PassError};

const PASS: &str = "list_query_setters";

/// The query setters that the hand-written layer owns, with the hidden trait that keeps each
/// reachable for the crate's wire-level tests (`crate::generated::wire`, feature `testing`).
const OWNED: &[(&str, &str, &str)] = &[
    ("response_mode", "ResponseModeQuery", "types::ResponseMode"),
    (
        "export_format",
        "ExportFormatQuery",
        "crate::open_enum::ExportFormat",
    ),
];

/// One way to pick the response mode and the export format: the hand-written layer's
/// `.summary()`, `.items()`, `.pages()` and `.summary_with_export().format(..)` (see
/// `src/resource.rs`, which sets both on the builder it sends). A generated setter next to
/// them would be a second way, silently overridden by the first (issue: a list builder's
/// `.export_format(Json)` followed by `.summary_with_export()` exported CSV). So the setters
/// `response_mode` and `export_format` of every request builder become `pub(crate)`: not
/// callable, not documented for users.
///
/// For the crate's own tests of the fake at the wire level (a summary of a non-exportable
/// list, …), each is also reachable through a `#[doc(hidden)]` trait of
/// `crate::generated::wire` under the `testing` feature; that is not public API.
///
/// Matches: `pub fn response_mode` and `pub fn export_format` in the impls of the top-level
/// `mod builder`; each of the two must be found at least once.
pub fn hide_list_query_setters(file: &mut syn::File) -> Result<usize, PassError> {
    let Some(items) = module_items(&mut file.items, "builder") else {
        return Err(PassError::nothing_matched(
            PASS,
            "a top-level `mod builder`",
        ));
    };
    let mut counts = [0usize; OWNED.len()];
    let mut impls: Vec<syn::Item> = Vec::new();
    for item in items.iter_mut() {
        let syn::Item::Impl(imp) = item else { continue };
        if imp.trait_.is_some() {
            continue;
        }
        let syn::Type::Path(self_ty) = &*imp.self_ty else {
            continue;
        };
        let Some(name) = self_ty.path.segments.last().map(|s| s.ident.clone()) else {
            continue;
        };
        for impl_item in &mut imp.items {
            let syn::ImplItem::Fn(f) = impl_item else {
                continue;
            };
            let Some(i) = OWNED.iter().position(|(n, _, _)| f.sig.ident == n) else {
                continue;
            };
            if !matches!(f.vis, syn::Visibility::Public(_)) {
                continue;
            }
            f.vis = syn::parse_quote!(pub(crate));
            // Not every list builder is one the hand layer sends (`resource.rs`'s table).
            f.attrs.push(syn::parse_quote!(#[allow(dead_code)]));
            counts[i] += 1;
            let (setter, trait_name, ty) = OWNED[i];
            let setter = syn::Ident::new(setter, proc_macro2::Span::call_site());
            let trait_name = syn::Ident::new(trait_name, proc_macro2::Span::call_site());
            let ty: syn::Type = syn::parse_str(ty).expect("a type path");
            impls.push(syn::parse_quote! {
                #[cfg(feature = "testing")]
                impl<'a> super::wire::#trait_name for #name<'a> {
                    fn #setter(self, value: #ty) -> Self {
                        #name::#setter(self, value)
                    }
                }
            });
        }
    }
    items.extend(impls);
    let mut total = 0;
    for ((setter, _, _), count) in OWNED.iter().zip(counts) {
        total += require(
            PASS,
            count,
            &format!("`pub fn {setter}` in an impl of a request builder in `mod builder`"),
        )?;
    }
    Ok(total)
}
