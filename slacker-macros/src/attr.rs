//! Parses the attribute's arguments: `#[remote(namespace = "...")]` on the trait and
//! `#[remote(name = "...", timeout_ms = N, grouping = ..., ...)]` on a method.
//!
//! Syntax errors (unknown option, duplicate option, a value of the wrong shape) are reported here,
//! each on the offending token, and parsing continues so that every mistake is reported at once.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Attribute, Expr, Ident, LitStr, Path};

use crate::ctxt::Ctxt;

/// The name of the attribute, on the trait and on its methods.
pub const REMOTE: &str = "remote";

/// Options of the trait-level attribute.
pub struct TraitAttrs {
    /// `namespace = "..."`; `None` (and an error recorded) when missing.
    pub namespace: Option<LitStr>,
}

/// `grouping = ...`.
pub enum GroupingOpt {
    /// A built-in mode, as the `Grouping` variant name (`LeastInFlight`).
    Builtin(Ident),
    /// `fn(&GroupingInput<'_>) -> Selection`.
    Custom(Path),
}

/// `grouping_results = ...`.
pub enum ResultsOpt {
    Single,
    Vector,
    Map,
    Nil,
    /// `fn(Vec<(ServerAddr, R)>) -> R`.
    Custom(Path),
}

/// `grouping_exceptions = ...`.
pub enum ExceptionsOpt {
    All,
    Any,
    /// `fn(&GroupOutcome<'_>) -> Result<(), Error>`.
    Custom(Path),
}

/// Options of one method's `#[remote(...)]` attributes.
#[derive(Default)]
pub struct MethodAttrs {
    pub name: Option<LitStr>,
    pub timeout_ms: Option<u64>,
    pub grouping: Option<GroupingOpt>,
    pub results: Option<ResultsOpt>,
    pub exceptions: Option<ExceptionsOpt>,
    pub unavailable_value: Option<Expr>,
    pub idempotent: bool,
    pub retries: Option<u32>,
}

const GROUPINGS: &[(&str, &str)] = &[
    ("p2c", "PowerOfTwoChoices"),
    ("random", "Random"),
    ("first", "First"),
    ("leader", "Leader"),
    ("all", "All"),
    ("least_in_flight", "LeastInFlight"),
    ("round_robin", "RoundRobin"),
    ("weighted", "Weighted"),
];

/// Parses the trait-level arguments (the attribute's own token stream).
pub fn trait_attrs(cx: &mut Ctxt, args: TokenStream) -> TraitAttrs {
    let mut namespace: Option<LitStr> = None;
    let mut given = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("namespace") {
            let value: Expr = meta.value()?.parse()?;
            if given {
                cx.error_spanned(&meta.path, "duplicate option `namespace`");
            }
            given = true;
            namespace = name_value(cx, &value, "namespace");
            Ok(())
        } else {
            unknown(cx, &meta, "namespace")
        }
    });
    if let Err(e) = parser.parse2(args) {
        cx.push(e);
        // A syntax error already says what is wrong; do not add "missing namespace" to it.
        return TraitAttrs { namespace: None };
    }
    if !given {
        cx.push(syn::Error::new(
            Span::call_site(),
            "missing `namespace`: write #[remote(namespace = \"...\")]",
        ));
    }
    TraitAttrs { namespace }
}

/// True for a `#[remote(...)]` attribute.
pub fn is_remote(attr: &Attribute) -> bool {
    attr.path().is_ident(REMOTE)
}

/// Parses every `#[remote(...)]` among a method's attributes (several are merged; an option may
/// still appear only once).
pub fn method_attrs(cx: &mut Ctxt, attrs: &[Attribute]) -> MethodAttrs {
    let mut out = MethodAttrs::default();
    for attr in attrs.iter().filter(|a| is_remote(a)) {
        let res = attr.parse_nested_meta(|meta| {
            let Some(key) = meta.path.get_ident().map(Ident::to_string) else {
                return unknown(cx, &meta, METHOD_OPTIONS);
            };
            match key.as_str() {
                "name" => {
                    let value: Expr = meta.value()?.parse()?;
                    if let Some(lit) = name_value(cx, &value, "remote name") {
                        set(cx, &meta, &mut out.name, lit);
                    }
                }
                "timeout_ms" => {
                    let value: Expr = meta.value()?.parse()?;
                    match int_value::<u64>(&value) {
                        Some(ms) if ms > 0 => set(cx, &meta, &mut out.timeout_ms, ms),
                        _ => cx.error_spanned(
                            &value,
                            "`timeout_ms` is a positive number of milliseconds",
                        ),
                    }
                }
                "retries" => {
                    let value: Expr = meta.value()?.parse()?;
                    match int_value::<u32>(&value) {
                        Some(n) => set(cx, &meta, &mut out.retries, n),
                        None => cx.error_spanned(&value, "`retries` is a number of retries (u32)"),
                    }
                }
                "idempotent" => {
                    if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                        cx.error_spanned(&meta.path, "`idempotent` takes no value");
                        return skip_value(&meta);
                    }
                    if out.idempotent {
                        cx.error_spanned(&meta.path, "duplicate option `idempotent`");
                    }
                    out.idempotent = true;
                }
                "grouping" => {
                    let Some(path) = value_path(
                        cx,
                        &meta,
                        "p2c, random, first, leader, all, least_in_flight, round_robin, weighted",
                    )?
                    else {
                        return Ok(());
                    };
                    let builtin = keyword(&path)
                        .and_then(|k| GROUPINGS.iter().find(|(kw, _)| *kw == k))
                        .map(|(_, variant)| Ident::new(variant, path.segments[0].ident.span()));
                    let value = match builtin {
                        Some(variant) => GroupingOpt::Builtin(variant),
                        None => GroupingOpt::Custom(path),
                    };
                    set(cx, &meta, &mut out.grouping, value);
                }
                "grouping_results" => {
                    let Some(path) = value_path(cx, &meta, "single, vector, map, nil")? else {
                        return Ok(());
                    };
                    let value = match keyword(&path).as_deref() {
                        Some("single") => ResultsOpt::Single,
                        Some("vector") => ResultsOpt::Vector,
                        Some("map") => ResultsOpt::Map,
                        Some("nil") => ResultsOpt::Nil,
                        _ => ResultsOpt::Custom(path),
                    };
                    set(cx, &meta, &mut out.results, value);
                }
                "grouping_exceptions" => {
                    let Some(path) = value_path(cx, &meta, "all, any")? else {
                        return Ok(());
                    };
                    let value = match keyword(&path).as_deref() {
                        Some("all") => ExceptionsOpt::All,
                        Some("any") => ExceptionsOpt::Any,
                        _ => ExceptionsOpt::Custom(path),
                    };
                    set(cx, &meta, &mut out.exceptions, value);
                }
                "unavailable_value" => {
                    let expr: Expr = meta.value()?.parse()?;
                    set(cx, &meta, &mut out.unavailable_value, expr);
                }
                _ => return unknown(cx, &meta, METHOD_OPTIONS),
            }
            Ok(())
        });
        if let Err(e) = res {
            cx.push(e);
        }
    }
    out
}

const METHOD_OPTIONS: &str = "name, timeout_ms, grouping, grouping_results, grouping_exceptions, unavailable_value, idempotent, retries";

/// Records "unknown option" and skips its value so the rest of the list is still checked.
fn unknown(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, expected: &str) -> syn::Result<()> {
    let name = quote::ToTokens::to_token_stream(&meta.path)
        .to_string()
        .replace(' ', "");
    cx.error_spanned(
        &meta.path,
        format_args!("unknown option `{name}`; expected one of: {expected}"),
    );
    skip_value(meta)
}

fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|_| Ok(()))?;
    }
    Ok(())
}

/// A mode keyword or a path to a function. Anything else (a string, a number) is recorded as
/// an error that lists the keywords, and gives `None`.
fn value_path(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta<'_>,
    keywords: &str,
) -> syn::Result<Option<Path>> {
    let key = meta
        .path
        .get_ident()
        .map(Ident::to_string)
        .unwrap_or_default();
    match meta.value()?.parse::<Expr>()? {
        Expr::Path(p) if p.qself.is_none() && p.attrs.is_empty() => {
            // A near miss of a mode (`rando`, `roundrobin`) is a typo, not a function name.
            if let Some(word) = p.path.get_ident().map(Ident::to_string) {
                let modes: Vec<&str> = keywords.split(", ").collect();
                if let Some(close) = modes.iter().find(|m| near(&word, m)) {
                    cx.error_spanned(
                        &p.path,
                        format_args!(
                            "unknown `{key}` mode `{word}`: did you mean `{close}`? (the modes are {keywords}; anything else must be a function in scope)"
                        ),
                    );
                    return Ok(None);
                }
            }
            Ok(Some(p.path))
        }
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) if keywords.split(", ").any(|k| k == lit.value()) => {
            let word = lit.value();
            cx.error_spanned(
                &lit,
                format_args!(
                    "write `{key} = {word}`, without quotes: modes are words, not strings"
                ),
            );
            Ok(None)
        }
        other => {
            cx.error_spanned(
                other,
                format_args!(
                    "invalid `{key}`: expected one of {keywords}, or a path to a function"
                ),
            );
            Ok(None)
        }
    }
}

/// True when `word` is one edit (insert, delete, substitute; `_` ignored) from `mode`: close
/// enough to be a typo, not a function that happens to look alike (`lead` is not `leader`).
fn near(word: &str, mode: &str) -> bool {
    let a: Vec<char> = word.chars().filter(|c| *c != '_').collect();
    let b: Vec<char> = mode.chars().filter(|c| *c != '_').collect();
    if a == b {
        return word != mode;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()] <= 1 && a.len() >= 4
}

/// A string literal naming a namespace or function: non-empty, without `/` (the separator of
/// ZooKeeper paths and of `ns/fn` in logs).
fn name_value(cx: &mut Ctxt, value: &Expr, what: &str) -> Option<LitStr> {
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) if !lit.value().is_empty() && !lit.value().contains('/') => Some(lit.clone()),
        _ => {
            cx.error_spanned(
                value,
                format_args!("a {what} is a non-empty string without `/`"),
            );
            None
        }
    }
}

/// An unsuffixed or suffixed integer literal that fits `T`.
fn int_value<T>(value: &Expr) -> Option<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match value {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(lit),
            ..
        }) => lit.base10_parse().ok(),
        _ => None,
    }
}

/// The keyword a one-segment path spells, if it is one.
fn keyword(path: &Path) -> Option<String> {
    path.get_ident().map(Ident::to_string)
}

/// Stores an option's value, or records "duplicate option" if it was already given.
fn set<T>(cx: &mut Ctxt, meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) {
    if slot.is_some() {
        let name = quote::ToTokens::to_token_stream(&meta.path).to_string();
        cx.error_spanned(&meta.path, format_args!("duplicate option `{name}`"));
    } else {
        *slot = Some(value);
    }
}
