//! Static assertions on the user's types, each spanned on the type as written: a type that
//! cannot travel (not serde both ways) is reported at the argument or return type with one
//! message, before the errors it causes inside the generated code.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned;
use syn::Type;

use crate::ast::Remote;

pub fn expand(remote: &Remote) -> TokenStream {
    let mut types: Vec<&Type> = Vec::new();
    for m in &remote.methods {
        types.extend(m.args.iter().map(|a| &a.ty));
        match &m.output.result {
            Some((ok, err)) => types.extend([ok, err]),
            None => types.push(&m.output.ty),
        }
    }
    types
        .into_iter()
        .map(|ty| {
            quote_spanned! {ty.span()=>
                const _: () = ::slacker_core::__private::assert_wire::<#ty>();
            }
        })
        .collect()
}
