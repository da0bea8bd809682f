//! Pass `schemars_feature`: `schemars::JsonSchema` only with the crate feature `schemars`.
//!
//! progenitor derives `schemars::JsonSchema` on every generated type (it is one of the derives
//! `build.rs` asks for, so users who want JSON Schemas of the API's types get them). Most users
//! never do, and the derive is a measurable share of the crate's own compile time, so the
//! feature `schemars` (on by default) gates it: each derive list that names
//! `schemars::JsonSchema` loses it, and a `#[cfg_attr(feature = "schemars",
//! derive(schemars::JsonSchema))]` follows right after it (before the `#[serde]` and
//! `#[schemars]` attributes the derive reads; those are inert without it only because the
//! `schemars` attribute is registered by the derive, so the pass also gates bare `#[schemars]`
//! helper attributes).

use syn::visit_mut::VisitMut;

use super::{require, PassError};

const PASS: &str = "schemars_feature";

fn is_schema(p: &syn::Path) -> bool {
    p.segments.len() == 2
        && p.segments[0].ident == "schemars"
        && p.segments[1].ident == "JsonSchema"
}

struct Gate {
    gated: usize,
}

impl Gate {
    fn gate(&mut self, attrs: &mut Vec<syn::Attribute>) {
        let gated_at = super::remove_derives(attrs, is_schema);
        if let Some(i) = gated_at {
            self.gated += 1;
            attrs.insert(
                i + 1,
                syn::parse_quote!(#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]),
            );
        }
        // `#[schemars(..)]` helper attributes are only known with the derive: gate them too.
        for attr in attrs.iter_mut() {
            if attr.path().is_ident("schemars") {
                let meta = &attr.meta;
                *attr = syn::parse_quote!(#[cfg_attr(feature = "schemars", #meta)]);
            }
        }
    }
}

impl VisitMut for Gate {
    fn visit_item_struct_mut(&mut self, s: &mut syn::ItemStruct) {
        self.gate(&mut s.attrs);
        for field in s.fields.iter_mut() {
            self.gate_helpers(&mut field.attrs);
        }
    }

    fn visit_item_enum_mut(&mut self, e: &mut syn::ItemEnum) {
        self.gate(&mut e.attrs);
        for variant in e.variants.iter_mut() {
            self.gate_helpers(&mut variant.attrs);
        }
    }
}

impl Gate {
    fn gate_helpers(&mut self, attrs: &mut [syn::Attribute]) {
        for attr in attrs.iter_mut() {
            if attr.path().is_ident("schemars") {
                let meta = &attr.meta;
                *attr = syn::parse_quote!(#[cfg_attr(feature = "schemars", #meta)]);
            }
        }
    }
}

/// Moves every `schemars::JsonSchema` derive behind the `schemars` feature; fails when no
/// generated type derives it (progenitor changed shape, or the derive was dropped from
/// `build.rs`'s settings).
pub fn schemars_behind_feature(file: &mut syn::File) -> Result<usize, PassError> {
    let mut gate = Gate { gated: 0 };
    gate.visit_file_mut(file);
    require(PASS, gate.gated, "types deriving `schemars::JsonSchema`")
}
