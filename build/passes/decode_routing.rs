//! Pass `decode_routing`: every generated response decode goes through `crate::decode`.

use syn::visit_mut::VisitMut;

use super::{operation_id, require, PassError};

const PASS: &str = "decode_routing";

/// Rewrites every `ResponseValue::from_response(response).await` of the generated calls into
/// `crate::decode::from_response(response, "<operation_id>").await`: the same decode (one
/// `serde_json::from_slice`), but a bounded read, and a body that does not decode gives a typed
/// `DecodeError` that names the operation and the JSON path (see `src/decode.rs`). The operation
/// id is taken from the `OperationInfo { operation_id: "…" }` of the same method.
///
/// Matches: calls of `ResponseValue::from_response(x)` in methods that hold an `OperationInfo`.
/// A method that decodes but has no `OperationInfo` is an error too (its decode would stay
/// unrouted).
pub fn route_decodes(file: &mut syn::File) -> Result<usize, PassError> {
    /// Replaces the calls within one method.
    struct Rewrite<'a> {
        operation: &'a str,
        count: usize,
    }
    impl VisitMut for Rewrite<'_> {
        fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
            syn::visit_mut::visit_expr_call_mut(self, call);
            let syn::Expr::Path(func) = call.func.as_ref() else {
                return;
            };
            let names: Vec<String> = func
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            if names == ["ResponseValue", "from_response"] && call.args.len() == 1 {
                let response = &call.args[0];
                let operation = self.operation;
                *call = syn::parse_quote!(crate::decode::from_response(#response, #operation));
                self.count += 1;
            }
        }
    }

    struct Methods {
        rewritten: usize,
        error: Option<PassError>,
    }
    impl VisitMut for Methods {
        fn visit_impl_item_fn_mut(&mut self, method: &mut syn::ImplItemFn) {
            if let Some(operation) = operation_id(&method.block) {
                let mut rewrite = Rewrite {
                    operation: &operation,
                    count: 0,
                };
                rewrite.visit_block_mut(&mut method.block);
                self.rewritten += rewrite.count;
            } else {
                let text = quote::quote!(#method).to_string();
                if text.contains("from_response") {
                    self.error = Some(PassError {
                        pass: PASS,
                        problem: format!(
                            "`{}` decodes a response but has no `OperationInfo`",
                            method.sig.ident
                        ),
                    });
                }
            }
        }
    }

    let mut methods = Methods {
        rewritten: 0,
        error: None,
    };
    methods.visit_file_mut(file);
    if let Some(error) = methods.error {
        return Err(error);
    }
    require(
        PASS,
        methods.rewritten,
        "calls of `ResponseValue::from_response(response)` in methods with an \
         `OperationInfo { operation_id }`",
    )
}
