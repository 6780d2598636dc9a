//! Every name the macro invents, derived in one place: the generated types, the statics that
//! describe the namespace, and the remote (wire) name of each method.

use std::collections::BTreeSet;

use proc_macro2::{Ident, Span, TokenStream, TokenTree};
use quote::format_ident;

/// Inherent methods of the generated client. A trait method with one of these names would
/// clash with them, so `valid.rs` rejects it.
/// (`clone` would shadow `Clone::clone`.)
pub const RESERVED_CLIENT_METHODS: &[&str] = &["new", "with_options", "caller", "clone"];

/// Names generated for one trait.
pub struct Names {
    /// `{Trait}Server`.
    pub server: Ident,
    /// `{Trait}Client`.
    pub client: Ident,
    /// `{TRAIT}_NAMESPACE`: the public `NamespaceInfo` static.
    pub namespace_static: Ident,
    /// `__{TRAIT}_METHODS`: the array of `MethodInfo`s the namespace points into.
    pub methods_static: Ident,
    /// The server's type parameter (the implementation): `T`.
    pub server_param: Ident,
    /// The client's type parameter (the caller): `C`.
    pub client_param: Ident,
}

impl Names {
    /// Names for the trait `ident`. `user_code` is every type and expression of the trait that
    /// the generated impls repeat: type parameters are chosen so as not to capture its names
    /// (generic parameters are not hygienic, so a user type called `T` would be shadowed).
    pub fn new(ident: &Ident, user_code: TokenStream) -> Self {
        let screaming = screaming_snake(&ident.to_string());
        let mut taken = BTreeSet::new();
        collect_idents(user_code, &mut taken);
        Self {
            server: format_ident!("{}Server", ident),
            client: format_ident!("{}Client", ident),
            namespace_static: format_ident!("{}_NAMESPACE", screaming),
            methods_static: format_ident!("__{}_METHODS", screaming),
            server_param: fresh("T", &taken),
            client_param: fresh("C", &taken),
        }
    }
}

/// `base`, or `base1`, `base2`... whichever `taken` does not contain.
fn fresh(base: &str, taken: &BTreeSet<String>) -> Ident {
    let name = (0..)
        .map(|i| match i {
            0 => base.to_owned(),
            i => format!("{base}{i}"),
        })
        .find(|n| !taken.contains(n))
        .unwrap_or_else(|| base.to_owned());
    Ident::new(&name, Span::call_site())
}

fn collect_idents(tokens: TokenStream, out: &mut BTreeSet<String>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            TokenTree::Group(g) => collect_idents(g.stream(), out),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

/// An identifier as text without `r#`: the default remote name of a method (when there is no
/// `name = "..."`) and the name of an argument in `MethodInfo`.
pub fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
}

/// Identifiers for the generated code's own locals. `mixed_site` hygiene keeps them apart from
/// the user's argument names (an argument called `payload` or `method` must not shadow ours).
pub fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// `HttpAPIServer` -> `HTTP_API_SERVER`.
fn screaming_snake(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screaming_snake_splits_words_and_acronyms() {
        assert_eq!(screaming_snake("Calculator"), "CALCULATOR");
        assert_eq!(screaming_snake("KeyValueStore"), "KEY_VALUE_STORE");
        assert_eq!(screaming_snake("HttpAPIServer"), "HTTP_API_SERVER");
        assert_eq!(screaming_snake("Echo2Go"), "ECHO2_GO");
    }

    #[test]
    fn type_parameters_avoid_user_names() {
        let ident: Ident = syn::parse_str("Store").expect("ident");
        let names = Names::new(&ident, quote::quote!(Result<Vec<T>, (C, C1)>));
        assert_eq!(names.server_param, "T1");
        assert_eq!(names.client_param, "C2");
        let names = Names::new(&ident, quote::quote!(u32));
        assert_eq!(
            (
                names.server_param.to_string(),
                names.client_param.to_string()
            ),
            ("T".into(), "C".into())
        );
    }

    #[test]
    fn raw_identifiers_lose_their_prefix_on_the_wire() {
        let ident: Ident = syn::parse_str("r#type").expect("ident");
        assert_eq!(unraw(&ident), "type");
    }
}
