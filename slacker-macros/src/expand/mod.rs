//! The macro's phases in order (check the syntax, build the model, check the model: [`expand`]),
//! then the model into code: the rewritten trait here, then the statics
//! ([`messages`]), the server dispatch ([`server`]) and the client stub ([`client`]).

mod checks;
mod client;
mod messages;
mod server;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemTrait, ReturnType, TraitItem};

use crate::ast::{self, Remote};
use crate::ctxt::Ctxt;
use crate::valid;

/// The whole expansion of `#[remote(args)] item`. On error, the trait is emitted unchanged
/// (minus the methods' `#[remote]` attributes) next to one `compile_error!` per problem.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let trait_item: ItemTrait = match syn::parse2(item.clone()) {
        Ok(t) => t,
        Err(_) => {
            let err = syn::Error::new_spanned(
                &item,
                "#[remote] goes on a trait: #[remote(namespace = \"...\")] trait Name { async fn f(&self) -> T; }",
            );
            let mut out = err.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    // Check the syntax, build the model, check the model: every error of all three is reported.
    let mut cx = Ctxt::default();
    valid::syntax(&mut cx, &trait_item);
    let remote = Remote::from_syn(&mut cx, args, &trait_item);
    if let Some(remote) = &remote {
        valid::model(&mut cx, remote);
    }
    let checked = cx.check().and_then(|()| {
        remote.ok_or_else(|| syn::Error::new_spanned(&trait_item.ident, "invalid #[remote] trait"))
    });
    match checked {
        Ok(remote) => {
            let checks = checks::expand(&remote);
            let rewritten = rewrite_trait(&remote);
            let messages = messages::expand(&remote);
            let server = server::expand(&remote);
            let client = client::expand(&remote);
            quote! {
                #rewritten
                #checks
                #messages
                #server
                #client
            }
        }
        Err(errors) => {
            let original = ast::fallback(&trait_item);
            let errors = errors.to_compile_error();
            quote! {
                #original
                #errors
            }
        }
    }
}

/// The trait with `Send + Sync + 'static` supertraits and each `async fn m(..) -> R` written
/// as `fn m(..) -> impl Future<Output = R> + Send`, so that the server's handler futures are
/// `Send`. Implementors still write `async fn`.
fn rewrite_trait(remote: &Remote) -> ItemTrait {
    let mut item = remote.item.clone();
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Send));
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sync));
    item.supertraits.push(syn::parse_quote!('static));
    for (trait_item, method) in item.items.iter_mut().zip(&remote.methods) {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        let output = &method.output.ty;
        f.sig.asyncness = None;
        f.sig.output = ReturnType::Type(
            Default::default(),
            Box::new(syn::parse_quote! {
                impl ::core::future::Future<Output = #output> + ::core::marker::Send
            }),
        );
        if let Some(body) = &method.default_body {
            f.default = Some(syn::parse_quote!({ async move #body }));
        }
    }
    item
}

#[cfg(test)]
mod snapshots {
    //! Expansion snapshots: each `tests/expand/<case>.rs` expanded and pretty-printed, compared
    //! with `tests/expand/<case>.expanded.rs`. `UPDATE_EXPECT=1` rewrites them; review the diff.

    use quote::ToTokens;

    fn expand_file(source: &str) -> String {
        let mut file: syn::File = syn::parse_str(source).expect("case parses");
        let mut items = Vec::new();
        for item in file.items {
            let syn::Item::Trait(mut t) = item else {
                items.push(item);
                continue;
            };
            let pos = t
                .attrs
                .iter()
                .position(|a| a.path().is_ident("remote"))
                .expect("the case has a #[remote] trait");
            let attr = t.attrs.remove(pos);
            let args = match attr.meta {
                syn::Meta::List(list) => list.tokens,
                _ => proc_macro2::TokenStream::new(),
            };
            let expanded = super::expand(args, t.into_token_stream());
            let expanded: syn::File = syn::parse2(expanded).expect("expansion parses");
            items.extend(expanded.items);
        }
        file.items = items;
        prettyplease::unparse(&file)
    }

    fn check(case: &str) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/expand");
        let source = std::fs::read_to_string(format!("{dir}/{case}.rs")).expect("case exists");
        expect_test::expect_file![format!("{dir}/{case}.expanded.rs")]
            .assert_eq(&expand_file(&source));
    }

    #[test]
    fn basic() {
        check("basic");
    }

    #[test]
    fn options() {
        check("options");
    }

    #[test]
    fn bytes_and_results() {
        check("bytes_and_results");
    }
}
