//! The `slacker.probe` namespace: a small, fast service that hostile-input, fuzz and resource
//! tests aim at, in process ([`ProbeServer`]) or as the `slacker-probe-server` child process
//! (so that its memory and file descriptors can be measured apart from the test's own), plus a
//! [`Bystander`] that keeps calling it during an attack, and raw-frame helpers for attacks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use slacker_core::codec::PacketCodec;
use slacker_core::protocol::{Packet, HEADER_LEN};
use slacker_core::{remote, Client, ClientOptions};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::codec::FramedRead;

use crate::wait::{wait_until, TimedOut, DEADLINE};

/// Two fast functions, enough to tell a working server from a broken one.
#[remote(namespace = "slacker.probe")]
pub trait Probe {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Returns its argument.
    async fn echo(&self, data: Vec<u8>) -> Vec<u8>;
}

/// The implementation: pure functions, no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeImpl;

impl Probe for ProbeImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    async fn echo(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

/// Most calls a [`Bystander`] makes, so that its loop is bounded even if nobody stops it.
const BYSTANDER_MAX_CALLS: u64 = 100_000_000;

/// A well-behaved client calling `add` in a loop, one call at a time, while a test attacks the
/// same server: what it saw is the measure of "other clients are unaffected".
#[derive(Debug)]
pub struct Bystander {
    calls: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<BystanderReport>,
}

/// What a [`Bystander`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BystanderReport {
    /// Calls attempted.
    pub calls: u64,
    /// Calls that failed or returned a wrong sum.
    pub failures: u64,
    /// The first failure, for the assertion message.
    pub first_failure: Option<String>,
    /// Slowest call.
    pub max_latency: Duration,
}

impl Bystander {
    /// Connects to `addr` and starts calling.
    ///
    /// # Errors
    /// When the connection cannot be made.
    pub async fn start(addr: SocketAddr) -> slacker_core::Result<Self> {
        let probe = ProbeClient::new(Client::connect(addr, ClientOptions::default()).await?);
        let calls = Arc::new(AtomicU64::new(0));
        let (stop, mut stopped) = watch::channel(false);
        let counter = calls.clone();
        let task = tokio::spawn(async move {
            let mut report = BystanderReport {
                calls: 0,
                failures: 0,
                first_failure: None,
                max_latency: Duration::ZERO,
            };
            for i in 0..BYSTANDER_MAX_CALLS as i64 {
                if *stopped.borrow_and_update() {
                    break;
                }
                let started = Instant::now();
                let result = probe.add(i, 1).await;
                report.max_latency = report.max_latency.max(started.elapsed());
                report.calls += 1;
                counter.store(report.calls, Ordering::Relaxed);
                if !matches!(result, Ok(sum) if sum == i + 1) {
                    report.failures += 1;
                    report
                        .first_failure
                        .get_or_insert_with(|| format!("call {i}: {result:?}"));
                }
            }
            probe.caller().close().await;
            report
        });
        Ok(Self { calls, stop, task })
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Waits until `more` further calls have completed: the server is still serving this
    /// client now.
    ///
    /// # Errors
    /// [`TimedOut`] after [`DEADLINE`].
    pub async fn progress(&self, more: u64) -> Result<(), TimedOut> {
        let target = self.calls() + more;
        wait_until(DEADLINE, || async { self.calls() >= target }).await
    }

    /// Stops calling and reports.
    ///
    /// # Panics
    /// If the calling task panicked.
    pub async fn finish(self) -> BystanderReport {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(report) => report,
            Err(e) => panic!("bystander task failed: {e}"),
        }
    }
}

/// One frame with any header values, for sending what a correct encoder never would: `body`
/// after the 11-byte header, the length prefix counting both.
pub fn raw_frame(version: u8, ty: u8, content_type: u8, tid: u64, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(HEADER_LEN + body.len()).unwrap_or(u32::MAX);
    let mut b = Vec::with_capacity(4 + HEADER_LEN + body.len());
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(&[version, ty, content_type]);
    b.extend_from_slice(&tid.to_be_bytes());
    b.extend_from_slice(body);
    b
}

/// Reads what the server sends on `stream` until it closes the connection (EOF or reset), and
/// decodes it: the server must only ever send well-formed frames.
///
/// # Errors
/// A message when the server does not close within [`DEADLINE`] or sent a malformed frame.
pub async fn replies_until_closed(stream: TcpStream) -> Result<Vec<Packet>, String> {
    let mut frames = FramedRead::new(stream, PacketCodec::default());
    let mut packets = Vec::new();
    let read_all = async {
        while let Some(next) = frames.next().await {
            match next {
                Ok(Ok(p)) => packets.push(p),
                Ok(Err(bad)) => return Err(format!("server sent a malformed frame: {bad:?}")),
                // A reset, or a close in the middle of a frame we were not meant to read.
                Err(_) => break,
            }
        }
        Ok(())
    };
    match tokio::time::timeout(DEADLINE, read_all).await {
        Ok(Ok(())) => Ok(packets),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("not closed within {DEADLINE:?}; got {packets:?}")),
    }
}
