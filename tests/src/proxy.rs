//! A TCP proxy on 127.0.0.1 for fault injection between a client and a server (ZooKeeper, a
//! slacker server).
//!
//! Point the client at [`Proxy::addr`] instead of the server, then switch modes while it runs:
//!
//! * [`Proxy::pass`] / [`Proxy::heal`]: forward bytes both ways (the initial mode).
//! * [`Proxy::reset`]: close every open connection (the client sees EOF at once) and close each
//!   new one as soon as it is accepted: a server or network that is down "loudly".
//! * [`Proxy::blackhole`]: keep every socket open but forward nothing, and hold new connections
//!   open without connecting upstream: a silent partition, no FIN, no RST, so only timeouts and
//!   heartbeats can notice. Bytes sent meanwhile wait in the socket buffers and are delivered on
//!   [`Proxy::heal`], as after a real partition.
//!
//! A relayed connection ends when either side closes (no half-close). Everything stops when the
//! `Proxy` is dropped. Switching modes is synchronous and takes effect on the next read, so a
//! test can switch and then wait on the outcome it expects.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

/// How long connecting to the upstream may take before the client's connection is closed.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const BUFFER_SIZE: usize = 16 * 1024;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Close every connection, old and new.
    Reset,
    /// Keep connections open, forward nothing.
    Blackhole,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// Decrements the open-connection count when a relayed connection ends, however it ends.
struct OpenGuard(Arc<Counters>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running fault-injection proxy; stops, closing every connection, when dropped.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Mode>,
    counters: Arc<Counters>,
    accept_task: AbortHandle,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards each accepted connection to `upstream`.
    ///
    /// # Errors
    ///
    /// The I/O error of binding the listener.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, mode_rx) = watch::channel(Mode::Pass);
        let counters = Arc::new(Counters::default());
        let accept_task = tokio::spawn(accept_loop(
            listener,
            upstream,
            mode_rx,
            Arc::clone(&counters),
        ))
        .abort_handle();
        Ok(Self {
            addr,
            upstream,
            mode,
            counters,
            accept_task,
        })
    }

    /// The address clients connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address traffic is forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Forwards traffic both ways (the initial mode).
    pub fn pass(&self) {
        self.mode.send_replace(Mode::Pass);
    }

    /// Ends a fault: same as [`Proxy::pass`].
    pub fn heal(&self) {
        self.pass();
    }

    /// Closes every open connection and every new one as soon as it is accepted.
    pub fn reset(&self) {
        self.mode.send_replace(Mode::Reset);
    }

    /// Silent partition: connections stay open, nothing is forwarded, nothing is closed.
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// How many connections the proxy has accepted so far, in any mode.
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// How many accepted connections are still open.
    pub fn open_connections(&self) -> usize {
        self.counters.open.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // The accept task owns the JoinSet of connections: aborting it drops them all.
        self.accept_task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    mode: watch::Receiver<Mode>,
    counters: Arc<Counters>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let client = match accepted {
                    Ok((client, _)) => client,
                    Err(e) => {
                        // Per-connection errors (e.g. aborted handshakes); the listener is fine.
                        tracing::debug!("proxy accept: {e}");
                        continue;
                    }
                };
                counters.accepted.fetch_add(1, Ordering::SeqCst);
                if *mode.borrow() == Mode::Reset {
                    drop(client);
                    continue;
                }
                counters.open.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(Arc::clone(&counters));
                connections.spawn(relay(client, upstream, mode.clone(), guard));
            }
            // Reap finished connections so the set stays as large as the open connections.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Relays one connection until either side closes or the proxy resets.
async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<Mode>,
    _open: OpenGuard,
) {
    // A silent partition holds new connections too, without reaching the upstream.
    match mode.wait_for(|m| *m != Mode::Blackhole).await {
        Ok(m) if *m == Mode::Pass => {}
        _ => return,
    }
    let server = tokio::select! {
        connected = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream)) => {
            match connected {
                Ok(Ok(server)) => server,
                Ok(Err(e)) => {
                    tracing::debug!("proxy: upstream {upstream}: {e}");
                    return;
                }
                Err(_) => return,
            }
        }
        _ = mode.wait_for(|m| *m == Mode::Reset) => return,
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = pump(client_read, server_write, mode.clone()) => {}
        _ = pump(server_read, client_write, mode.clone()) => {}
        // Err only when the proxy is gone: close as well.
        _ = mode.wait_for(|m| *m == Mode::Reset) => {}
    }
}

/// Copies `from` to `to` while the mode is `Pass`; pauses (reads nothing) otherwise. Returns on
/// EOF, an I/O error, or when the proxy is gone.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0; BUFFER_SIZE];
    loop {
        if mode.wait_for(|m| *m == Mode::Pass).await.is_err() {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            // Read is cancel safe: nothing is lost by pausing here.
            _ = mode.wait_for(|m| *m != Mode::Pass) => continue,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use zookeeper_client::{Acls, Client, CreateMode, SessionState};

    use super::{Mode, Proxy};
    use crate::{wait_until, Kazoo, LocalZooKeeper, DEADLINE};

    /// An echo server; returns its address and the task (aborted on drop of the handle's owner).
    async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (addr, task)
    }

    async fn echo(stream: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
        stream.write_all(msg).await.expect("write");
        let mut buf = vec![0; msg.len()];
        tokio::time::timeout(DEADLINE, stream.read_exact(&mut buf))
            .await
            .expect("echo within the deadline")
            .expect("read");
        buf
    }

    /// Reads once with a short timeout: `None` if nothing arrived (still open, silent).
    async fn read_briefly(stream: &mut TcpStream) -> Option<std::io::Result<usize>> {
        let mut buf = [0; 64];
        tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf))
            .await
            .ok()
    }

    #[tokio::test]
    async fn pass_forwards_both_ways_and_counts_connections() {
        let (upstream, _server) = echo_server().await;
        let proxy = Proxy::start(upstream).await.expect("proxy");
        assert_eq!(proxy.mode(), Mode::Pass);
        let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
        let mut b = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(echo(&mut a, b"hello").await, b"hello");
        assert_eq!(echo(&mut b, &[7; 100_000]).await, vec![7; 100_000]);
        assert_eq!(proxy.accepted(), 2);
        assert_eq!(proxy.open_connections(), 2);
        drop(a);
        wait_until(DEADLINE, || async { proxy.open_connections() == 1 })
            .await
            .expect("closed");
    }

    #[tokio::test]
    async fn reset_closes_open_and_new_connections_until_healed() {
        let (upstream, _server) = echo_server().await;
        let proxy = Proxy::start(upstream).await.expect("proxy");
        let mut open = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(echo(&mut open, b"x").await, b"x");

        proxy.reset();
        let mut buf = [0; 1];
        let read = tokio::time::timeout(DEADLINE, open.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "open connection not closed: {read:?}"
        );

        let mut new = TcpStream::connect(proxy.addr())
            .await
            .expect("the listener still accepts");
        let read = tokio::time::timeout(DEADLINE, new.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "new connection not closed: {read:?}"
        );
        assert_eq!(proxy.accepted(), 2);
        wait_until(DEADLINE, || async { proxy.open_connections() == 0 })
            .await
            .expect("all closed");

        proxy.heal();
        let mut healed = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(echo(&mut healed, b"back").await, b"back");
    }

    #[tokio::test]
    async fn blackhole_forwards_nothing_closes_nothing_and_delivers_on_heal() {
        let (upstream, _server) = echo_server().await;
        let proxy = Proxy::start(upstream).await.expect("proxy");
        let mut open = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(echo(&mut open, b"x").await, b"x");

        proxy.blackhole();
        open.write_all(b"lost?")
            .await
            .expect("writes still succeed");
        assert!(
            read_briefly(&mut open).await.is_none(),
            "no echo and no close during blackhole"
        );
        let mut new = TcpStream::connect(proxy.addr())
            .await
            .expect("new connections are accepted");
        new.write_all(b"held").await.expect("write");
        assert!(
            read_briefly(&mut new).await.is_none(),
            "new connection held silently"
        );
        assert_eq!(proxy.open_connections(), 2);

        proxy.heal();
        let mut buf = [0; 5];
        tokio::time::timeout(DEADLINE, open.read_exact(&mut buf))
            .await
            .expect("delivered after heal")
            .expect("read");
        assert_eq!(&buf, b"lost?");
        let mut buf = [0; 4];
        tokio::time::timeout(DEADLINE, new.read_exact(&mut buf))
            .await
            .expect("held connection reaches the upstream after heal")
            .expect("read");
        assert_eq!(&buf, b"held");
    }

    #[tokio::test]
    async fn drop_closes_every_connection() {
        let (upstream, _server) = echo_server().await;
        let proxy = Proxy::start(upstream).await.expect("proxy");
        let addr = proxy.addr();
        let mut open = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(echo(&mut open, b"x").await, b"x");
        drop(proxy);
        let mut buf = [0; 1];
        let read = tokio::time::timeout(DEADLINE, open.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "connection outlived the proxy: {read:?}"
        );
        wait_until(DEADLINE, || async {
            TcpStream::connect(addr).await.is_err()
        })
        .await
        .expect("listener closed");
    }

    #[tokio::test]
    async fn a_dead_upstream_closes_the_client_connection() {
        let dead = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("addr")
        };
        let proxy = Proxy::start(dead).await.expect("proxy");
        let mut client = TcpStream::connect(proxy.addr()).await.expect("accepted");
        let mut buf = [0; 1];
        let read = tokio::time::timeout(DEADLINE, client.read(&mut buf))
            .await
            .expect("closed in time");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }

    /// A ZooKeeper client behind the proxy, with a 4 s session and an ephemeral node.
    async fn zk_client_behind(proxy: &Proxy) -> Client {
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(4))
            .connect(&proxy.addr().to_string())
            .await
            .expect("connect through the proxy");
        let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        client
            .create("/eph", b"", &ephemeral)
            .await
            .expect("create");
        client
    }

    #[tokio::test]
    async fn a_zookeeper_session_survives_a_short_reset() {
        let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
        let proxy = Proxy::start(zk.addr()).await.expect("proxy");
        let client = zk_client_behind(&proxy).await;
        let session = client.session_id();

        proxy.reset();
        wait_until(DEADLINE, || async {
            client.state() == SessionState::Disconnected
        })
        .await
        .expect("the client sees the reset");
        proxy.heal();
        let (_, stat) = client.get_data("/eph").await.expect("get_data after heal");
        assert_eq!(stat.ephemeral_owner, session.0);
        assert_eq!(client.state(), SessionState::SyncConnected);
        assert!(
            proxy.accepted() >= 2,
            "the client reconnected through the proxy"
        );
    }

    #[tokio::test]
    async fn a_blackhole_expires_a_zookeeper_session() {
        let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
        let proxy = Proxy::start(zk.addr()).await.expect("proxy");
        let client = zk_client_behind(&proxy).await;

        proxy.blackhole();
        wait_until(DEADLINE, || async {
            client.state() == SessionState::Disconnected
        })
        .await
        .expect("the client notices the silent partition");
        let kazoo = Kazoo::new(zk.connect_string());
        wait_until(DEADLINE, || async {
            kazoo.node("/eph").await.ok() == Some(None)
        })
        .await
        .expect("the server expires the session");
        proxy.heal();
        wait_until(DEADLINE, || async {
            client.state() == SessionState::Expired
        })
        .await
        .expect("the client learns of the expiry after the heal");
    }
}
