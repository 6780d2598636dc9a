//! The point-to-point fixtures of slacker-core's tests: a hand-written `lab` namespace (what
//! `#[remote]` generates, written out so the core is tested without the macro), a typed stub
//! over any `Caller` ([`LabClient`]), a server hosting it ([`lab_server`]) and a frame-level
//! connection ([`Raw`]) for bytes no real client would send.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_bytes::ByteBuf;
use slacker_core::__private;
use slacker_core::codec::PacketCodec;
use slacker_core::protocol::{Malformed, Packet};
use slacker_core::{
    ArgInfo, CallOptions, Caller, ContentType, DispatchError, Error, HandlerFuture, MethodInfo,
    NamespaceInfo, NamespaceService, ResultsMode, Server, ServerOptions,
};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_util::codec::Framed;

const fn method(
    name: &'static str,
    args: &'static [ArgInfo],
    returns: &'static str,
    doc: &'static str,
) -> MethodInfo {
    MethodInfo {
        namespace: "lab",
        name,
        args,
        returns,
        doc,
        timeout: None,
        grouping: None,
        results: ResultsMode::Single,
        exceptions: None,
        has_unavailable_value: false,
        returns_unit: false,
        retries: 0,
    }
}

const AB: &[ArgInfo] = &[
    ArgInfo {
        name: "a",
        ty: "i64",
    },
    ArgInfo {
        name: "b",
        ty: "i64",
    },
];

pub static LAB_METHODS: [MethodInfo; 7] = [
    method("add", AB, "i64", "Adds two numbers."),
    method(
        "div",
        AB,
        "Result<i64, String>",
        "Integer division; dividing by zero is an application error.",
    ),
    method(
        "echo",
        &[ArgInfo {
            name: "data",
            ty: "Vec<u8>",
        }],
        "Vec<u8>",
        "Returns its argument.",
    ),
    method("boom", &[], "()", "Panics."),
    method("hold", &[], "u64", "Waits until the test opens the gate."),
    method("whoami", &[], "Whoami", "What the call context says."),
    method("count", &[], "u64", "Counts its runs."),
];

pub static LAB: NamespaceInfo = NamespaceInfo {
    name: "lab",
    doc: "A namespace for tests.",
    methods: &LAB_METHODS,
};

/// Observations of the `lab` handlers, shared with the test.
pub struct Probe {
    /// `hold` calls that started.
    pub started: AtomicUsize,
    /// `hold` calls whose future was dropped before finishing (aborted by the server).
    pub aborted: AtomicUsize,
    /// `count` calls that ran.
    pub ran: AtomicUsize,
    /// `hold` waits for a permit here.
    pub gate: Semaphore,
}

impl Default for Probe {
    fn default() -> Self {
        Self {
            started: AtomicUsize::new(0),
            aborted: AtomicUsize::new(0),
            ran: AtomicUsize::new(0),
            gate: Semaphore::new(0),
        }
    }
}

/// What `whoami` returns: the handler's view of `slacker_core::context::current()`.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Whoami {
    pub namespace: String,
    pub function: String,
    pub user: Option<String>,
    pub deadline_ms: Option<u64>,
    pub peer: String,
}

/// The hand-written equivalent of `LabServer<T>`.
#[derive(Clone, Default)]
pub struct Lab {
    pub probe: Arc<Probe>,
}

struct AbortWatch(Arc<Probe>, bool);

impl Drop for AbortWatch {
    fn drop(&mut self) {
        if !self.1 {
            self.0.aborted.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl NamespaceService for Lab {
    fn info(&self) -> &'static NamespaceInfo {
        &LAB
    }

    fn dispatch(
        &self,
        function: &str,
        ct: ContentType,
        payload: Bytes,
    ) -> Result<HandlerFuture, DispatchError> {
        let probe = self.probe.clone();
        Ok(match function {
            "add" => {
                let (a, b): (i64, i64) = __private::decode_args(ct, &payload, "i64, i64")?;
                Box::pin(async move { __private::output_value(ct, &a.wrapping_add(b)) })
            }
            "div" => {
                let (a, b): (i64, i64) = __private::decode_args(ct, &payload, "i64, i64")?;
                Box::pin(async move {
                    let r: Result<i64, String> = a
                        .checked_div(b)
                        .ok_or_else(|| "division by zero".to_owned());
                    __private::output_result(ct, &r)
                })
            }
            "echo" => {
                let (data,): (ByteBuf,) = __private::decode_args(ct, &payload, "Vec<u8>")?;
                Box::pin(async move { __private::output_value(ct, &data) })
            }
            "boom" => {
                let __private::NoArgs = __private::decode_args(ct, &payload, "")?;
                Box::pin(async move { panic!("boom on purpose") })
            }
            "hold" => {
                let __private::NoArgs = __private::decode_args(ct, &payload, "")?;
                Box::pin(async move {
                    let n = probe.started.fetch_add(1, Ordering::SeqCst) as u64;
                    let mut watch = AbortWatch(probe.clone(), false);
                    if let Ok(permit) = probe.gate.acquire().await {
                        permit.forget();
                    }
                    watch.1 = true;
                    __private::output_value(ct, &n)
                })
            }
            "whoami" => {
                let __private::NoArgs = __private::decode_args(ct, &payload, "")?;
                Box::pin(async move {
                    let ctx = slacker_core::context::current().expect("inside a handler");
                    let me = Whoami {
                        namespace: ctx.namespace().to_owned(),
                        function: ctx.function().to_owned(),
                        user: ctx.extensions().get_str("user").map(str::to_owned),
                        deadline_ms: ctx.deadline().map(|d| {
                            d.saturating_duration_since(std::time::Instant::now())
                                .as_millis() as u64
                        }),
                        peer: ctx.peer().to_string(),
                    };
                    __private::output_value(ct, &me)
                })
            }
            "count" => {
                let __private::NoArgs = __private::decode_args(ct, &payload, "")?;
                Box::pin(async move {
                    let n = probe.ran.fetch_add(1, Ordering::SeqCst) as u64 + 1;
                    __private::output_value(ct, &n)
                })
            }
            _ => return Err(DispatchError::UnknownFunction),
        })
    }
}

/// The hand-written equivalent of `LabClient<C>`.
#[derive(Clone)]
pub struct LabClient<C: Caller> {
    pub caller: C,
    pub options: CallOptions,
}

impl<C: Caller> LabClient<C> {
    pub fn new(caller: C) -> Self {
        Self {
            caller,
            options: CallOptions::default(),
        }
    }

    pub fn with_options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    async fn invoke<A: serde::Serialize, R>(
        &self,
        m: &'static MethodInfo,
        args: &A,
        decode: fn(&slacker_core::ServerAddr, slacker_core::Response) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let call = __private::build_call(&self.caller, m, args, &self.options)?;
        let merge = __private::Merge::new(&self.caller, &call, &self.options);
        let replies = self.caller.call(call).await?;
        __private::merge_single(&merge, __private::decode_all(&merge, replies, decode))
    }

    pub async fn add(&self, a: i64, b: i64) -> Result<i64, Error> {
        self.invoke(&LAB_METHODS[0], &(a, b), __private::decode_plain::<i64>)
            .await
    }

    pub async fn div(&self, a: i64, b: i64) -> Result<Result<i64, String>, Error> {
        self.invoke(
            &LAB_METHODS[1],
            &(a, b),
            __private::decode_result::<i64, String>,
        )
        .await
    }

    pub async fn echo(&self, data: Vec<u8>) -> Result<Vec<u8>, Error> {
        let r: ByteBuf = self
            .invoke(
                &LAB_METHODS[2],
                &(ByteBuf::from(data),),
                __private::decode_plain::<ByteBuf>,
            )
            .await?;
        Ok(r.into_vec())
    }

    pub async fn boom(&self) -> Result<(), Error> {
        self.invoke(
            &LAB_METHODS[3],
            &__private::NoArgs,
            __private::decode_plain::<()>,
        )
        .await
    }

    pub async fn hold(&self) -> Result<u64, Error> {
        self.invoke(
            &LAB_METHODS[4],
            &__private::NoArgs,
            __private::decode_plain::<u64>,
        )
        .await
    }

    pub async fn whoami(&self) -> Result<Whoami, Error> {
        self.invoke(
            &LAB_METHODS[5],
            &__private::NoArgs,
            __private::decode_plain::<Whoami>,
        )
        .await
    }

    pub async fn count(&self) -> Result<u64, Error> {
        self.invoke(
            &LAB_METHODS[6],
            &__private::NoArgs,
            __private::decode_plain::<u64>,
        )
        .await
    }
}

/// A server hosting `lab` on a free loopback port.
pub async fn lab_server(options: ServerOptions) -> (Server, Arc<Probe>) {
    let lab = Lab::default();
    let probe = lab.probe.clone();
    let server = Server::builder()
        .service(lab)
        .options(options)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    (server, probe)
}

use crate::within;

/// A frame-level connection, for feeding a server bytes no real client would send.
pub struct Raw(pub Framed<TcpStream, PacketCodec>);

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).await.expect("connect");
        Self(Framed::new(s, PacketCodec::default()))
    }

    pub async fn send(&mut self, p: Packet) {
        self.0.send(p).await.expect("send");
    }

    pub async fn next(&mut self) -> Option<Result<Packet, Malformed>> {
        within("raw read", self.0.next())
            .await
            .map(|r| r.expect("io"))
    }
}
