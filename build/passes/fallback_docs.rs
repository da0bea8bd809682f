//! Pass `fallback_docs`: a doc line on every public field and variant of `types` that the spec
//! leaves undescribed, so that `#![deny(missing_docs)]` holds for the generated code too.

use super::{doc_attrs, has_doc, module_items, require, PassError};

const PASS: &str = "fallback_docs";

/// The spec describes most fields, not all (`Address.city`, …), and typify documents exactly
/// what the spec describes. Rather than allowing `missing_docs` for the whole generated module
/// (which would also let a new undocumented setter through), this pass gives each remaining
/// field and variant of `types` a line that says what can be said without a description: the
/// name it has in the JSON and, for the variants of untagged unions, which JSON kind it holds.
/// `src/generated.rs` then leaves `missing_docs` to the crate's `#![deny(missing_docs)]`.
///
/// Matches: the structs and enums of the top-level `mod types` (counted whether or not they
/// need a line: a spec that describes everything is fine; no struct at all is not).
pub fn document_the_rest(file: &mut syn::File) -> Result<usize, PassError> {
    let Some(items) = module_items(&mut file.items, "types") else {
        return Err(PassError::nothing_matched(PASS, "a top-level `mod types`"));
    };
    let mut seen = 0;
    for item in items.iter_mut() {
        match item {
            syn::Item::Struct(s) if matches!(s.vis, syn::Visibility::Public(_)) => {
                seen += 1;
                for field in s.fields.iter_mut() {
                    let Some(ident) = &field.ident else { continue };
                    if has_doc(&field.attrs) || !matches!(field.vis, syn::Visibility::Public(_)) {
                        continue;
                    }
                    let name = serde_rename(&field.attrs).unwrap_or_else(|| ident.to_string());
                    let text = if name == "extra" && flattened(&field.attrs) {
                        "Fields the spec does not name, as sent.".to_string()
                    } else {
                        format!("`{name}` in the JSON object (not described by the API's documentation).")
                    };
                    prepend(&mut field.attrs, &text);
                }
            }
            syn::Item::Enum(e) if matches!(e.vis, syn::Visibility::Public(_)) => {
                seen += 1;
                for variant in e.variants.iter_mut() {
                    if has_doc(&variant.attrs) {
                        continue;
                    }
                    let text = match (serde_rename(&variant.attrs), &variant.fields) {
                        (Some(wire), _) => format!("`{wire}` on the wire."),
                        (None, syn::Fields::Unnamed(f)) if f.unnamed.len() == 1 => {
                            let ty = &f.unnamed[0].ty;
                            let ty = quote::quote!(#ty).to_string().replace(' ', "");
                            match ty.rsplit("::").next().unwrap_or(&ty) {
                                "f64" | "f32" | "i64" | "u64" | "i32" => "A JSON number.".into(),
                                "bool" => "A JSON boolean.".into(),
                                "String" => "A JSON string.".into(),
                                other => format!("A value of type `{other}`."),
                            }
                        }
                        _ => format!("`{}` on the wire.", variant.ident),
                    };
                    prepend(&mut variant.attrs, &text);
                }
            }
            _ => {}
        }
    }
    require(PASS, seen, "public structs or enums in `mod types`")
}

fn prepend(attrs: &mut Vec<syn::Attribute>, text: &str) {
    let mut docs = doc_attrs(text);
    docs.append(attrs);
    *attrs = docs;
}

/// The `x` of `#[serde(rename = "x")]`, if any.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.input.peek(syn::Token![=]) {
                let value: syn::Expr = meta.value()?.parse()?;
                if meta.path.is_ident("rename") {
                    if let syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) = value
                    {
                        found = Some(s.value());
                    }
                }
            }
            Ok(())
        });
    }
    found
}

/// Whether the attributes hold `#[serde(flatten)]`.
fn flattened(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("serde"))
        .any(|attr| {
            let mut found = false;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("flatten") {
                    found = true;
                }
                if meta.input.peek(syn::Token![=]) {
                    let _: syn::Expr = meta.value()?.parse()?;
                }
                Ok(())
            });
            found
        })
}
