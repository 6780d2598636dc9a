//! The `#[remote]` attribute of slacker. Use it through `slacker_core::remote`.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod names;
mod valid;

use proc_macro::TokenStream;

/// Turns a trait into a slacker namespace.
#[proc_macro_attribute]
pub fn remote(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}
