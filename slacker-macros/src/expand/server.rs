//! `{Trait}Server<T>`: the trait's `NamespaceService`. `dispatch` matches the remote name, decodes the
//! argument tuple synchronously (bad arguments are answered without running anything) and
//! returns a boxed future that runs the method and encodes what it returns.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::{Method, Remote};
use crate::expand::messages;
use crate::names::{local, unraw};

pub fn expand(remote: &Remote) -> TokenStream {
    let vis = &remote.item.vis;
    let trait_ident = &remote.item.ident;
    let server = &remote.names.server;
    let ns_static = &remote.names.namespace_static;
    let t = &remote.names.server_param;
    let implementation = local("implementation");
    let function = local("function");
    let content_type = local("content_type");
    let payload = local("payload");
    let arms = remote
        .methods
        .iter()
        .map(|m| dispatch_arm(trait_ident, t, m, &implementation, &content_type, &payload));
    let doc = format!(
        " Serves [`{trait_ident}`] as the `{}` namespace: give `{server}::new(implementation)` to a \
         slacker server.",
        remote.namespace.value()
    );
    quote! {
        #[doc = #doc]
        #vis struct #server<#t> {
            #implementation: ::slacker_core::__private::Arc<#t>,
        }

        impl<#t: #trait_ident> #server<#t> {
            /// Wraps an implementation.
            pub fn new(#implementation: #t) -> Self {
                Self::from_arc(::slacker_core::__private::Arc::new(#implementation))
            }

            /// Wraps an implementation that is shared with other code.
            pub fn from_arc(#implementation: ::slacker_core::__private::Arc<#t>) -> Self {
                Self { #implementation }
            }
        }

        impl<#t> ::core::clone::Clone for #server<#t> {
            fn clone(&self) -> Self {
                Self {
                    #implementation: ::core::clone::Clone::clone(&self.#implementation),
                }
            }
        }

        impl<#t: #trait_ident> ::slacker_core::NamespaceService for #server<#t> {
            fn info(&self) -> &'static ::slacker_core::NamespaceInfo {
                &#ns_static
            }

            fn dispatch(
                &self,
                #function: &::core::primitive::str,
                #content_type: ::slacker_core::ContentType,
                #payload: ::slacker_core::__private::bytes::Bytes,
            ) -> ::core::result::Result<::slacker_core::HandlerFuture, ::slacker_core::DispatchError> {
                match #function {
                    #(#arms)*
                    _ => ::core::result::Result::Err(::slacker_core::DispatchError::UnknownFunction),
                }
            }
        }
    }
}

fn dispatch_arm(
    trait_ident: &syn::Ident,
    t: &syn::Ident,
    m: &Method,
    implementation: &syn::Ident,
    content_type: &syn::Ident,
    payload: &syn::Ident,
) -> TokenStream {
    let name = &m.remote_name;
    let ident = &m.ident;
    let value = local("value");
    let wire_ty = messages::args_wire_type(m);
    let expected = m
        .args
        .iter()
        .map(|a| format!("{}: {}", unraw(&a.ident), messages::type_string(&a.ty)))
        .collect::<Vec<_>>()
        .join(", ");
    let decode = quote! {
        ::slacker_core::__private::decode_args::<#wire_ty>(#content_type, &#payload, #expected)?
    };
    let bind = if m.args.is_empty() {
        quote!(let ::slacker_core::__private::NoArgs = #decode;)
    } else {
        let idents = m.args.iter().map(|a| &a.ident);
        quote!(let (#(#idents,)*) = #decode;)
    };
    let call_args = m.args.iter().map(|a| {
        let ident = &a.ident;
        if a.bytes {
            quote!(#ident.into_vec())
        } else {
            quote!(#ident)
        }
    });
    let encode = messages::encode_output(m, content_type, &value);
    quote! {
        #name => {
            #bind
            let #implementation = ::core::clone::Clone::clone(&self.#implementation);
            ::core::result::Result::Ok(::slacker_core::__private::Box::pin(async move {
                let #value = <#t as #trait_ident>::#ident(&*#implementation, #(#call_args),*).await;
                #encode
            }))
        }
    }
}
