//! Pass `builder_docs`: typify's struct builders (`types::builder`) and their setters documented.

use std::collections::BTreeMap;

use super::{doc_attrs, has_doc, module_items, require, PassError};

const PASS: &str = "builder_docs";

/// typify generates, for each struct of `types`, a builder in `types::builder` with one setter
/// per field and a `builder()` constructor on the struct, all undocumented. This pass gives:
/// the builder struct a line naming the type it builds; each setter the doc of its field (or a
/// link to the field when the spec does not describe it); `X::builder()` a line.
///
/// Matches: the structs of `mod types { mod builder }`.
pub fn document_type_builders(file: &mut syn::File) -> Result<usize, PassError> {
    let Some(types) = module_items(&mut file.items, "types") else {
        return Err(PassError::nothing_matched(PASS, "a top-level `mod types`"));
    };
    // The field docs of every struct of `types`: struct -> field -> doc attributes.
    let mut field_docs: BTreeMap<String, BTreeMap<String, Vec<syn::Attribute>>> = BTreeMap::new();
    for item in types.iter_mut() {
        match item {
            syn::Item::Struct(s) => {
                let fields = s
                    .fields
                    .iter()
                    .filter_map(|f| {
                        let docs: Vec<_> = f
                            .attrs
                            .iter()
                            .filter(|a| a.path().is_ident("doc"))
                            .cloned()
                            .collect();
                        Some((f.ident.as_ref()?.to_string(), docs))
                    })
                    .collect();
                field_docs.insert(s.ident.to_string(), fields);
            }
            syn::Item::Impl(imp) if imp.trait_.is_none() => {
                for impl_item in &mut imp.items {
                    let syn::ImplItem::Fn(f) = impl_item else {
                        continue;
                    };
                    if f.sig.ident == "builder" && !has_doc(&f.attrs) {
                        f.attrs.extend(doc_attrs(
                            "A builder of this type, with every field unset (optional fields \
                             start empty).",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let Some(builder) = module_items(types, "builder") else {
        return Err(PassError::nothing_matched(
            PASS,
            "a `mod types { mod builder }`",
        ));
    };
    let mut count = 0;
    for item in builder.iter_mut() {
        match item {
            syn::Item::Struct(s) => {
                count += 1;
                if !has_doc(&s.attrs) {
                    let name = &s.ident;
                    let mut attrs = doc_attrs(&format!(
                        "Builder for [`super::{name}`]: `{name}::builder()` starts one, \
                         `.try_into()` finishes it (an error names a required field left unset)."
                    ));
                    attrs.append(&mut s.attrs);
                    s.attrs = attrs;
                }
            }
            syn::Item::Impl(imp) if imp.trait_.is_none() => {
                let syn::Type::Path(self_ty) = &*imp.self_ty else {
                    continue;
                };
                let Some(name) = self_ty.path.segments.last().map(|s| s.ident.to_string()) else {
                    continue;
                };
                let fields = field_docs.get(&name);
                for impl_item in &mut imp.items {
                    let syn::ImplItem::Fn(f) = impl_item else {
                        continue;
                    };
                    if has_doc(&f.attrs) || !matches!(f.vis, syn::Visibility::Public(_)) {
                        continue;
                    }
                    let field = f.sig.ident.to_string();
                    let docs = fields
                        .and_then(|fields| fields.get(&field))
                        .cloned()
                        .unwrap_or_default();
                    let mut attrs = if docs.is_empty() {
                        doc_attrs(&format!(
                            "Sets [`{name}::{field}`](super::{name}::{field})."
                        ))
                    } else {
                        docs
                    };
                    attrs.append(&mut f.attrs);
                    f.attrs = attrs;
                }
            }
            _ => {}
        }
    }
    require(
        PASS,
        count,
        "builder structs in `mod types { mod builder }`",
    )
}
