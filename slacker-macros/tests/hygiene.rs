//! The generated code names everything absolutely: it compiles with no prelude in scope, and
//! with user names (`Result`, `Option`, `Box`, `Arc`, `Vec`, `Error`, `Send`...) that shadow the
//! standard ones, and with arguments named like the generated code's own locals.
#![no_implicit_prelude]
// Generated public items are documented: a user crate with `deny(missing_docs)` compiles.
#![deny(missing_docs)]

#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Vec;
#[allow(dead_code)]
struct String;
#[allow(dead_code)]
struct Duration;
#[allow(dead_code)]
struct BTreeMap;
#[allow(dead_code)]
struct Caller;
#[allow(dead_code)]
struct Service;
#[allow(dead_code)]
struct NamespaceService;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Box;
#[allow(dead_code)]
struct Arc;
#[allow(dead_code)]
struct Error;
#[allow(dead_code)]
struct Send;
#[allow(dead_code)]
struct Sync;
#[allow(dead_code)]
struct Future;
#[allow(dead_code)]
struct Clone;
#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Some;

mod slacker_core {}
mod serde {}
mod core {}

/// A namespace whose every name could clash with the generated code's.
#[::slacker_core::remote(namespace = "hygiene")]
pub trait Hygienic {
    /// Arguments named like the generated code's locals must not be shadowed by them.
    #[allow(clippy::too_many_arguments)]
    async fn locals(
        &self,
        method: ::std::string::String,
        payload: ::std::vec::Vec<u8>,
        call: u32,
        content_type: u32,
        implementation: u32,
        value: u32,
        replies: u32,
        decoded: u32,
        error: u32,
    ) -> ::std::string::String;

    /// A result type.
    async fn fallible(&self, x: u32) -> ::std::result::Result<u32, ::std::string::String>;

    /// A map of results.
    #[remote(grouping = all, grouping_results = map, unavailable_value = ::std::collections::BTreeMap::new())]
    async fn everywhere(&self) -> u32;

    /// Bytes.
    #[remote(grouping_results = vector)]
    async fn bytes(&self, data: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8>;
}

struct Impl;

impl Hygienic for Impl {
    async fn locals(
        &self,
        method: ::std::string::String,
        payload: ::std::vec::Vec<u8>,
        call: u32,
        content_type: u32,
        implementation: u32,
        value: u32,
        replies: u32,
        decoded: u32,
        error: u32,
    ) -> ::std::string::String {
        let sum = call + content_type + implementation + value + replies + decoded + error;
        ::std::format!("{method}:{}:{sum}", payload.len())
    }
    /// A result type.
    async fn fallible(&self, x: u32) -> ::std::result::Result<u32, ::std::string::String> {
        ::std::result::Result::Ok(x)
    }
    async fn everywhere(&self) -> u32 {
        1
    }
    async fn bytes(&self, data: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8> {
        data
    }
}

#[derive(::std::clone::Clone)]
struct Loopback(::std::sync::Arc<HygienicServer<Impl>>);

impl ::slacker_core::Caller for Loopback {
    async fn call(
        &self,
        call: ::slacker_core::Call,
    ) -> ::slacker_core::Result<::slacker_core::Replies> {
        let handler = ::slacker_core::NamespaceService::dispatch(
            &*self.0,
            &call.function,
            call.content_type,
            call.payload,
        );
        let handler = match handler {
            ::std::result::Result::Ok(h) => h,
            ::std::result::Result::Err(e) => ::std::panic!("dispatch failed: {e:?}"),
        };
        let out = handler.await;
        ::std::result::Result::Ok(::slacker_core::Replies::One(::slacker_core::Reply {
            server: ::slacker_core::ServerAddr::new("hygiene:1"),
            result: ::std::result::Result::Ok(::slacker_core::Response {
                code: out.code,
                content_type: call.content_type,
                payload: out.payload,
            }),
        }))
    }
}

#[test]
fn generated_code_works_without_a_prelude() {
    let rt = ::tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(calls());
}

async fn calls() {
    let client = HygienicClient::new(Loopback(::std::sync::Arc::new(HygienicServer::new(Impl))));
    let got = client
        .locals(
            ::std::borrow::ToOwned::to_owned("m"),
            ::std::vec![1, 2],
            1,
            1,
            1,
            1,
            1,
            1,
            1,
        )
        .await;
    ::std::assert_eq!(got.expect("call"), "m:2:7");
    ::std::assert_eq!(
        client.fallible(4).await.expect("call"),
        ::std::result::Result::Ok(4)
    );
    ::std::assert_eq!(client.everywhere().await.expect("call").len(), 1);
    ::std::assert_eq!(
        client.bytes(::std::vec![7]).await.expect("call"),
        [::std::vec![7u8]]
    );
}
