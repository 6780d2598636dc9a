//! The `#[remote]` attribute of slacker. Use it through `slacker_core::remote`; generated code
//! refers to `::slacker_core`, so depend on that crate under its own name.
//!
//! Inside: `attr.rs` parses the attribute's arguments, `ast.rs` builds a model from `syn`,
//! `valid.rs` holds every rule a trait must follow, `names.rs` derives every generated name, and
//! `expand/` emits the statics (`messages.rs`), the server (`server.rs`) and the client stub
//! (`client.rs`).

mod ast;
mod attr;
mod ctxt;
mod expand;
mod names;
mod valid;

use proc_macro::TokenStream;

/// Turns a trait into a slacker namespace: a server-side dispatch table and a typed client stub.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use slacker_core::{remote, Caller, Error};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// pub enum MathError {
///     DivideByZero,
/// }
///
/// /// Arithmetic over the wire.
/// #[remote(namespace = "example.calc")]
/// pub trait Calculator {
///     /// Adds two numbers.
///     async fn add(&self, a: i64, b: i64) -> i64;
///
///     /// `Err` reaches the client typed, as an application error.
///     #[remote(timeout_ms = 500, idempotent)]
///     async fn div(&self, a: i64, b: i64) -> Result<i64, MathError>;
///
///     /// Asks every server of the namespace; one answer per server.
///     #[remote(grouping = all, grouping_results = vector)]
///     async fn uptime(&self) -> u64;
/// }
///
/// struct Calc;
///
/// impl Calculator for Calc {
///     async fn add(&self, a: i64, b: i64) -> i64 {
///         a + b
///     }
///     async fn div(&self, a: i64, b: i64) -> Result<i64, MathError> {
///         a.checked_div(b).ok_or(MathError::DivideByZero)
///     }
///     async fn uptime(&self) -> u64 {
///         42
///     }
/// }
///
/// // Server side: hand this to a slacker server (any number of namespaces per port).
/// let service = CalculatorServer::new(Calc);
///
/// // Client side: any `Caller` (a point-to-point client, a cluster client, a test double).
/// async fn use_it<C: Caller>(calc: CalculatorClient<C>) -> Result<(), Error> {
///     let sum: i64 = calc.add(1, 2).await?;
///     match calc.div(sum, 0).await? {
///         Ok(q) => println!("quotient {q}"),
///         Err(MathError::DivideByZero) => println!("typed application error"),
///     }
///     let uptimes: Vec<u64> = calc.uptime().await?;
///     # let _ = uptimes;
///     Ok(())
/// }
/// # let _ = (service, use_it::<CalcCallerForDocs>);
/// # #[derive(Clone)] struct CalcCallerForDocs;
/// # impl Caller for CalcCallerForDocs {
/// #     async fn call(&self, _: slacker_core::Call) -> slacker_core::Result<slacker_core::Replies> {
/// #         Err(Error::Closed)
/// #     }
/// # }
/// ```
///
/// # What it generates
///
/// For `#[remote(namespace = "ns")] pub trait Foo { ... }`, next to each other and with the
/// trait's visibility:
///
/// * **The trait `Foo`**, with `Send + Sync + 'static` supertraits and each
///   `async fn m(&self, ..) -> R` rewritten as
///   `fn m(&self, ..) -> impl Future<Output = R> + Send`. Implementations still write
///   `async fn`; their futures must be `Send` (the server runs them on a multi-threaded runtime).
///   Methods may have default bodies.
/// * **`FOO_NAMESPACE: slacker_core::NamespaceInfo`**, a `static` describing the namespace: its
///   name, the trait's doc comment and one `MethodInfo` per method (remote name, argument names
///   and types and return type as written, doc comment, options). Servers use it for `inspect`
///   and cluster registration; clients for per-method timeouts, grouping and retries.
/// * **`FooServer<T: Foo>`**: `FooServer::new(implementation)` (or `from_arc`), `Clone`, and
///   `impl slacker_core::NamespaceService`. `dispatch` matches the remote name, decodes the argument
///   tuple before anything runs (undecodable arguments are answered `BadArguments`, an unknown
///   name `UnknownFunction`) and returns the handler future, which encodes the return value.
/// * **`FooClient<C: Caller>`**: `FooClient::new(caller)`, `.with_options(CallOptions)` (per
///   client options that override each method's timeout and grouping), `.caller()`, `Clone`,
///   and one method per trait method with the same name and arguments, returning a `Send`
///   future to `.await` (`fn m(&self, ..) -> impl Future<Output = Result<Out, Error>> + Send`;
///   the arguments are encoded when it is called, nothing is sent until it is polled).
///
/// Each client method returns `Result<Out, slacker_core::Error>`: the outer error is the
/// transport's (timeout, connection, remote code...), and `Out` depends on `grouping_results`,
/// with `R` the declared return type:
///
/// | `grouping_results` | `Out` | for a call answered by several servers |
/// |---|---|---|
/// | `single` (default) | `R` | the first success in target order |
/// | `vector` | `Vec<R>` | every success, in target order |
/// | `map` | `BTreeMap<String, R>` | keyed by server address |
/// | `nil` | `()` | nothing, once the exceptions policy is satisfied |
/// | `path::to::merge` | `R` | `merge(Vec<(ServerAddr, R)>) -> R` |
///
/// A method declared `-> Result<T, E>` keeps `E` typed: the server sends `Err(e)` as an
/// application error and the client returns `Ok(Err(e))`. (A one-parameter alias such as
/// `io::Result<T>` is not recognized and travels as a plain value.)
///
/// # On the wire
///
/// Arguments travel as one tuple (an array; an empty one for no arguments) in the caller's
/// content type, MessagePack by default. `Vec<u8>` arguments and results (and the `T` of
/// `Result<T, E>`) travel as MessagePack `bin` (raw bytes), not as an array of integers;
/// `bytes::Bytes` and `serde_bytes::ByteBuf` do too. A `Vec<u8>` nested in another type
/// (`Option<Vec<u8>>`, a struct field) follows its own serde impl: use `Bytes` or
/// `#[serde(with = "serde_bytes")]` there. Argument and result types must implement `serde::Serialize` and
/// `serde::de::DeserializeOwned`, and be `Send + 'static`.
///
/// # Options
///
/// On the trait: `namespace = "..."` (required; no `/`).
///
/// On a method, in one or several `#[remote(...)]` attributes (each option at most once; the
/// trait's attribute reads and removes them, so they need no import):
///
/// | option | meaning |
/// |---|---|
/// | `name = "..."` | remote function name (default: the Rust name) |
/// | `timeout_ms = N` | default deadline for this method |
/// | `grouping = mode` | which servers a cluster client calls: `p2c` (the default), `random`, `first`, `leader`, `all`, `least_in_flight`, `round_robin`, `weighted`, or a path to `fn(&GroupingInput<'_>) -> Selection` |
/// | `grouping_results = mode` | see the table above |
/// | `grouping_exceptions = mode` | when a multi-server call fails: `all` (default: only if every server failed), `any`, or a path to `fn(&GroupOutcome<'_>) -> Result<(), Error>` |
/// | `unavailable_value = expr` | returned as `Ok(expr)` (an `Out`) when no server offers the namespace |
/// | `idempotent` | connection failures may be retried on another server (twice) |
/// | `retries = N` | like `idempotent`, N times |
///
/// A function whose name is also a mode keyword is reached with a longer path:
/// `grouping = self::first`.
///
/// # Compile errors
///
/// Each problem is reported once, on the offending token, and the trait is still emitted as
/// written so that code using it adds no secondary errors. Rejected: a missing namespace;
/// unknown, duplicate or malformed options; generic traits and associated items other than
/// methods; methods that are not `async fn`, are generic, do not take `&self` (`self`,
/// `&mut self`, none), take patterns, references or `impl Trait` as arguments, are named like a
/// client method (`new`, `with_options`, `caller`, `clone`), or share a remote name with another method.
#[proc_macro_attribute]
pub fn remote(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(args.into(), item.into()).into()
}
