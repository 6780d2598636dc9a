//! Echo benchmark: slacker vs tarpc vs a strong hand-written raw tokio + u32-prefix + rmp-serde echo.
//!
//! Every server runs in its own process (this binary, `server` subcommand); the load generator
//! runs here with one TCP connection and N concurrent callers. For each system, payload size and
//! concurrency it reports calls/s, p50/p99 latency and the server's CPU time per call (read from
//! `/proc/<pid>/stat`, so the cost of a cheap client cannot flatter the server), and this
//! process's CPU time per call (the client plus the load loop, which is the same for every
//! system): on this shared machine CPU per call varies far less between runs than calls/s.
//!
//! ```text
//! cargo bench -p slacker-tests --bench echo -- run --seconds 5
//! ```
//! `--only slacker,slacker-info,slacker-base --baseline OTHER_BUILD/echo` compares the server
//! without a subscriber, with one at INFO, and another build's server (the cost of a change on
//! the server; a client-side change is compared by running the two builds' `run` in turn).
//! Results are written down in BENCHMARKS.md.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use serde_bytes::ByteBuf;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Counts what this process allocates, so each cell can report bytes and allocations per call
/// in the client and (asked over its stdin) in the server.
struct Counting;

static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the counters are relaxed
// atomics with no effect on the memory handed out.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCATED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `System` through this allocator.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        ALLOCATED_BYTES.fetch_add(
            new_size.saturating_sub(layout.size()) as u64,
            Ordering::Relaxed,
        );
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes and allocations so far in this process.
fn allocated() -> (u64, u64) {
    (
        ALLOCATED_BYTES.load(Ordering::Relaxed),
        ALLOCATIONS.load(Ordering::Relaxed),
    )
}

const SIZES: [usize; 2] = [16, 4096];
const CONCURRENCY: [usize; 3] = [1, 32, 256];

// ---------------------------------------------------------------------------------- systems

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Raw,
    Tarpc,
    Slacker,
    /// slacker's server with a `tracing` subscriber at INFO (events recorded, written nowhere;
    /// the per-request spans are at DEBUG, so off).
    SlackerInfo,
    /// The same subscriber at DEBUG: every request's span recorded and formatted.
    SlackerDebug,
    /// slacker's server from another build (`--baseline PATH`: that build's `echo` binary).
    SlackerBase,
}

impl Kind {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "raw" => Some(Self::Raw),
            "tarpc" => Some(Self::Tarpc),
            "slacker" => Some(Self::Slacker),
            "slacker-info" => Some(Self::SlackerInfo),
            "slacker-debug" => Some(Self::SlackerDebug),
            "slacker-base" => Some(Self::SlackerBase),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Tarpc => "tarpc",
            Self::Slacker => "slacker",
            Self::SlackerInfo => "slacker-info",
            Self::SlackerDebug => "slacker-debug",
            Self::SlackerBase => "slacker-base",
        }
    }
    /// The client side speaks slacker for every slacker variant.
    fn protocol(self) -> Self {
        match self {
            Self::SlackerInfo | Self::SlackerDebug | Self::SlackerBase => Self::Slacker,
            k => k,
        }
    }
}

#[tarpc::service]
trait TarpcEcho {
    async fn echo(data: ByteBuf) -> ByteBuf;
}

#[derive(Clone)]
struct TarpcEchoServer;

impl TarpcEcho for TarpcEchoServer {
    async fn echo(self, _: tarpc::context::Context, data: ByteBuf) -> ByteBuf {
        data
    }
}

/// The slacker echo service.
#[slacker_core::remote(namespace = "bench")]
pub trait Echo {
    /// Returns its argument.
    async fn echo(&self, data: Vec<u8>) -> Vec<u8>;
}

struct EchoImpl;

impl Echo for EchoImpl {
    async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

async fn serve(kind: Kind) -> Result<(), BoxError> {
    // Each line on stdin is answered with this process's allocation counters (the bench reads
    // them before and after each cell); stdin closing ends the server.
    std::thread::spawn(|| {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
            let (bytes, count) = allocated();
            println!("ALLOC {bytes} {count}");
        }
        std::process::exit(0);
    });
    match kind {
        Kind::Raw => {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            println!("LISTENING {}", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                stream.set_nodelay(true)?;
                tokio::spawn(raw_connection(stream));
            }
        }
        Kind::Tarpc => {
            use tarpc::server::{BaseChannel, Channel};
            use tarpc::tokio_serde::formats::Bincode;
            let mut incoming =
                tarpc::serde_transport::tcp::listen("127.0.0.1:0", Bincode::default).await?;
            incoming.config_mut().max_frame_length(usize::MAX);
            println!("LISTENING {}", incoming.local_addr());
            while let Some(transport) = incoming.next().await {
                let Ok(transport) = transport else { continue };
                tokio::spawn(
                    BaseChannel::with_defaults(transport)
                        .execute(TarpcEchoServer.serve())
                        .for_each(|f| async move {
                            tokio::spawn(f);
                        }),
                );
            }
            Ok(())
        }
        Kind::SlackerBase => Err("slacker-base is served by the --baseline binary".into()),
        Kind::SlackerInfo | Kind::SlackerDebug | Kind::Slacker => {
            if kind != Kind::Slacker {
                let level = if kind == Kind::SlackerInfo {
                    "info"
                } else {
                    "debug"
                };
                // Spans and events at INFO go through a real subscriber (formatted without
                // terminal colours, as for a log file, then written to a sink): the cost of
                // observability as a user would switch it on.
                tracing_subscriber::fmt()
                    .with_env_filter(tracing_subscriber::EnvFilter::new(level))
                    .with_ansi(false)
                    .with_writer(std::io::sink)
                    .init();
            }
            let server = slacker_core::Server::builder()
                .service(EchoServer::new(EchoImpl))
                .bind("127.0.0.1:0")
                .await?;
            println!("LISTENING {}", server.local_addr());
            futures::future::pending::<()>().await;
            Ok(())
        }
    }
}

/// The raw echo, the strong hand-written ceiling: `[u32 len][u64 id][msgpack bin]` frames. Each
/// read goes into a 64 KiB buffer, every complete frame in it is decoded in place (the payload
/// borrowed, not copied) and answered inline into one output buffer, and the whole batch goes
/// out in **one write per read**.
async fn raw_connection(stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        while let Some(frame) = next_frame(&mut buf) {
            if !raw_echo(&frame[4..], &mut out) {
                return;
            }
        }
        if !out.is_empty() {
            if wr.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

/// The next complete `[u32 len][body]` frame at the front of `buf`, prefix included; `None` (with
/// room reserved for the rest) when it is not all there yet.
fn next_frame(buf: &mut BytesMut) -> Option<BytesMut> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return None;
    }
    Some(buf.split_to(4 + len))
}

/// Appends the answer to one `[u64 id][msgpack bin]` request to `out`, length prefix included.
fn raw_echo(frame: &[u8], out: &mut Vec<u8>) -> bool {
    let Some((id, body)) = frame.split_at_checked(8) else {
        return false;
    };
    let Ok(data) = rmp_serde::from_slice::<&serde_bytes::Bytes>(body) else {
        return false;
    };
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(id);
    if rmp_serde::encode::write(out, data).is_err() {
        return false;
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    true
}

// ---------------------------------------------------------------------------------- clients

#[derive(Clone)]
enum Conn {
    Raw(RawClient),
    Tarpc(TarpcEchoClient),
    Slacker(EchoClient<slacker_core::Client>),
}

impl Conn {
    async fn connect(kind: Kind, addr: SocketAddr) -> Result<Self, BoxError> {
        Ok(match kind {
            Kind::Raw => Self::Raw(RawClient::connect(addr).await?),
            Kind::Tarpc => {
                use tarpc::tokio_serde::formats::Bincode;
                let mut connect = tarpc::serde_transport::tcp::connect(addr, Bincode::default);
                connect.config_mut().max_frame_length(usize::MAX);
                let transport = connect.await?;
                let mut config = tarpc::client::Config::default();
                config.max_in_flight_requests = 10_000;
                config.pending_request_buffer = 1_000;
                Self::Tarpc(TarpcEchoClient::new(config, transport).spawn())
            }
            Kind::Slacker | Kind::SlackerInfo | Kind::SlackerDebug | Kind::SlackerBase => {
                let client = slacker_core::Client::connect(
                    addr.to_string(),
                    slacker_core::ClientOptions::default(),
                )
                .await?;
                Self::Slacker(EchoClient::new(client))
            }
        })
    }

    async fn echo(&self, data: &[u8]) -> Result<usize, BoxError> {
        Ok(match self {
            Self::Raw(c) => c.echo(data).await?,
            Self::Tarpc(c) => {
                let mut ctx = tarpc::context::current();
                ctx.deadline = Instant::now() + Duration::from_secs(30);
                c.echo(ctx, ByteBuf::from(data.to_vec())).await?.len()
            }
            Self::Slacker(c) => c.echo(data.to_vec()).await?.len(),
        })
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Bytes>>>>;

/// A multiplexed raw client: one writer task, one reader task, a pending map by id.
#[derive(Clone)]
struct RawClient {
    tx: mpsc::Sender<Bytes>,
    pending: Pending,
    next: Arc<AtomicU64>,
}

impl RawClient {
    /// One writer task coalescing every queued frame into one write, one reader task reading
    /// 64 KiB at a time and completing every answered caller in it.
    async fn connect(addr: SocketAddr) -> Result<Self, BoxError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
        tokio::spawn(async move {
            let mut out = Vec::with_capacity(64 * 1024);
            while let Some(frame) = rx.recv().await {
                out.extend_from_slice(&frame);
                while let Ok(frame) = rx.try_recv() {
                    out.extend_from_slice(&frame);
                }
                if wr.write_all(&out).await.is_err() {
                    return;
                }
                out.clear();
            }
        });
        let pending: Pending = Arc::default();
        let reader_pending = pending.clone();
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(64 * 1024);
            loop {
                if buf.capacity() - buf.len() < 16 * 1024 {
                    buf.reserve(64 * 1024);
                }
                match rd.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                while let Some(frame) = next_frame(&mut buf) {
                    let frame = frame.freeze();
                    let Some(id) = frame.get(4..12).and_then(|b| b.try_into().ok()) else {
                        return;
                    };
                    let waiter = reader_pending
                        .lock()
                        .ok()
                        .and_then(|mut p| p.remove(&u64::from_be_bytes(id)));
                    if let Some(w) = waiter {
                        let _ = w.send(frame.slice(12..));
                    }
                }
            }
        });
        Ok(Self {
            tx,
            pending,
            next: Arc::new(AtomicU64::new(1)),
        })
    }

    async fn echo(&self, data: &[u8]) -> Result<usize, BoxError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut out = BytesMut::with_capacity(4 + 8 + data.len() + 5).writer();
        out.get_mut().put_u32(0);
        out.get_mut().put_u64(id);
        rmp_serde::encode::write(&mut out, serde_bytes::Bytes::new(data))?;
        let mut out = out.into_inner();
        let len = (out.len() - 4) as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        let out = out.writer();
        let (done, wait) = oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| "poisoned")?
            .insert(id, done);
        self.tx.send(out.into_inner().freeze()).await?;
        let body = wait.await?;
        let back: ByteBuf = rmp_serde::from_slice(&body)?;
        Ok(back.len())
    }
}

// ---------------------------------------------------------------------------------- driver

struct Sample {
    calls: u64,
    errors: u64,
    elapsed: Duration,
    hist: hdrhistogram::Histogram<u64>,
}

/// `concurrency` closed-loop callers spread round robin over `conns`, for `seconds`.
async fn load(
    conns: &[Conn],
    size: usize,
    concurrency: usize,
    seconds: f64,
) -> Result<Sample, BoxError> {
    let payload: Arc<[u8]> = vec![0xAB; size].into();
    // Warm up.
    for conn in conns {
        for _ in 0..200 {
            conn.echo(&payload).await?;
        }
    }
    let stop = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let conn = conns[i % conns.len()].clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = hdrhistogram::Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
            let (mut calls, mut errors) = (0u64, 0u64);
            while Instant::now() < stop {
                let t = Instant::now();
                match conn.echo(&payload).await {
                    Ok(n) if n == payload.len() => calls += 1,
                    _ => errors += 1,
                }
                let _ = hist.record(t.elapsed().as_micros() as u64);
            }
            Ok::<_, String>((calls, errors, hist))
        }));
    }
    let mut hist = hdrhistogram::Histogram::<u64>::new(3)?;
    let (mut calls, mut errors) = (0, 0);
    for t in tasks {
        let (c, e, h) = t.await??;
        calls += c;
        errors += e;
        hist.add(h)?;
    }
    Ok(Sample {
        calls,
        errors,
        elapsed: start.elapsed(),
        hist,
    })
}

fn cpu_micros(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks; USER_HZ is 100 on every mainstream configuration.
    Some((utime + stime) * 10_000)
}

/// What `run` measures.
struct Plan {
    kinds: Vec<Kind>,
    seconds: f64,
    baseline: Option<String>,
    /// (payload bytes, concurrency) cells; all of SIZES x CONCURRENCY by default.
    cells: Vec<(usize, usize)>,
    /// TCP connections per cell (callers spread over them round robin).
    connections: usize,
}

/// A line the server answers on its stdout: `ALLOC bytes count`.
async fn server_allocated(
    stdin: &mut tokio::process::ChildStdin,
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Option<(u64, u64)> {
    use tokio::io::AsyncWriteExt;
    stdin.write_all(b"\n").await.ok()?;
    // A server built before the counters existed never answers.
    let answer = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let line = lines.next_line().await.ok()??;
            if let Some(rest) = line.strip_prefix("ALLOC ") {
                let (b, c) = rest.split_once(' ')?;
                return Some((b.parse().ok()?, c.parse().ok()?));
            }
        }
    });
    answer.await.ok()?
}

async fn run(plan: Plan) -> Result<(), BoxError> {
    let Plan {
        kinds,
        seconds,
        baseline,
        cells,
        connections,
    } = plan;
    let own = std::env::current_exe()?;
    println!("connections: {connections}");
    println!("| system | payload | concurrency | calls/s | p50 µs | p99 µs | server CPU µs/call | client CPU µs/call | server B/call | server allocs/call | client B/call | client allocs/call | errors |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut results: HashMap<(&'static str, usize, usize), f64> = HashMap::new();
    for kind in kinds {
        let (exe, served) = match (kind, &baseline) {
            (Kind::SlackerBase, Some(path)) => (std::path::PathBuf::from(path), "slacker"),
            (Kind::SlackerBase, None) => return Err("slacker-base needs --baseline PATH".into()),
            _ => (own.clone(), kind.name()),
        };
        let mut child = tokio::process::Command::new(&exe)
            .args(["server", served])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().ok_or("server exited")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr: SocketAddr = loop {
            let line = lines
                .next_line()
                .await?
                .ok_or("server exited before listening")?;
            if let Some(a) = line.strip_prefix("LISTENING ") {
                break a.parse()?;
            }
        };
        for &(size, concurrency) in &cells {
            let mut conns = Vec::new();
            for _ in 0..connections {
                conns.push(Conn::connect(kind.protocol(), addr).await?);
            }
            let cpu0 = cpu_micros(pid).unwrap_or(0);
            let own0 = cpu_micros(std::process::id()).unwrap_or(0);
            let server0 = server_allocated(&mut stdin, &mut lines).await;
            let client0 = allocated();
            let s = load(&conns, size, concurrency, seconds).await?;
            let client1 = allocated();
            let server1 = server_allocated(&mut stdin, &mut lines).await;
            let cpu1 = cpu_micros(pid).unwrap_or(0);
            let own1 = cpu_micros(std::process::id()).unwrap_or(0);
            let rate = s.calls as f64 / s.elapsed.as_secs_f64();
            results.insert((kind.name(), size, concurrency), rate);
            // Warm-up calls are included in the allocation window; they are 200 per
            // connection against hundreds of thousands measured.
            let per_call = |before: (u64, u64), after: (u64, u64)| {
                let calls = s.calls.max(1) as f64;
                (
                    after.0.saturating_sub(before.0) as f64 / calls,
                    after.1.saturating_sub(before.1) as f64 / calls,
                )
            };
            let (sb, sa) = match (server0, server1) {
                (Some(a), Some(b)) => per_call(a, b),
                _ => (f64::NAN, f64::NAN),
            };
            let (cb, ca) = per_call(client0, client1);
            println!(
                "| {} | {} B | {} | {:.0} | {} | {} | {:.1} | {:.1} | {:.0} | {:.1} | {:.0} | {:.1} | {} |",
                kind.name(),
                size,
                concurrency,
                rate,
                s.hist.value_at_quantile(0.5),
                s.hist.value_at_quantile(0.99),
                (cpu1.saturating_sub(cpu0)) as f64 / s.calls.max(1) as f64,
                (own1.saturating_sub(own0)) as f64 / s.calls.max(1) as f64,
                sb,
                sa,
                cb,
                ca,
                s.errors
            );
        }
        drop(stdin);
        child.kill().await?;
    }
    println!();
    for &(size, concurrency) in &cells {
        let get = |k| results.get(&(k, size, concurrency)).copied();
        let Some(s) = get("slacker") else { continue };
        let mut ratios = Vec::new();
        for other in [
            "raw",
            "tarpc",
            "slacker-base",
            "slacker-info",
            "slacker-debug",
        ] {
            if let Some(o) = get(other) {
                ratios.push(format!("slacker/{other} {:.2}", s / o));
            }
        }
        println!("ratio {size} B c={concurrency}: {}", ratios.join(", "));
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    // `cargo bench` appends `--bench`; ignore it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("server") => {
            let kind = args
                .get(1)
                .and_then(|k| Kind::parse(k))
                .ok_or("server raw|tarpc|slacker")?;
            rt.block_on(serve(kind))
        }
        Some("run") => {
            let mut plan = Plan {
                kinds: vec![Kind::Raw, Kind::Tarpc, Kind::Slacker],
                seconds: 5.0,
                baseline: None,
                cells: SIZES
                    .iter()
                    .flat_map(|&s| CONCURRENCY.iter().map(move |&c| (s, c)))
                    .collect(),
                connections: 1,
            };
            let mut it = args.iter().skip(1);
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--seconds" => plan.seconds = it.next().ok_or("--seconds N")?.parse()?,
                    "--baseline" => {
                        plan.baseline = Some(it.next().ok_or("--baseline PATH")?.clone())
                    }
                    "--connections" => {
                        plan.connections = it.next().ok_or("--connections N")?.parse()?;
                        if plan.connections == 0 {
                            return Err("--connections must be at least 1".into());
                        }
                    }
                    "--cells" => {
                        plan.cells = it
                            .next()
                            .ok_or("--cells 16x256,4096x32")?
                            .split(',')
                            .map(|cell| {
                                let (size, c) = cell.split_once('x').ok_or("cell SIZExCONC")?;
                                Ok::<_, BoxError>((size.parse()?, c.parse()?))
                            })
                            .collect::<Result<_, _>>()?
                    }
                    "--only" => {
                        plan.kinds = it
                            .next()
                            .ok_or("--only raw,tarpc,slacker")?
                            .split(',')
                            .filter_map(Kind::parse)
                            .collect()
                    }
                    other => return Err(format!("unknown argument {other}").into()),
                }
            }
            rt.block_on(run(plan))
        }
        _ => Err("usage: echo run [--seconds N] [--only raw,tarpc,slacker,slacker-info,slacker-debug,slacker-base] [--baseline PATH] [--cells 16x256,4096x32] [--connections N] | server KIND".into()),
    }
}
