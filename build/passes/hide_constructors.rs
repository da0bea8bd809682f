//! Pass `hide_constructors`: `Client::new` and `Client::new_with_client` hidden from the docs.

use super::PassError;

const PASS: &str = "hide_constructors";

/// `Client::new` and `Client::new_with_client` take the crate-private client state
/// (`crate::client::Inner`, progenitor's inner type), so a user cannot call them: hidden from the
/// docs (`Client::builder()` and `Client::from_env()` are the constructors).
///
/// Matches: both functions in an inherent `impl Client`; anything else is an error, since a
/// visible constructor that cannot be called would confuse every reader of `Client`'s page.
pub fn hide_internal_constructors(file: &mut syn::File) -> Result<usize, PassError> {
    let mut hidden = Vec::new();
    for item in &mut file.items {
        let syn::Item::Impl(imp) = item else { continue };
        let is_client = imp.trait_.is_none()
            && matches!(&*imp.self_ty, syn::Type::Path(p) if p.path.is_ident("Client"));
        if !is_client {
            continue;
        }
        for item in &mut imp.items {
            if let syn::ImplItem::Fn(f) = item {
                if f.sig.ident == "new" || f.sig.ident == "new_with_client" {
                    f.attrs.push(syn::parse_quote!(#[doc(hidden)]));
                    hidden.push(f.sig.ident.to_string());
                }
            }
        }
    }
    hidden.sort();
    if hidden != ["new", "new_with_client"] {
        return Err(PassError {
            pass: PASS,
            problem: format!(
                "expected `Client::new` and `Client::new_with_client` in an `impl Client`, \
                 found {hidden:?}"
            ),
        });
    }
    Ok(hidden.len())
}
