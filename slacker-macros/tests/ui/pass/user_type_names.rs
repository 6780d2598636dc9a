// User types named like the generated type parameters (`T`, `C`) are not captured by them.
use serde::{Deserialize, Serialize};
use slacker_core::{remote, Caller, Error};

#[derive(Debug, Serialize, Deserialize)]
pub struct T(pub u32);

#[derive(Debug, Serialize, Deserialize)]
pub struct C(pub String);

#[remote(namespace = "ui.names")]
pub trait Swap {
    async fn swap(&self, t: T, c: C) -> (C, T);
    #[remote(unavailable_value = (C(String::new()), T(0)))]
    async fn fallback(&self) -> (C, T);
}

struct Impl;

impl Swap for Impl {
    async fn swap(&self, t: T, c: C) -> (C, T) {
        (c, t)
    }
    async fn fallback(&self) -> (C, T) {
        (C("x".into()), T(1))
    }
}

async fn typed<Transport: Caller>(s: SwapClient<Transport>) -> Result<(C, T), Error> {
    s.swap(T(1), C("c".into())).await
}

#[derive(Clone)]
struct Never;

impl Caller for Never {
    async fn call(&self, _call: slacker_core::Call) -> slacker_core::Result<slacker_core::Replies> {
        Err(Error::Closed)
    }
}

fn main() {
    let _ = SwapServer::new(Impl);
    let _ = typed::<Never>;
}
