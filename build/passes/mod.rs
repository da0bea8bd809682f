//! The edits `build.rs` makes to progenitor's output, one pass per file.
//!
//! progenitor and typify give no hook for these, so each pass walks the generated `syn::File`
//! and changes the items it recognises by their shape (a module named `builder`, a field named
//! `download_url`, a call to `ResponseValue::from_response`, …). A new progenitor release may
//! generate another shape; a pass would then match nothing and the crate would still compile,
//! silently without the edit (no redaction, no decode errors with paths, …). So every pass
//! counts what it changed and returns a [`PassError`] naming itself and what it looked for when
//! the count is zero, and `build.rs` fails the build with that message.
//!
//! The passes depend on `syn`, `quote` and `proc-macro2` only (never on the spec), so
//! `tests/build_passes.rs` includes this module and runs each pass on a small input.

pub mod builder_docs;
pub mod client_accessors;
pub mod decode_routing;
pub mod extra_maps;
pub mod fallback_docs;
pub mod hide_constructors;
pub mod list_query_setters;
pub mod null_collections;
pub mod redact_debug;
pub mod renamed_types;
pub mod schemars_feature;
pub mod setter_docs;

use std::fmt;

/// A pass that found nothing to edit (or something it cannot edit): progenitor's output has
/// changed shape and the pass must be brought up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassError {
    /// The pass, e.g. `"decode_routing"`.
    pub pass: &'static str,
    /// What it looked for, or what went wrong.
    pub problem: String,
}

impl fmt::Display for PassError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "build.rs pass `{}`: {} (did progenitor change the shape of its output? \
             see build/passes/{}.rs)",
            self.pass, self.problem, self.pass
        )
    }
}

impl PassError {
    /// The error of `pass` that matched nothing: `expected` says what it looked for.
    pub fn nothing_matched(pass: &'static str, expected: &str) -> Self {
        PassError {
            pass,
            problem: format!("matched nothing; expected {expected}"),
        }
    }
}

/// `Ok(count)`, or the error of `pass` that matched nothing when `count` is 0.
pub fn require(pass: &'static str, count: usize, expected: &str) -> Result<usize, PassError> {
    if count == 0 {
        Err(PassError::nothing_matched(pass, expected))
    } else {
        Ok(count)
    }
}

/// The items of the inline module `name` among `items` (`builder`, `types`, …), if any.
pub fn module_items<'a>(items: &'a mut [syn::Item], name: &str) -> Option<&'a mut Vec<syn::Item>> {
    items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == name => m.content.as_mut().map(|(_, items)| items),
        _ => None,
    })
}

/// Whether `attrs` hold a doc comment (`///` or `#[doc = …]`).
pub fn has_doc(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("doc"))
}

/// `#[doc = …]` attributes for `text`, one per line (rustdoc joins them as the `///` lines of a
/// comment).
pub fn doc_attrs(text: &str) -> Vec<syn::Attribute> {
    text.trim_end()
        .lines()
        .map(|line| {
            let line = format!(" {line}");
            syn::parse_quote!(#[doc = #line])
        })
        .collect()
}

/// The operation id of a generated request method (its `OperationInfo { operation_id: "…" }`).
pub fn operation_id(block: &syn::Block) -> Option<String> {
    use syn::visit::Visit;
    struct Find(Option<String>);
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr_struct(&mut self, e: &'ast syn::ExprStruct) {
            if e.path.is_ident("OperationInfo") {
                for field in &e.fields {
                    if let (
                        syn::Member::Named(name),
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(op),
                            ..
                        }),
                    ) = (&field.member, &field.expr)
                    {
                        if name == "operation_id" {
                            self.0 = Some(op.value());
                        }
                    }
                }
            }
            syn::visit::visit_expr_struct(self, e);
        }
    }
    let mut find = Find(None);
    find.visit_block(block);
    find.0
}

/// Takes the derives `drop` matches out of every `#[derive(..)]` list in `attrs` (lists that
/// do not parse are left alone) and answers the index of the last list it took one from, if any:
/// the passes that replace a derive (`redact_debug`) or gate it behind a feature
/// (`schemars_feature`) share this.
pub fn remove_derives(
    attrs: &mut [syn::Attribute],
    drop: impl Fn(&syn::Path) -> bool,
) -> Option<usize> {
    let mut changed = None;
    for (i, attr) in attrs.iter_mut().enumerate() {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(derives) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) else {
            continue;
        };
        let kept: Vec<&syn::Path> = derives.iter().filter(|p| !drop(p)).collect();
        if kept.len() < derives.len() {
            *attr = syn::parse_quote!(#[derive(#(#kept),*)]);
            changed = Some(i);
        }
    }
    changed
}
