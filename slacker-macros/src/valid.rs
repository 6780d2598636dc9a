//! Every semantic rule a `#[remote]` trait must follow, one function each, with the reason for
//! the rule. Each records its error (spanned on the offending token) and returns, so that all
//! problems are reported in one compile. Two phases, run in order by `expand/mod.rs`:
//! [`syntax`] on the trait as written (before the model is built), [`model`] on the model.

use std::collections::BTreeMap;

use syn::{FnArg, ItemTrait, Pat, ReturnType, Signature, TraitItem, Type};

use crate::ast::{Method, Remote};
use crate::ctxt::Ctxt;
use crate::names::RESERVED_CLIENT_METHODS;

/// Phase 1: the rules on the trait as written.
pub fn syntax(cx: &mut Ctxt, item: &ItemTrait) {
    trait_is_not_generic(cx, item);
    for trait_item in &item.items {
        let TraitItem::Fn(f) = trait_item else {
            item_is_a_method(cx, trait_item);
            continue;
        };
        method_is_async(cx, &f.sig);
        method_is_plain(cx, &f.sig);
        method_has_no_generics(cx, &f.sig);
        receiver_is_shared_ref(cx, &f.sig);
        args_are_identifiers(cx, &f.sig);
        types_are_owned(cx, &f.sig);
        name_is_not_reserved(cx, &f.sig.ident);
    }
}

/// Phase 3: the rules on the model built from a trait (and its options).
pub fn model(cx: &mut Ctxt, remote: &Remote) {
    remote_names_are_unique(cx, &remote.methods);
}

/// The server is one `NamespaceService` per trait and the client stub one type per trait: there is no
/// way to pick a type parameter at the other end of the wire.
fn trait_is_not_generic(cx: &mut Ctxt, item: &ItemTrait) {
    if !item.generics.params.is_empty() {
        cx.error_spanned(&item.generics, "a #[remote] trait cannot be generic");
    } else if let Some(w) = &item.generics.where_clause {
        cx.error_spanned(w, "a #[remote] trait cannot have a where clause");
    }
}

/// Only methods can be called remotely; associated types and consts have no wire meaning.
fn item_is_a_method(cx: &mut Ctxt, item: &TraitItem) {
    cx.error_spanned(
        item,
        "a #[remote] trait may only contain `async fn` methods",
    );
}

/// A remote call is asynchronous; writing `async fn` says so in the trait, where readers look.
fn method_is_async(cx: &mut Ctxt, sig: &Signature) {
    if sig.asyncness.is_none() {
        cx.error_spanned(
            sig.fn_token,
            format_args!("remote method `{}` must be an `async fn`", sig.ident),
        );
    }
}

/// `const`, `unsafe`, `extern` and variadic functions cannot be called over the wire.
fn method_is_plain(cx: &mut Ctxt, sig: &Signature) {
    if let Some(t) = sig.constness {
        cx.error_spanned(t, "a remote method cannot be `const`");
    }
    if let Some(t) = sig.unsafety {
        cx.error_spanned(t, "a remote method cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned(abi, "a remote method cannot have an ABI");
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned(v, "a remote method cannot be variadic");
    }
}

/// The server must decode arguments into one concrete type chosen at compile time.
fn method_has_no_generics(cx: &mut Ctxt, sig: &Signature) {
    if !sig.generics.params.is_empty() {
        cx.error_spanned(
            &sig.generics,
            format_args!("remote method `{}` cannot be generic", sig.ident),
        );
    } else if let Some(w) = &sig.generics.where_clause {
        cx.error_spanned(
            w,
            format_args!("remote method `{}` cannot have a where clause", sig.ident),
        );
    }
}

/// The server shares one implementation (`Arc<T>`) between concurrent calls, so a method gets
/// `&self`: never `self` (it would be consumed by the first call) nor `&mut self`.
fn receiver_is_shared_ref(cx: &mut Ctxt, sig: &Signature) {
    match sig.receiver() {
        Some(r) if r.reference.is_some() && r.mutability.is_none() && r.colon_token.is_none() => {
            if let Some((_, Some(lt))) = &r.reference {
                cx.error_spanned(lt, "write `&self`, without a lifetime");
            }
        }
        Some(r) => cx.error_spanned(
            r,
            format_args!("remote method `{}` must take `&self`", sig.ident),
        ),
        None => cx.error_spanned(
            &sig.ident,
            format_args!(
                "remote method `{}` must take `&self` as its first argument",
                sig.ident
            ),
        ),
    }
}

/// Arguments are named on the wire description (`MethodInfo::args`) and re-bound by the
/// generated client; a pattern has no single name.
fn args_are_identifiers(cx: &mut Ctxt, sig: &Signature) {
    for arg in &sig.inputs {
        if let FnArg::Typed(t) = arg {
            match &*t.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {}
                pat => cx.error_spanned(
                    pat,
                    "remote method arguments must be plain identifiers, not patterns",
                ),
            }
        }
    }
}

/// Arguments are decoded on the server, and results on the client, into owned values
/// (`DeserializeOwned`): `String`, not `&str`; a concrete type, not `impl Trait`.
fn types_are_owned(cx: &mut Ctxt, sig: &Signature) {
    let args = sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(t) => Some(&*t.ty),
        FnArg::Receiver(_) => None,
    });
    let ret = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => None,
    };
    for ty in args.chain(ret) {
        match ty {
            Type::Reference(r) => cx.error_spanned(
                r,
                "remote methods take and return owned types (they are decoded at the other end): `String` for `&str`, `Vec<T>` for `&[T]`",
            ),
            Type::ImplTrait(i) => cx.error_spanned(
                i,
                "remote methods take and return concrete types, not `impl Trait`",
            ),
            _ => {}
        }
    }
}

/// The generated client has inherent methods of its own; a remote method with the same name
/// would be unreachable.
fn name_is_not_reserved(cx: &mut Ctxt, ident: &syn::Ident) {
    let name = ident.to_string();
    if RESERVED_CLIENT_METHODS.contains(&name.as_str()) {
        cx.error_spanned(
            ident,
            format_args!(
                "`{name}` is a method of the generated client; rename this method (keep its wire name with #[remote(name = \"{name}\")])"
            ),
        );
    }
}

/// The server dispatches on the remote name: two methods with one name would make one of them
/// unreachable.
fn remote_names_are_unique(cx: &mut Ctxt, methods: &[Method]) {
    let mut seen: BTreeMap<String, &Method> = BTreeMap::new();
    for m in methods {
        let name = m.remote_name.value();
        match seen.get(&name) {
            Some(first) => {
                let mut err = syn::Error::new(
                    m.remote_name.span(),
                    format_args!(
                        "remote name `{name}` is already used by method `{}`",
                        first.ident
                    ),
                );
                err.combine(syn::Error::new(
                    first.remote_name.span(),
                    format_args!("`{name}` first used here"),
                ));
                cx.push(err);
            }
            None => {
                seen.insert(name, m);
            }
        }
    }
}
