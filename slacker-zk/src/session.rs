//! One ZooKeeper session that survives expiry: connect to a multi-host connect string (with an
//! optional chroot), report state changes, and open a *new* session when the old one expires.
//!
//! `zookeeper-client` already handles a disconnect within a session (it reconnects to any host,
//! restores watches, keeps ephemerals); expiry is terminal for a `zookeeper_client::Client`. So the
//! owner of a [`Session`] (the registry's and the discovery's driver tasks) loops on
//! [`Session::next_event`]: [`SessionEvent::NewSession`] is the re-establishment hook, where it
//! recreates its ephemerals or re-lists everything.

use std::net::IpAddr;
use std::time::Duration;

use slacker_core::backoff::Backoff;
use zookeeper_client as zk;

use crate::{Error, Result};

/// How to reach ZooKeeper.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ZkOptions {
    /// Connect string: `host:port[,host:port...][/chroot]`. A missing chroot node is created.
    pub connect: String,
    /// Requested session timeout (the server may negotiate it into its min/max bounds).
    pub session_timeout: Duration,
    /// The cluster secret, if any: the session authenticates with it and the registry's nodes
    /// are writable only by it (see [`ZkAuth`]). Default `None`: open ACLs.
    pub auth: Option<ZkAuth>,
}

/// A ZooKeeper `digest` identity (`user:secret`), the cluster secret.
///
/// A session with it authenticates on connect; the registry then creates the cluster's nodes
/// (`servers`, `namespaces`, `functions`, the election directories and every server's
/// ephemerals) with an ACL giving everyone read and only this identity
/// create/write/delete/admin. So a process without
/// the secret is refused by ZooKeeper itself (`NoAuth`) when it registers a server or rewrites
/// server-data, while discovery, which only reads, works without it. What is not protected is
/// listed in the crate docs.
#[derive(Clone)]
pub struct ZkAuth {
    user: String,
    secret: String,
}

impl ZkAuth {
    /// The digest identity `user` with password `secret`.
    pub fn digest(user: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            secret: secret.into(),
        }
    }
}

impl std::fmt::Debug for ZkAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZkAuth")
            .field("user", &self.user)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Read for everyone, everything for the identities the creating session authenticated as.
static PROTECTED: [zk::Acl; 2] = [
    zk::Acl::new_const(zk::Permission::READ, "world", "anyone"),
    zk::Acl::new_const(zk::Permission::ALL, "auth", ""),
];

impl ZkOptions {
    /// Options for `connect` with a 10 s session timeout.
    pub fn new(connect: impl Into<String>) -> Self {
        Self {
            connect: connect.into(),
            session_timeout: Duration::from_secs(10),
            auth: None,
        }
    }

    /// Sets the cluster secret (see [`ZkAuth`]).
    pub fn auth(mut self, auth: ZkAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The ACL of the nodes a registry creates: [`PROTECTED`] with a secret, open without.
    pub(crate) fn acls(&self) -> zk::Acls<'static> {
        match self.auth {
            Some(_) => zk::Acls::new(&PROTECTED),
            None => zk::Acls::anyone_all(),
        }
    }

    /// Sets the session timeout.
    pub fn session_timeout(mut self, t: Duration) -> Self {
        self.session_timeout = t;
        self
    }
}

/// The state of the ZooKeeper connection, as shown in membership views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZkState {
    /// Connected; the session is live.
    Connected,
    /// The connection is lost; the session may still be alive and the client is reconnecting.
    Disconnected,
    /// The session expired; a new one is being opened.
    Expired,
    /// Closed by its owner.
    Closed,
}

/// What happened to the session (see [`Session::next_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    /// The connection was lost; the session (and its ephemerals and watches) may survive.
    Disconnected,
    /// Connected again within the same session. Watch events may have been lost in the gap.
    Reconnected,
    /// The session expired: ZooKeeper has deleted its ephemerals and watches. Reported once,
    /// before the next call opens a new session (so owners can publish the expiry meanwhile).
    Expired,
    /// The old session had expired (or the client had given it up) and a new client is open:
    /// every watch is gone, and every ephemeral unless ZooKeeper still held the session and it
    /// was resumed ([`Session::id`] is then unchanged). Owners re-create what they need.
    NewSession,
    /// The session was closed, or authentication failed: there will be no further events.
    Closed,
}

/// A ZooKeeper session that is replaced after expiry. See the module docs.
#[derive(Debug)]
pub struct Session {
    options: ZkOptions,
    client: zk::Client,
    state: zk::StateWatcher,
    sessions: u64,
    /// This session's expiry has been returned as [`SessionEvent::Expired`]; the next call renews.
    expiry_reported: bool,
}

impl Session {
    /// Opens a session (waits until it is established).
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed connect string; [`Error::ZooKeeper`] when no session can
    /// be established within about the session timeout.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is left behind.
    pub async fn connect(options: ZkOptions) -> Result<Self> {
        let client = open(&options, false, None).await?;
        let state = client.state_watcher();
        Ok(Self {
            options,
            client,
            state,
            sessions: 1,
            expiry_reported: false,
        })
    }

    /// The current client (replaced by [`SessionEvent::NewSession`]). Cheap to clone.
    pub fn client(&self) -> &zk::Client {
        &self.client
    }

    /// The options this session was opened with.
    pub(crate) fn options(&self) -> &ZkOptions {
        &self.options
    }

    /// The ACL of the nodes this session's owner creates (see [`ZkAuth`]).
    pub(crate) fn acls(&self) -> zk::Acls<'static> {
        self.options.acls()
    }

    /// The id of the current session.
    pub fn id(&self) -> i64 {
        self.client.session_id().0
    }

    /// How many sessions have been opened so far (1 after connect; a resumed one is not new).
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// The current connection state.
    pub fn state(&self) -> ZkState {
        zk_state(self.state.peek_state())
    }

    /// Waits for the next state change. On expiry it returns [`SessionEvent::Expired`] once;
    /// the call after that opens a new session, retrying with backoff until it succeeds, and
    /// returns [`SessionEvent::NewSession`].
    ///
    /// # Cancel safety
    /// Cancel safe: if cancelled while re-opening after expiry, the next call starts over.
    pub async fn next_event(&mut self) -> SessionEvent {
        loop {
            match self.state.peek_state() {
                zk::SessionState::Expired if !self.expiry_reported => {
                    self.expiry_reported = true;
                    return SessionEvent::Expired;
                }
                zk::SessionState::Expired => return self.renew().await,
                zk::SessionState::Closed | zk::SessionState::AuthFailed => {
                    return SessionEvent::Closed
                }
                _ => {}
            }
            match self.state.changed().await {
                zk::SessionState::Disconnected => {
                    tracing::info!(
                        session = format_args!("{:#x}", self.id()),
                        "ZooKeeper: disconnected"
                    );
                    return SessionEvent::Disconnected;
                }
                state @ (zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly) => {
                    tracing::info!(
                        session = format_args!("{:#x}", self.id()),
                        ?state,
                        "ZooKeeper: connected again"
                    );
                    return SessionEvent::Reconnected;
                }
                // handled at the top of the loop
                zk::SessionState::Expired
                | zk::SessionState::Closed
                | zk::SessionState::AuthFailed => {}
            }
        }
    }

    async fn renew(&mut self) -> SessionEvent {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut attempts = 0u32;
        // The client gives a session up after 1.4x its timeout without an answer, but
        // ZooKeeper may still hold it: an ensemble that restarts restores every session with a
        // fresh timeout. So the old session is asked for first; only when ZooKeeper says it
        // expired is a new one opened. A resumed session still has its ephemerals, so the
        // owners' re-registration finds its nodes in place instead of re-creating them (and
        // ZooKeeper is spared expiring the old session and its nodes a few seconds later).
        let mut resume = Some(self.client.session().clone());
        loop {
            // Each attempt gives up as soon as every host refused (instead of cycling through
            // them for a whole session timeout), so the session is back within one backoff
            // step of ZooKeeper's return.
            match open(&self.options, true, resume.clone()).await {
                Ok(client) => {
                    let (old, new) = (self.id(), client.session_id().0);
                    if old == new {
                        tracing::info!(
                            session = format_args!("{new:#x}"),
                            "ZooKeeper session resumed after the client had given it up"
                        );
                    } else {
                        tracing::info!(
                            old = format_args!("{old:#x}"),
                            new = format_args!("{new:#x}"),
                            "ZooKeeper session expired; opened a new one"
                        );
                        self.sessions += 1;
                    }
                    self.state = client.state_watcher();
                    self.client = client;
                    self.expiry_reported = false;
                    return SessionEvent::NewSession;
                }
                Err(err) if resume.is_some() && is_expired(&err) => {
                    tracing::debug!("ZooKeeper confirms the session expired; opening a new one");
                    resume = None;
                }
                Err(err) => {
                    // Once at WARN; the retries (every 1-2 s while ZooKeeper is away) at DEBUG.
                    if attempts == 0 {
                        tracing::warn!(error = %err, "cannot open a new ZooKeeper session; retrying");
                    } else {
                        tracing::debug!(error = %err, attempts, "cannot open a new ZooKeeper session; retrying");
                    }
                    attempts += 1;
                    backoff.wait().await;
                }
            }
        }
    }
}

/// ZooKeeper refused to resume a session: it expired (or moved, or was closed).
fn is_expired(err: &Error) -> bool {
    matches!(
        err.zk_source(),
        Some(zk::Error::SessionExpired | zk::Error::SessionMoved)
    )
}

/// Sleeps until `at`; never returns for `None` (a disabled retry timer in a driver's select).
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Maps the client's state to ours.
pub(crate) fn zk_state(s: zk::SessionState) -> ZkState {
    match s {
        zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => ZkState::Connected,
        zk::SessionState::Disconnected => ZkState::Disconnected,
        zk::SessionState::Expired => ZkState::Expired,
        zk::SessionState::Closed | zk::SessionState::AuthFailed => ZkState::Closed,
    }
}

/// The parts of a connect string: `host:port` entries and the chroot (if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectString {
    pub(crate) hosts: Vec<String>,
    pub(crate) chroot: Option<String>,
}

pub(crate) fn parse_connect(connect: &str) -> Result<ConnectString> {
    let bad = || Error::Config(format!("bad ZooKeeper connect string `{connect}`"));
    let plain = connect.replace("tcp://", "");
    let (hosts, chroot) = match plain.find('/') {
        Some(i) => (&plain[..i], Some(&plain[i..])),
        None => (plain.as_str(), None),
    };
    let hosts: Vec<String> = hosts.split(',').map(|h| h.trim().to_owned()).collect();
    if hosts.iter().any(String::is_empty) {
        return Err(bad());
    }
    let chroot = match chroot.map(|c| c.trim_end_matches('/')) {
        Some("") | None => None,
        Some(c) if c.contains("//") => return Err(bad()),
        Some(c) => Some(c.to_owned()),
    };
    Ok(ConnectString { hosts, chroot })
}

/// Opens a session, or resumes `session`; `eager`: fail once every host has been tried, rather
/// than keep cycling through them for up to the session timeout.
async fn open(
    options: &ZkOptions,
    eager: bool,
    session: Option<zk::SessionInfo>,
) -> Result<zk::Client> {
    let parsed = parse_connect(&options.connect)?;
    let hosts = parsed.hosts.join(",");
    let mut connector = zk::Client::connector().with_session_timeout(options.session_timeout);
    if eager {
        connector = connector.with_fail_eagerly();
    }
    if let Some(session) = session {
        connector = connector.with_session(session);
    }
    if let Some(auth) = &options.auth {
        let id = format!("{}:{}", auth.user, auth.secret);
        connector = connector.with_auth("digest", id.as_bytes());
    }
    let client = connector
        .connect(&hosts)
        .await
        .map_err(|e| Error::zk("connect", options.connect.clone(), e))?;
    let Some(chroot) = parsed.chroot else {
        return Ok(client);
    };
    let dir = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .mkdir(&chroot, &dir)
        .await
        .map_err(|e| Error::zk("mkdir", chroot.clone(), e))?;
    client
        .chroot(chroot.clone())
        .map_err(|_| Error::Config(format!("bad ZooKeeper chroot `{chroot}`")))
}

/// The local address of a TCP connection to the first reachable ZooKeeper host: the address
/// other machines on ZooKeeper's network can reach this one at.
///
/// # Errors
/// [`Error::Config`] for a malformed connect string; [`Error::Io`] if no host is reachable
/// within 5 s each.
pub async fn local_ip_towards(connect: &str) -> Result<IpAddr> {
    let parsed = parse_connect(connect)?;
    let mut last = None;
    for host in &parsed.hosts {
        let target = if host.contains(':') {
            host.clone()
        } else {
            format!("{host}:2181")
        };
        match tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::TcpStream::connect(&target),
        )
        .await
        {
            Ok(Ok(stream)) => return Ok(stream.local_addr()?.ip()),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                last = Some(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {target}"),
                ))
            }
        }
    }
    Err(last
        .unwrap_or_else(|| std::io::Error::other("no ZooKeeper host"))
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings() {
        let c = parse_connect("a:1,b:2/x/y/").expect("valid");
        assert_eq!(c.hosts, ["a:1", "b:2"]);
        assert_eq!(c.chroot.as_deref(), Some("/x/y"));
        let c = parse_connect("tcp://a:1,tcp://b:2").expect("valid");
        assert_eq!(c.hosts, ["a:1", "b:2"]);
        assert_eq!(c.chroot, None);
        let c = parse_connect("tcp://a:1/r").expect("valid");
        assert_eq!(c.chroot.as_deref(), Some("/r"));
        assert!(parse_connect("a:1,,b:2").is_err());
        assert!(parse_connect("").is_err());
    }
}
