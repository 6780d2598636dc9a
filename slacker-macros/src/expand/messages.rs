//! What describes the namespace and what travels on the wire: the `NamespaceInfo` /
//! `MethodInfo` statics, and for each method the argument tuple type and the decoding of its
//! result. The `Vec<u8>` fast path is chosen here, and only here (a `serde_bytes` wrapper in the
//! argument tuple, the `*_bytes` helpers of `__private` for results), so that bytes travel as
//! MessagePack `bin` rather than as an array of integers.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{LitStr, Type};

use crate::ast::{Method, Remote};
use crate::attr::{ExceptionsOpt, GroupingOpt, ResultsOpt};
use crate::names;

/// `static {TRAIT}_NAMESPACE: NamespaceInfo` and the array of `MethodInfo`s it points into.
pub fn expand(remote: &Remote) -> TokenStream {
    let vis = &remote.item.vis;
    let trait_ident = &remote.item.ident;
    let ns_static = &remote.names.namespace_static;
    let methods_static = &remote.names.methods_static;
    let namespace = &remote.namespace;
    let doc = &remote.doc;
    let count = proc_macro2::Literal::usize_unsuffixed(remote.methods.len());
    let infos = remote.methods.iter().map(|m| method_info(namespace, m));
    let ns_doc = format!(
        " The `{}` namespace: what [`{trait_ident}`] offers remotely (names, arguments, options).",
        namespace.value()
    );
    quote! {
        #[doc = #ns_doc]
        #vis static #ns_static: ::slacker_core::NamespaceInfo = ::slacker_core::NamespaceInfo {
            name: #namespace,
            doc: #doc,
            methods: &#methods_static,
        };

        #[doc(hidden)]
        static #methods_static: [::slacker_core::MethodInfo; #count] = [#(#infos),*];
    }
}

fn method_info(namespace: &LitStr, m: &Method) -> TokenStream {
    let name = &m.remote_name;
    let args = m.args.iter().map(|a| {
        let arg_name = names::unraw(&a.ident);
        let ty = type_string(&a.ty);
        quote!(::slacker_core::ArgInfo { name: #arg_name, ty: #ty })
    });
    let returns = type_string(&m.output.ty);
    let doc = &m.doc;
    let timeout = match m.timeout_ms {
        Some(ms) => {
            let ms = proc_macro2::Literal::u64_unsuffixed(ms);
            quote!(::core::option::Option::Some(::std::time::Duration::from_millis(#ms)))
        }
        None => quote!(::core::option::Option::None),
    };
    let grouping = match &m.grouping {
        None => quote!(::core::option::Option::None),
        Some(GroupingOpt::Builtin(variant)) => {
            quote!(::core::option::Option::Some(::slacker_core::Grouping::#variant))
        }
        Some(GroupingOpt::Custom(path)) => quote! {
            ::core::option::Option::Some(::slacker_core::Grouping::Custom(
                ::slacker_core::GroupingFn::from_fn(#path),
            ))
        },
    };
    let results = match &m.results {
        ResultsOpt::Single => quote!(Single),
        ResultsOpt::Vector => quote!(Vector),
        ResultsOpt::Map => quote!(Map),
        ResultsOpt::Nil => quote!(Nil),
        ResultsOpt::Custom(_) => quote!(Custom),
    };
    let exceptions = match &m.exceptions {
        None => quote!(::core::option::Option::None),
        Some(ExceptionsOpt::All) => {
            quote!(::core::option::Option::Some(
                ::slacker_core::ExceptionsPolicy::All
            ))
        }
        Some(ExceptionsOpt::Any) => {
            quote!(::core::option::Option::Some(
                ::slacker_core::ExceptionsPolicy::Any
            ))
        }
        Some(ExceptionsOpt::Custom(path)) => quote!(::core::option::Option::Some(
            ::slacker_core::ExceptionsPolicy::Custom(#path)
        )),
    };
    let has_unavailable_value = m.unavailable_value.is_some();
    let returns_unit = m.output.value_is_unit();
    let retries = proc_macro2::Literal::u32_unsuffixed(m.retries);
    quote! {
        ::slacker_core::MethodInfo {
            namespace: #namespace,
            name: #name,
            args: &[#(#args),*],
            returns: #returns,
            doc: #doc,
            timeout: #timeout,
            grouping: #grouping,
            results: ::slacker_core::ResultsMode::#results,
            exceptions: #exceptions,
            has_unavailable_value: #has_unavailable_value,
            returns_unit: #returns_unit,
            retries: #retries,
        }
    }
}

/// The argument tuple type as it is encoded: `(A, B,)`, with `Vec<u8>` as `ByteBuf`;
/// `NoArgs` for a method without arguments.
pub fn args_wire_type(m: &Method) -> TokenStream {
    if m.args.is_empty() {
        return quote!(::slacker_core::__private::NoArgs);
    }
    let tys = m.args.iter().map(|a| {
        if a.bytes {
            quote!(::slacker_core::__private::serde_bytes::ByteBuf)
        } else {
            a.ty.to_token_stream()
        }
    });
    quote!((#(#tys,)*))
}

/// The client's argument tuple value: `(a, ByteBuf::from(b),)`, or `NoArgs`.
pub fn args_wire_value(m: &Method) -> TokenStream {
    if m.args.is_empty() {
        return quote!(::slacker_core::__private::NoArgs);
    }
    let values = m.args.iter().map(|a| {
        let ident = &a.ident;
        if a.bytes {
            quote!(::slacker_core::__private::serde_bytes::ByteBuf::from(#ident))
        } else {
            quote!(#ident)
        }
    });
    quote!((#(#values,)*))
}

/// The `fn(&ServerAddr, Response) -> Result<R>` that decodes one server's reply.
pub fn decode_fn(m: &Method) -> TokenStream {
    let p = quote!(::slacker_core::__private);
    match (&m.output.result, m.output.bytes) {
        (None, false) => {
            let ty = &m.output.ty;
            quote!(#p::decode_plain::<#ty>)
        }
        (Some((ok, err)), false) => quote!(#p::decode_result::<#ok, #err>),
        (None, true) => quote!(#p::decode_bytes),
        (Some((_, err)), true) => quote!(#p::decode_bytes_result::<#err>),
    }
}

/// Encodes the handler's return value, bound to `value`, into a `HandlerOutput`.
pub fn encode_output(m: &Method, content_type: &syn::Ident, value: &syn::Ident) -> TokenStream {
    let p = quote!(::slacker_core::__private);
    let helper = match (&m.output.result, m.output.bytes) {
        (None, false) => quote!(output_value),
        (Some(_), false) => quote!(output_result),
        (None, true) => quote!(output_bytes),
        (Some(_), true) => quote!(output_bytes_result),
    };
    quote!(#p::#helper(#content_type, &#value))
}

/// A type as users write it: `Result<Vec<u8>, String>`, not `Result < Vec < u8 > , String >`.
pub fn type_string(ty: &Type) -> String {
    let mut s = ty.to_token_stream().to_string();
    for (from, to) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        (" ;", ";"),
        ("& ", "&"),
    ] {
        s = s.replace(from, to);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::type_string;

    #[test]
    fn types_read_as_written() {
        for (src, want) in [
            ("Result<Vec<u8>, String>", "Result<Vec<u8>, String>"),
            (
                "std::collections::BTreeMap<String, (u32, [u8; 4])>",
                "std::collections::BTreeMap<String, (u32, [u8; 4])>",
            ),
            ("()", "()"),
            (
                "Option<::std::string::String>",
                "Option<::std::string::String>",
            ),
        ] {
            let ty: syn::Type = syn::parse_str(src).expect("type");
            assert_eq!(type_string(&ty), want);
        }
    }
}
