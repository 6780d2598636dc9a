//! End to end without sockets: generated client stub -> `Caller` double -> generated server's
//! `NamespaceService::dispatch` -> handler -> encoded reply -> stub decoding.

mod support;

use serde::{Deserialize, Serialize};
use slacker_core::{remote, ContentType, Error, NamespaceService, ResultCode};
use support::Fanout;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MathError {
    DivideByZero,
    Overflow { at: u64 },
}

/// Arithmetic over the wire.
#[remote(namespace = "test.calc")]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn div(&self, a: u64, b: u64) -> Result<u64, MathError>;
    async fn version(&self) -> String;
    async fn reset(&self);
    async fn mirror(&self, p: Point, label: String) -> (Point, String);
    #[remote(name = "sum-all")]
    async fn sum(&self, xs: Vec<i64>) -> i64;
    async fn reverse(&self, data: Vec<u8>) -> Vec<u8>;
    async fn checked(&self, data: Vec<u8>) -> Result<Vec<u8>, String>;
}

pub struct CalcImpl;

impl Calc for CalcImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn div(&self, a: u64, b: u64) -> Result<u64, MathError> {
        if b == 0 {
            return Err(MathError::DivideByZero);
        }
        Ok(a / b)
    }
    async fn version(&self) -> String {
        "1.0".into()
    }
    async fn reset(&self) {}
    async fn mirror(&self, p: Point, label: String) -> (Point, String) {
        (Point { x: p.y, y: p.x }, label.to_uppercase())
    }
    async fn sum(&self, xs: Vec<i64>) -> i64 {
        xs.iter().sum()
    }
    async fn reverse(&self, mut data: Vec<u8>) -> Vec<u8> {
        data.reverse();
        data
    }
    async fn checked(&self, data: Vec<u8>) -> Result<Vec<u8>, String> {
        if data.is_empty() {
            Err("empty".into())
        } else {
            Ok(data)
        }
    }
}

fn client() -> (CalcClient<Fanout>, Fanout) {
    let caller = Fanout::loopback(CalcServer::new(CalcImpl));
    (CalcClient::new(caller.clone()), caller)
}

#[tokio::test]
async fn plain_values_round_trip_in_both_content_types() {
    for caller in [
        Fanout::loopback(CalcServer::new(CalcImpl)),
        Fanout::loopback(CalcServer::new(CalcImpl)).json(),
    ] {
        let calc = CalcClient::new(caller);
        assert_eq!(calc.add(2, 40).await.expect("add"), 42);
        assert_eq!(calc.version().await.expect("version"), "1.0");
        calc.reset().await.expect("reset");
        let (p, label) = calc
            .mirror(Point { x: 1, y: 2 }, "hi".into())
            .await
            .expect("mirror");
        assert_eq!((p, label.as_str()), (Point { x: 2, y: 1 }, "HI"));
        assert_eq!(calc.sum(vec![1, 2, 3]).await.expect("sum"), 6);
        assert_eq!(
            calc.reverse(vec![1, 2, 3]).await.expect("reverse"),
            [3, 2, 1]
        );
    }
}

#[tokio::test]
async fn application_errors_reach_the_client_typed() {
    let (calc, _) = client();
    assert_eq!(calc.div(10, 3).await.expect("transport"), Ok(3));
    assert_eq!(
        calc.div(1, 0).await.expect("transport"),
        Err(MathError::DivideByZero)
    );
    assert_eq!(calc.checked(vec![9]).await.expect("transport"), Ok(vec![9]));
    assert_eq!(
        calc.checked(vec![]).await.expect("transport"),
        Err("empty".to_owned())
    );
}

#[tokio::test]
async fn calls_use_the_remote_name_and_describe_themselves() {
    let (calc, caller) = client();
    calc.sum(vec![]).await.expect("sum");
    let sent = caller.last_sent();
    assert_eq!(sent.namespace, "test.calc");
    assert_eq!(sent.function, "sum-all");
    let method = sent.method.expect("stubs attach their MethodInfo");
    assert_eq!(method.args[0].name, "xs");
    assert_eq!(method.args[0].ty, "Vec<i64>");
    assert_eq!(method.returns, "i64");

    let info = CalcServer::new(CalcImpl).info();
    assert!(std::ptr::eq(info, &CALC_NAMESPACE));
    assert_eq!(info.name, "test.calc");
    assert_eq!(info.doc, "Arithmetic over the wire.");
    let names: Vec<_> = info.methods.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        ["add", "div", "version", "reset", "mirror", "sum-all", "reverse", "checked"]
    );
    assert_eq!(info.method("add").expect("add").doc, "Adds two numbers.");
    assert_eq!(
        info.method("div").expect("div").returns,
        "Result<u64, MathError>"
    );
    assert_eq!(info.method("reset").expect("reset").returns, "()");
}

#[tokio::test]
async fn byte_vectors_travel_as_msgpack_bin() {
    let (calc, caller) = client();
    let data = vec![0xA5u8; 4096];
    let back = calc.reverse(data.clone()).await.expect("reverse");
    assert_eq!(back, data);
    let sent = caller.last_sent();
    // A one-element array (1 byte) holding bin16 (3 bytes of header) + the raw 4096 bytes.
    // As an array of integers it would be ~8 KiB (0xA5 needs the 2-byte u8 encoding).
    assert_eq!(sent.payload.len(), 1 + 3 + 4096);
    assert_eq!(&sent.payload[..2], &[0x91, 0xc5]);

    let server = CalcServer::new(CalcImpl);
    let handler = server
        .dispatch("reverse", ContentType::MessagePack, sent.payload.clone())
        .expect("dispatch");
    let out = handler.await;
    assert_eq!(out.code, ResultCode::Success);
    assert_eq!(out.payload.len(), 3 + 4096);
    assert_eq!(out.payload[0], 0xc5);
}

/// A client-side view of `test.calc` that disagrees with the server about names and types.
#[remote(namespace = "test.calc")]
pub trait CalcSkewed {
    #[remote(name = "no-such-function")]
    async fn missing(&self) -> i64;
    #[remote(name = "add")]
    async fn add_strings(&self, a: String, b: String) -> String;
    #[remote(name = "version")]
    async fn version_as_number(&self) -> u64;
}

#[tokio::test]
async fn unknown_functions_and_bad_arguments_are_typed_remote_errors() {
    let skewed = CalcSkewedClient::new(Fanout::loopback(CalcServer::new(CalcImpl)));
    let err = skewed.missing().await.expect_err("unknown function");
    assert_eq!(err.code(), Some(ResultCode::UnknownFunction), "{err}");

    let err = skewed
        .add_strings("a".into(), "b".into())
        .await
        .expect_err("bad arguments");
    assert_eq!(err.code(), Some(ResultCode::BadArguments), "{err}");
    assert!(err.to_string().contains("a: i64, b: i64"), "{err}");

    let err = skewed
        .version_as_number()
        .await
        .expect_err("wrong result type");
    assert!(
        matches!(
            err,
            Error::Codec {
                server: Some(_),
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn zero_argument_methods_reject_extra_arguments() {
    let server = CalcServer::new(CalcImpl);
    let payload =
        slacker_core::serialization::encode(ContentType::MessagePack, &(1u8,)).expect("encode");
    let err = server
        .dispatch("version", ContentType::MessagePack, payload)
        .err()
        .expect("bad arguments");
    assert!(matches!(err, slacker_core::DispatchError::BadArguments(_)));
}

#[tokio::test]
async fn stub_futures_are_send_and_clients_clone() {
    let (calc, _) = client();
    let calc2 = calc.clone().with_options(slacker_core::CallOptions::new());
    let handle = tokio::spawn(async move { calc2.add(1, 1).await });
    assert_eq!(handle.await.expect("join").expect("add"), 2);
    assert_eq!(calc.add(1, 2).await.expect("add"), 3);
}

/// Not a test of speed (nothing is asserted about time): what the generated code costs per call
/// without any transport (encode args, dispatch, decode args, run, encode result, decode).
/// Run with `cargo test --release -p slacker-macros --test loopback -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn measure_stub_and_dispatch_in_process() {
    let (calc, caller) = client();
    let n = 200_000u32;
    let start = std::time::Instant::now();
    for i in 0..n {
        let _ = calc.add(i64::from(i), 1).await.expect("add");
        if i % 1000 == 0 {
            caller.sent.lock().expect("lock").clear();
        }
    }
    println!("add(i64, i64): {:?} per call", start.elapsed() / n);
    let data = vec![1u8; 4096];
    let start = std::time::Instant::now();
    for i in 0..n / 10 {
        let _ = calc.reverse(data.clone()).await.expect("reverse");
        if i % 1000 == 0 {
            caller.sent.lock().expect("lock").clear();
        }
    }
    println!(
        "reverse(4 KiB Vec<u8>): {:?} per call",
        start.elapsed() / (n / 10)
    );
}
