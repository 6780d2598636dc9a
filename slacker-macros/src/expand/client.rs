//! `{Trait}Client<C: Caller>`: one method per remote method, returning a future. Each encodes
//! its argument tuple once, hands the call to the `Caller` (next hop: `slacker_core::caller`),
//! decodes every server's reply into the declared type and merges them per
//! `grouping_results`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{Method, Remote};
use crate::attr::ResultsOpt;
use crate::expand::messages;
use crate::names::local;

pub fn expand(remote: &Remote) -> TokenStream {
    let vis = &remote.item.vis;
    let trait_ident = &remote.item.ident;
    let client = &remote.names.client;
    let methods_static = &remote.names.methods_static;
    let c = &remote.names.client_param;
    let stubs = remote
        .methods
        .iter()
        .enumerate()
        .map(|(i, m)| stub(methods_static, i, m));
    let doc = format!(
        " Calls [`{trait_ident}`] on remote servers (the `{}` namespace) through a `Caller`: \
         a point-to-point client, a cluster client or a test double.",
        remote.namespace.value()
    );
    quote! {
        #[doc = #doc]
        #vis struct #client<#c> {
            caller: #c,
            options: ::slacker_core::CallOptions,
        }

        impl<#c: ::slacker_core::Caller> #client<#c> {
            /// A client calling through `caller` with default options.
            pub fn new(caller: #c) -> Self {
                Self {
                    caller,
                    options: ::slacker_core::CallOptions::new(),
                }
            }

            /// The same client with `options` applied to every call (they override each
            /// method's own timeout and grouping).
            pub fn with_options(self, options: ::slacker_core::CallOptions) -> Self {
                Self {
                    caller: self.caller,
                    options,
                }
            }

            /// The caller this client sends through.
            pub fn caller(&self) -> &#c {
                &self.caller
            }

            #(#stubs)*
        }

        impl<#c: ::slacker_core::Caller> ::core::clone::Clone for #client<#c> {
            fn clone(&self) -> Self {
                Self {
                    caller: ::core::clone::Clone::clone(&self.caller),
                    options: ::core::clone::Clone::clone(&self.options),
                }
            }
        }
    }
}

fn stub(methods_static: &syn::Ident, index: usize, m: &Method) -> TokenStream {
    let index = proc_macro2::Literal::usize_unsuffixed(index);
    let p = quote!(::slacker_core::__private);
    let ident = &m.ident;
    let docs = &m.doc_attrs;
    let doc = if docs.is_empty() {
        let text = format!(" Calls `{}` remotely.", m.remote_name.value());
        quote!(#[doc = #text])
    } else {
        quote!(#(#docs)*)
    };
    let args = m.args.iter().map(|a| {
        let (ident, ty) = (&a.ident, &a.ty);
        quote!(#ident: #ty)
    });
    let (method, call, error, replies, merge) = (
        local("method"),
        local("call"),
        local("error"),
        local("replies"),
        local("merge"),
    );
    let ty = &m.output.ty;
    let out = match &m.results {
        ResultsOpt::Single | ResultsOpt::Custom(_) => quote!(#ty),
        ResultsOpt::Vector => quote!(#p::Vec<#ty>),
        ResultsOpt::Map => quote!(#p::Map<::std::string::String, #ty>),
        ResultsOpt::Nil => quote!(()),
    };
    let wire_value = messages::args_wire_value(m);
    let decode = messages::decode_fn(m);
    let send = match &m.unavailable_value {
        None => quote!(::slacker_core::Caller::call(&self.caller, #call).await?),
        Some(value) => quote! {
            match ::slacker_core::Caller::call(&self.caller, #call).await {
                ::core::result::Result::Ok(#replies) => #replies,
                ::core::result::Result::Err(#error) if #p::is_unavailable(&#error) => {
                    // Typed here: the `async` block's output is inferred from its first
                    // `return`, and a mistyped value should be reported where it is written.
                    return ::core::result::Result::<#out, ::slacker_core::Error>::Ok(#value);
                }
                ::core::result::Result::Err(#error) => return ::core::result::Result::Err(#error),
            }
        },
    };
    let decoded_all = quote!(#p::decode_all(&#merge, #replies, #decode));
    let merged = match &m.results {
        ResultsOpt::Single => quote!(#p::single(&#merge, #replies, #decode)),
        ResultsOpt::Vector => quote!(#p::merge_vec(&#merge, #decoded_all)),
        ResultsOpt::Map => quote!(#p::merge_map(&#merge, #decoded_all)),
        ResultsOpt::Nil => quote!(#p::merge_nil(&#merge, #decoded_all)),
        ResultsOpt::Custom(f) => quote!(#p::merge_custom(&#merge, #decoded_all, #f)),
    };
    // A plain function returning an `async` block, not an `async fn`: the arguments are
    // encoded before the future exists, so it holds neither them nor two copies of them (an
    // `async fn` keeps its arguments and moves them again into its body), and nothing is sent
    // until it is polled.
    quote! {
        #doc
        #[allow(clippy::too_many_arguments)] // mirrors the trait method, where the lint applies
        #[allow(clippy::manual_async_fn)]
        pub fn #ident(
            &self,
            #(#args),*
        ) -> impl ::core::future::Future<Output = ::core::result::Result<#out, ::slacker_core::Error>>
               + ::core::marker::Send
               + '_ {
            let #method: &'static ::slacker_core::MethodInfo = &#methods_static[#index];
            let #call = #p::build_call(&self.caller, #method, &#wire_value, &self.options);
            async move {
                let #call = #call?;
                let #merge = #p::Merge::new(&self.caller, &#call, &self.options);
                let #replies = #send;
                #merged
            }
        }
    }
}
