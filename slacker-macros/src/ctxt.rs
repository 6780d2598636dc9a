//! Collects every error found in one `#[remote]` invocation, so the user sees one message per
//! problem in one compile instead of fixing them one at a time.

use std::fmt::Display;

use quote::ToTokens;

/// An error accumulator. `check` turns what was collected into one combined `syn::Error`.
#[derive(Default)]
pub struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    /// Records an error spanned on `tokens`.
    pub fn error_spanned(&mut self, tokens: impl ToTokens, msg: impl Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }

    /// Records an error.
    pub fn push(&mut self, err: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(err),
            None => self.errors = Some(err),
        }
    }

    /// `Err` with every recorded error, if there was any.
    pub fn check(self) -> syn::Result<()> {
        match self.errors {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}
