//! Pass `extra_maps`: struct builders of open request objects start with an empty `extra` map.

use super::{module_items, require, PassError};

const PASS: &str = "extra_maps";

/// Lets the struct builders of open request objects (`additionalProperties: {}`, such as
/// `BatchAmount`) start with an empty `extra` map: typify's builders otherwise demand
/// `.extra(...)` on every object, even when there is nothing to add.
///
/// Matches: the `extra: …` field of the struct literal in each `impl Default` of
/// `mod types { mod builder }`.
pub fn default_extra_maps(file: &mut syn::File) -> Result<usize, PassError> {
    let builder =
        module_items(&mut file.items, "types").and_then(|types| module_items(types, "builder"));
    let Some(items) = builder else {
        return Err(PassError::nothing_matched(
            PASS,
            "a `mod types { mod builder }`",
        ));
    };
    let mut count = 0;
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
                    if matches!(&field.member, syn::Member::Named(name) if name == "extra") {
                        field.expr = syn::parse_quote!(Ok(Default::default()));
                        count += 1;
                    }
                }
            }
        }
    }
    require(
        PASS,
        count,
        "an `extra: …` field in the `Self { … }` of an `impl Default` in `types::builder` \
         (an object with `additionalProperties`)",
    )
}
