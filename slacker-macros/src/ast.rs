//! The model the expansion works from, built from `syn`: one [`Remote`] per trait, one
//! [`Method`] per method, with every option already parsed and every rule of `valid.rs` checked.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{
    Attribute, Block, Expr, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Pat, PathArguments,
    ReturnType, TraitItem, Type,
};

use crate::attr::{self, ExceptionsOpt, GroupingOpt, ResultsOpt};
use crate::ctxt::Ctxt;
use crate::names::{self, Names};

/// A `#[remote]` trait.
pub struct Remote {
    /// The trait as written, minus the methods' `#[remote(...)]` attributes.
    pub item: ItemTrait,
    /// `namespace = "..."`.
    pub namespace: LitStr,
    /// The trait's doc comment.
    pub doc: String,
    /// Generated names.
    pub names: Names,
    /// Methods in declaration order.
    pub methods: Vec<Method>,
}

/// One remote method.
pub struct Method {
    /// Rust name.
    pub ident: Ident,
    /// Remote (wire) name.
    pub remote_name: LitStr,
    /// Doc comment as text (for `MethodInfo`).
    pub doc: String,
    /// The `#[doc]` attributes, repeated on the client's method.
    pub doc_attrs: Vec<Attribute>,
    /// Arguments after `&self`.
    pub args: Vec<Arg>,
    /// What the method returns.
    pub output: Output,
    /// A default body, if the trait gives one.
    pub default_body: Option<Block>,
    /// `timeout_ms`.
    pub timeout_ms: Option<u64>,
    /// `grouping`.
    pub grouping: Option<GroupingOpt>,
    /// `grouping_results` (default `single`).
    pub results: ResultsOpt,
    /// `grouping_exceptions` (default `all`).
    pub exceptions: Option<ExceptionsOpt>,
    /// `unavailable_value`.
    pub unavailable_value: Option<Expr>,
    /// `retries`, or 2 for `idempotent`, else 0.
    pub retries: u32,
}

/// One argument.
pub struct Arg {
    pub ident: Ident,
    pub ty: Type,
    /// `Vec<u8>`: travels as MessagePack `bin`.
    pub bytes: bool,
}

/// The declared return type `R` and how it is decoded.
pub struct Output {
    /// `R` as written (`()` when the method declares none).
    pub ty: Type,
    /// For `Result<T, E>`: `T` and `E`. The `Err` side travels as an application error.
    pub result: Option<(Type, Type)>,
    /// The value (`R`, or `T` for a result) is `Vec<u8>` and travels as `bin`.
    pub bytes: bool,
}

impl Remote {
    /// Builds the model from a trait that passed [`valid::syntax`](crate::valid::syntax)
    /// (option errors go to `cx`). `None` when there is nothing to build from (no valid
    /// namespace; its error is recorded).
    pub fn from_syn(cx: &mut Ctxt, args: TokenStream, item: &ItemTrait) -> Option<Self> {
        let trait_attrs = attr::trait_attrs(cx, args);
        let mut methods = Vec::new();
        for trait_item in &item.items {
            let TraitItem::Fn(f) = trait_item else {
                continue;
            };
            let opts = attr::method_attrs(cx, &f.attrs);
            let args = f
                .sig
                .inputs
                .iter()
                .filter_map(|a| match a {
                    FnArg::Typed(t) => match &*t.pat {
                        Pat::Ident(p) => Some(Arg {
                            ident: p.ident.clone(),
                            ty: (*t.ty).clone(),
                            bytes: is_byte_vec(&t.ty),
                        }),
                        _ => None,
                    },
                    FnArg::Receiver(_) => None,
                })
                .collect();
            let remote_name = opts
                .name
                .unwrap_or_else(|| LitStr::new(&names::unraw(&f.sig.ident), f.sig.ident.span()));
            methods.push(Method {
                ident: f.sig.ident.clone(),
                remote_name,
                doc: doc_of(&f.attrs),
                doc_attrs: f
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident("doc"))
                    .cloned()
                    .collect(),
                args,
                output: Output::from_syn(&f.sig.output),
                default_body: f.default.clone(),
                timeout_ms: opts.timeout_ms,
                grouping: opts.grouping,
                results: opts.results.unwrap_or(ResultsOpt::Single),
                exceptions: opts.exceptions,
                unavailable_value: opts.unavailable_value,
                retries: opts.retries.unwrap_or(if opts.idempotent { 2 } else { 0 }),
            });
        }
        // A missing or invalid namespace is already recorded by `attr::trait_attrs`.
        let namespace = trait_attrs.namespace?;
        let mut user_code = TokenStream::new();
        for m in &methods {
            user_code.extend(m.args.iter().map(|a| a.ty.to_token_stream()));
            user_code.extend(m.output.ty.to_token_stream());
            user_code.extend(m.unavailable_value.to_token_stream());
        }
        Some(Self {
            item: strip_remote_attrs(item),
            namespace,
            doc: doc_of(&item.attrs),
            names: Names::new(&item.ident, user_code),
            methods,
        })
    }
}

impl Output {
    /// The value (`R`, or `T` of `Result<T, E>`) is written `()`: nothing comes back but
    /// success, so a fire-and-forget call has nothing to lose.
    pub fn value_is_unit(&self) -> bool {
        let value = self.result.as_ref().map_or(&self.ty, |(ok, _)| ok);
        matches!(value, Type::Tuple(t) if t.elems.is_empty())
    }

    fn from_syn(ret: &ReturnType) -> Self {
        let ty: Type = match ret {
            ReturnType::Default => syn::parse_quote!(()),
            ReturnType::Type(_, ty) => (**ty).clone(),
        };
        let result = result_parts(&ty);
        let bytes = is_byte_vec(result.as_ref().map_or(&ty, |(ok, _)| ok));
        Self { ty, result, bytes }
    }
}

/// The trait with the methods' `#[remote(...)]` attributes removed.
pub fn strip_remote_attrs(item: &ItemTrait) -> ItemTrait {
    let mut item = item.clone();
    for trait_item in &mut item.items {
        if let TraitItem::Fn(f) = trait_item {
            f.attrs.retain(|a| !attr::is_remote(a));
        }
    }
    item
}

/// What is emitted, next to the errors, when the trait is invalid: the trait as written, so that
/// the user's impls and calls still compile and add no secondary errors. Argument patterns in
/// body-less methods (already reported) become `_`, which rustc would otherwise report again.
pub fn fallback(item: &ItemTrait) -> ItemTrait {
    let mut item = strip_remote_attrs(item);
    for trait_item in &mut item.items {
        let TraitItem::Fn(f) = trait_item else {
            continue;
        };
        if f.default.is_some() {
            continue;
        }
        for arg in &mut f.sig.inputs {
            if let FnArg::Typed(t) = arg {
                if !matches!(&*t.pat, Pat::Ident(_)) {
                    *t.pat = Pat::Wild(syn::PatWild {
                        attrs: Vec::new(),
                        underscore_token: Default::default(),
                    });
                }
            }
        }
    }
    item
}

/// `Result<T, E>` (any path ending in `Result` with two type arguments) -> `(T, E)`.
fn result_parts(ty: &Type) -> Option<(Type, Type)> {
    let args = last_segment_args(ty, "Result")?;
    match (args.first(), args.get(1), args.len()) {
        (Some(GenericArgument::Type(ok)), Some(GenericArgument::Type(err)), 2) => {
            Some((ok.clone(), err.clone()))
        }
        _ => None,
    }
}

/// `Vec<u8>` (or `std::vec::Vec<u8>`).
fn is_byte_vec(ty: &Type) -> bool {
    match last_segment_args(ty, "Vec").as_deref() {
        Some([GenericArgument::Type(Type::Path(inner))]) => {
            inner.qself.is_none() && inner.path.is_ident("u8")
        }
        _ => false,
    }
}

fn last_segment_args(ty: &Type, name: &str) -> Option<Vec<GenericArgument>> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let last = p.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(a) => Some(a.args.iter().cloned().collect()),
        _ => None,
    }
}

/// The text of `///` comments (`#[doc = "..."]`), one leading space per line removed.
fn doc_of(attrs: &[Attribute]) -> String {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| s.lines().map(str::to_owned).collect::<Vec<_>>())
        .map(|l| l.strip_prefix(' ').map(str::to_owned).unwrap_or(l))
        .collect();
    lines.join("\n").trim().to_owned()
}
