//! The `#[remote]` attribute of slacker. See `slacker_core::remote`.

use proc_macro::TokenStream;

/// Placeholder until the macro lands.
#[proc_macro_attribute]
pub fn remote(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
