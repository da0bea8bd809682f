//! Pass `null_collections`: `null` reads as an empty array or map in the generated types.

use super::{module_items, require, PassError};

const PASS: &str = "null_collections";

/// Collection types that `null` may stand for (an empty one).
const COLLECTIONS: &[&str] = &["Vec", "HashMap", "BTreeMap", "Map"];

/// Puts `#[serde(deserialize_with = "crate::lenient::null_as_default")]` on every field of the
/// generated `types` that has `#[serde(default…)]` and is a `Vec` or a map: the spec's optional
/// arrays and maps. `null` then reads as empty, like an absent field, instead of failing the
/// whole response (the docs never say which fields are omitted and which are sent as `null`).
///
/// Matches: fields of structs in the top-level `mod types` with `#[serde(default)]` and a
/// collection type.
pub fn read_null_collections_as_empty(file: &mut syn::File) -> Result<usize, PassError> {
    let Some(items) = module_items(&mut file.items, "types") else {
        return Err(PassError::nothing_matched(PASS, "a top-level `mod types`"));
    };
    let mut count = 0;
    for item in items.iter_mut() {
        let syn::Item::Struct(s) = item else { continue };
        for field in s.fields.iter_mut() {
            if has_serde_default(&field.attrs) && is_collection(&field.ty) {
                field.attrs.push(syn::parse_quote! {
                    #[serde(deserialize_with = "crate::lenient::null_as_default")]
                });
                count += 1;
            }
        }
    }
    require(
        PASS,
        count,
        "struct fields in `mod types` with `#[serde(default)]` and a `Vec` or map type",
    )
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
