//! Pass `renamed_types`: deprecated aliases under the old names of renamed spec schemas.

use super::{module_items, PassError};

const PASS: &str = "renamed_types";

/// A schema renamed in `openapi.yaml` renames its generated type; code written against the old
/// name keeps compiling, with a deprecation warning, through
/// `#[deprecated] pub type Old = New;` in `types` (and in `types::builder` when the type has a
/// builder there).
///
/// Matches: for each `(new, old)` of `renames`, a `pub struct New` in `mod types`; a rename whose
/// new type is missing is an error (the table in build.rs is out of date).
pub fn alias_renamed_types(
    file: &mut syn::File,
    renames: &[(&str, &str)],
) -> Result<usize, PassError> {
    let Some(types) = module_items(&mut file.items, "types") else {
        return Err(PassError::nothing_matched(PASS, "a top-level `mod types`"));
    };
    let mut count = 0;
    for (new, old) in renames {
        add_alias(types, new, old).then_some(()).ok_or_else(|| {
            PassError::nothing_matched(PASS, &format!("a `pub struct {new}` in `mod types`"))
        })?;
        count += 1;
        if let Some(builder) = module_items(types, "builder") {
            add_alias(builder, new, old);
        }
    }
    Ok(count)
}

/// Adds the alias `old` of the struct `new` among `items`, if it is there.
fn add_alias(items: &mut Vec<syn::Item>, new: &str, old: &str) -> bool {
    let found = items
        .iter()
        .any(|item| matches!(item, syn::Item::Struct(s) if s.ident == new));
    if found {
        let new_ident = syn::Ident::new(new, proc_macro2::Span::call_site());
        let old_ident = syn::Ident::new(old, proc_macro2::Span::call_site());
        let doc = format!(" The former name of [`{new}`].");
        let note = format!("renamed `{new}`");
        items.push(syn::parse_quote! {
            #[doc = #doc]
            #[deprecated(note = #note)]
            pub type #old_ident = #new_ident;
        });
    }
    found
}
