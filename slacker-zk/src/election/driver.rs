//! The task behind an [`Election`](super::Election): it owns the participant's state machine
//! ([`Phase`]) and runs it session by session. Every ZooKeeper call of the election is here; the
//! node names come from [`layout`].
//!
//! Error handling is uniform ([`Ctx::recover`]): a lost session ends the session's participation;
//! `ConnectionLoss` retries at once (the client queues requests until it reconnects, so this
//! cannot spin); anything else is retried after a backoff. A write that failed without a server
//! answer ([`outcome_unknown`]) may have been applied: the create then looks for its node, the
//! delete of its node is retried until it is known to be gone.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use slacker_core::backoff::Backoff;
use tokio::sync::{watch, Notify};
use zookeeper_client as zk;
use zookeeper_client::{Acls, CreateMode, EventType, OneshotWatcher, SessionState};

use super::layout;
use super::{ElectionView, Leadership, LeadershipEnd, Phase, SessionSource};

/// The election task: configuration, the session source and the leader function.
pub(super) struct Driver<F> {
    pub(super) ctx: Ctx,
    pub(super) sessions: Box<dyn SessionSource>,
    pub(super) leader: F,
}

/// What every step of the state machine needs.
pub(super) struct Ctx {
    pub(super) path: String,
    pub(super) id: String,
    pub(super) auto_requeue: bool,
    /// Keep `view.participants` current (a child watch on the election path).
    pub(super) track_participants: bool,
    pub(super) view: watch::Sender<ElectionView>,
    /// `true` (or closed, when the [`Election`](super::Election) is dropped) asks to leave.
    pub(super) stop: watch::Receiver<bool>,
    /// Nodes this participant made in sessions it has given up on. ZooKeeper may still hold
    /// such a session (after an outage it restores sessions the client already declared
    /// expired, for another full timeout), and its node would sit in the queue, at the head
    /// perhaps, with nobody leading. The next session deletes them as soon as it has joined.
    pub(super) leftovers: std::sync::Mutex<Vec<String>>,
}

/// Why a step could not go on.
enum Exit {
    Stopped,
    SessionLost,
}

/// How one session's participation ended.
enum SessionEnd {
    Stopped,
    /// Contended once without `auto_requeue`.
    Done,
    Lost,
}

/// How waiting in the queue ended.
enum Turn {
    /// First in the queue and the node is this session's: lead.
    Lead {
        token: i64,
        node_watch: OneshotWatcher,
    },
    /// The node is gone (or not this session's): queue again.
    Rejoin,
}

impl<F, Fut> Driver<F>
where
    F: FnMut(Leadership) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    pub(super) async fn run(self) {
        let Driver {
            ctx,
            sessions,
            mut leader,
        } = self;
        let mut backoff = retry_schedule();
        loop {
            ctx.set_phase(Phase::Joining);
            let mut stop = ctx.stop.clone();
            let session = tokio::select! {
                biased;
                () = stopped(&mut stop) => break,
                session = sessions.session() => session,
            };
            let client = match session {
                Ok(client) if !client.state().is_terminated() => client,
                Ok(client) => {
                    tracing::warn!(path = %ctx.path, state = %client.state(), "election: session source gave a terminated session");
                    if ctx.pause(&mut backoff).await.is_err() {
                        break;
                    }
                    continue;
                }
                Err(err) => {
                    tracing::warn!(path = %ctx.path, %err, "election: no ZooKeeper session");
                    if ctx.pause(&mut backoff).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            backoff = retry_schedule();
            let end = tokio::select! {
                end = ctx.participate(&client, &mut leader) => end,
                never = ctx.watch_participants(&client) => match never {},
            };
            match end {
                SessionEnd::Lost if ctx.auto_requeue => {
                    tracing::info!(path = %ctx.path, id = %ctx.id, "election: session lost, rejoining with a new one");
                }
                SessionEnd::Lost | SessionEnd::Done | SessionEnd::Stopped => break,
            }
        }
        ctx.view.send_modify(|view| {
            view.phase = Phase::Stopped;
            view.participants.clear();
        });
    }
}

impl Ctx {
    /// One session's participation: join, wait, lead, leave, and again with `auto_requeue`.
    async fn participate<F, Fut>(&self, client: &zk::Client, leader: &mut F) -> SessionEnd
    where
        F: FnMut(Leadership) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            self.set_phase(Phase::Joining);
            let (node, protection) = match self.join(client).await {
                Ok(node) => node,
                Err(Exit::Stopped) => return SessionEnd::Stopped,
                Err(Exit::SessionLost) => return SessionEnd::Lost,
            };
            self.set_phase(Phase::Following);
            let end = match self.wait_turn(client, &node, &protection).await {
                Ok(Turn::Lead { token, node_watch }) => {
                    self.lead(client, &node, token, node_watch, leader).await
                }
                Ok(Turn::Rejoin) => continue,
                Err(Exit::Stopped) => {
                    self.set_phase(Phase::Leaving);
                    self.leave(client, &node).await;
                    return SessionEnd::Stopped;
                }
                Err(Exit::SessionLost) => {
                    self.left_behind(node);
                    return SessionEnd::Lost;
                }
            };
            // A node that could not be deleted (the session went down meanwhile) may outlive
            // the session on the server: the next session deletes it.
            let gone = self.leave(client, &node).await;
            if !gone {
                self.left_behind(node);
            }
            match end {
                LeadershipEnd::Stopped => return SessionEnd::Stopped,
                LeadershipEnd::SessionLost => return SessionEnd::Lost,
                _ if !self.auto_requeue => return SessionEnd::Done,
                _ => {}
            }
        }
    }

    /// Queues this participant: creates its protected node, creating the election path if
    /// needed, and finds the node again if the create's reply was lost. Returns the node name
    /// and its protection marker.
    async fn join(&self, client: &zk::Client) -> Result<(String, String), Exit> {
        if let Some(node) = self.adopt_leftover(client).await {
            let protection = layout::protection_of(&node).to_owned();
            return Ok((node, protection));
        }
        // One protection marker per join: it finds the node after a lost reply.
        let protection = layout::protection(&uuid::Uuid::new_v4());
        let node = self.create_node(client, &protection).await?;
        Ok((node, protection))
    }

    /// A node left behind by this participant that belongs to `client`'s session: the session
    /// was resumed (ZooKeeper kept it through an outage the client had given it up in, as a
    /// restarted ensemble does), so the node still holds its place in the queue. Adopting it
    /// keeps that place, and the leadership if it was first, instead of queueing at the back.
    async fn adopt_leftover(&self, client: &zk::Client) -> Option<String> {
        let nodes = self
            .leftovers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for node in nodes {
            let path = layout::node_path(&self.path, &node);
            let owned = matches!(
                client.check_stat(&path).await,
                Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0
            );
            if owned {
                let mut leftovers = self.leftovers.lock().unwrap_or_else(|e| e.into_inner());
                leftovers.retain(|n| *n != node);
                tracing::info!(%path, "election: the session was resumed; keeping its node");
                return Some(node);
            }
        }
        None
    }

    async fn create_node(&self, client: &zk::Client, protection: &str) -> Result<String, Exit> {
        let prefix = layout::node_prefix(&self.path, protection);
        let mode = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
        let mut backoff = retry_schedule();
        // Nodes of an earlier session go first, so that this participant does not stand in
        // the queue twice (ZooKeeper may keep an old session alive for a while after a restart).
        self.delete_leftovers(client).await;
        loop {
            let err = match client.create(&prefix, self.id.as_bytes(), &mode).await {
                Ok((_, sequence)) => return Ok(layout::node_name(protection, sequence)),
                Err(err) => err,
            };
            let result = match err {
                zk::Error::NoNode => match self.create_path(client).await {
                    Ok(()) => Ok(()),
                    Err(err) => self.recover(client, err, &mut backoff).await,
                },
                err if outcome_unknown(&err) => match self.find_own(client, protection).await {
                    Ok(Some(node)) => {
                        tracing::debug!(path = %self.path, node, "election: create's reply was lost, found the node");
                        return Ok(node);
                    }
                    Ok(None) => {
                        tracing::debug!(path = %self.path, "election: create's reply was lost, no node: creating again");
                        Ok(())
                    }
                    Err(err) => self.recover(client, err, &mut backoff).await,
                },
                err => self.recover(client, err, &mut backoff).await,
            };
            match result {
                Ok(()) => {}
                Err(Exit::Stopped) => {
                    // A create whose reply was lost may still have made the node.
                    if let Ok(Some(node)) = self.find_own(client, protection).await {
                        self.leave(client, &node).await;
                    }
                    return Err(Exit::Stopped);
                }
                Err(Exit::SessionLost) => return Err(Exit::SessionLost),
            }
        }
    }

    /// Creates the election path as a container (ZooKeeper removes it once the last participant
    /// is gone, as Curator's containers are) and any missing ancestors as persistent nodes, which
    /// may belong to someone else's layout (a cluster's namespace, say).
    async fn create_path(&self, client: &zk::Client) -> Result<(), zk::Error> {
        let container = CreateMode::Container.with_acls(Acls::anyone_all());
        loop {
            match client.create(&self.path, &[], &container).await {
                Ok(_) | Err(zk::Error::NodeExists) => return Ok(()),
                Err(zk::Error::NoNode) => {
                    let ancestors = CreateMode::Persistent.with_acls(Acls::anyone_all());
                    client.mkdir(layout::parent(&self.path), &ancestors).await?;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The node carrying this create attempt's protection marker, if it exists.
    async fn find_own(
        &self,
        client: &zk::Client,
        protection: &str,
    ) -> Result<Option<String>, zk::Error> {
        let children = match client.list_children(&self.path).await {
            // The path (a container) is gone, and the node with it if it was ever made.
            Err(zk::Error::NoNode) => return Ok(None),
            result => result?,
        };
        Ok(children
            .into_iter()
            .find(|child| child.starts_with(protection)))
    }

    /// Waits until `node` is first in the queue, watching only its predecessor, and checks that
    /// the node belongs to this session before leadership is taken.
    async fn wait_turn(
        &self,
        client: &zk::Client,
        node: &str,
        protection: &str,
    ) -> Result<Turn, Exit> {
        let own_path = layout::node_path(&self.path, node);
        let mut backoff = retry_schedule();
        loop {
            self.delete_leftovers(client).await;
            let children = match client.list_children(&self.path).await {
                Ok(children) => children,
                Err(zk::Error::NoNode) => return Ok(Turn::Rejoin),
                Err(err) => {
                    self.recover(client, err, &mut backoff).await?;
                    continue;
                }
            };
            // A create whose reply was lost, and which was made again, may have been applied
            // late too: a twin of this node (same join's marker, same session) that would stay
            // ahead of it for as long as the session lives. Delete twins.
            let (twins, children): (Vec<String>, Vec<String>) =
                children.into_iter().partition(|child| {
                    child != node && !protection.is_empty() && child.starts_with(protection)
                });
            for twin in twins {
                tracing::warn!(path = %self.path, twin, "election: deleting a duplicate of own node");
                self.leave(client, &twin).await;
            }
            let queue = layout::queue(children);
            let Some(position) = queue.iter().position(|child| child == node) else {
                tracing::warn!(path = %self.path, node, "election: own node vanished, rejoining");
                return Ok(Turn::Rejoin);
            };
            if position == 0 {
                match client.get_and_watch_data(&own_path).await {
                    // CURATOR-696: a node left by an earlier session must not grant leadership.
                    Ok((_, stat, _)) if stat.ephemeral_owner != client.session_id().0 => {
                        tracing::warn!(path = %self.path, node, "election: node is not this session's, rejoining");
                        return Ok(Turn::Rejoin);
                    }
                    Ok((_, stat, node_watch)) => {
                        return Ok(Turn::Lead {
                            token: stat.czxid,
                            node_watch,
                        })
                    }
                    Err(zk::Error::NoNode) => return Ok(Turn::Rejoin),
                    Err(err) => {
                        self.recover(client, err, &mut backoff).await?;
                        continue;
                    }
                }
            }
            let predecessor = layout::node_path(&self.path, &queue[position - 1]);
            let watch = match client.get_and_watch_data(&predecessor).await {
                Ok((_, _, watch)) => watch,
                // Gone between the listing and the watch: look again rather than wait for an
                // event that will never come.
                Err(zk::Error::NoNode) => continue,
                Err(err) => {
                    self.recover(client, err, &mut backoff).await?;
                    continue;
                }
            };
            let mut stop = self.stop.clone();
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return Err(Exit::Stopped),
                event = watch.changed() => {
                    if event.session_state.is_terminated() {
                        return Err(Exit::SessionLost);
                    }
                }
            }
        }
    }

    /// One term: runs the leader function until the term ends, then lets it finish.
    async fn lead<F, Fut>(
        &self,
        client: &zk::Client,
        node: &str,
        token: i64,
        node_watch: OneshotWatcher,
        leader: &mut F,
    ) -> LeadershipEnd
    where
        F: FnMut(Leadership) -> Fut,
        Fut: Future<Output = ()>,
    {
        // Created before anything else can run: a disconnection since the owner check shows up
        // as the current state and ends the term at once.
        let mut states = client.state_watcher();
        let (end_tx, end_rx) = watch::channel(None);
        let release = Arc::new(Notify::new());
        let own_path = layout::node_path(&self.path, node);
        let leadership = Leadership {
            token,
            client: client.clone(),
            node: own_path.as_str().into(),
            end: end_rx,
            release: Arc::clone(&release),
        };
        self.set_phase(Phase::Leading { token });
        tracing::info!(path = %self.path, id = %self.id, token, "election: elected leader");
        // A panicking leader function ends its term like a returning one: the node must still be
        // deleted, or it would block the election for as long as a shared session lives.
        let work = AssertUnwindSafe(leader(leadership)).catch_unwind().map(|result| {
            if result.is_err() {
                tracing::error!(path = %self.path, id = %self.id, "election: leader function panicked");
            }
        });
        tokio::pin!(work);
        let mut stop = self.stop.clone();
        let end = tokio::select! {
            biased;
            end = suspension(&mut states) => end,
            end = node_loss(client, &own_path, node_watch) => end,
            () = stopped(&mut stop) => LeadershipEnd::Stopped,
            () = release.notified() => LeadershipEnd::Released,
            () = &mut work => LeadershipEnd::Returned,
        };
        // Step down before anything else: the view and `lost()` change now, and the node (which
        // keeps everyone else from leading) is only deleted after the leader function returns.
        self.set_phase(Phase::Leaving);
        end_tx.send_replace(Some(end));
        tracing::info!(path = %self.path, id = %self.id, token, ?end, "election: leadership ended");
        if end != LeadershipEnd::Returned {
            work.await;
        }
        end
    }

    /// Remembers a node of a session given up on (see [`Ctx::leftovers`]).
    fn left_behind(&self, node: String) {
        self.leftovers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(node);
    }

    /// Deletes the nodes of earlier sessions of this participant, at most once each: a node
    /// that is gone (with its session, or deleted here) is forgotten; one that could not be
    /// deleted now is tried again on the next turn.
    async fn delete_leftovers(&self, client: &zk::Client) {
        let nodes = std::mem::take(&mut *self.leftovers.lock().unwrap_or_else(|e| e.into_inner()));
        let mut kept = Vec::new();
        for node in nodes {
            let path = layout::node_path(&self.path, &node);
            match client.delete(&path, None).await {
                Ok(()) => {
                    tracing::info!(%path, "election: deleted own node left by an earlier session");
                }
                Err(zk::Error::NoNode) => {}
                Err(err) => {
                    tracing::debug!(%path, %err, "election: could not delete a leftover node yet");
                    kept.push(node);
                }
            }
        }
        if !kept.is_empty() {
            self.leftovers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(kept);
        }
    }

    /// Deletes this participant's node. Waits through a disconnection (the request is queued).
    /// Returns whether the node is known to be gone; when the session ended first it usually
    /// took the node with it, but ZooKeeper may restore a session the client gave up on.
    async fn leave(&self, client: &zk::Client, node: &str) -> bool {
        let path = layout::node_path(&self.path, node);
        let mut backoff = retry_schedule();
        loop {
            match client.delete(&path, None).await {
                Ok(()) | Err(zk::Error::NoNode) => return true,
                Err(err) if session_lost(&err) || client.state().is_terminated() => return false,
                Err(zk::Error::ConnectionLoss) => {}
                Err(err) if outcome_unknown(&err) => tokio::time::sleep(backoff.next_delay()).await,
                Err(err) => {
                    tracing::error!(%path, %err, "election: could not delete own node; it stays until the session ends");
                    return false;
                }
            }
        }
    }

    /// Keeps `view.participants` current from a child watch on the election path. Never returns:
    /// once the session is gone it waits to be dropped with the session's participation.
    async fn watch_participants(&self, client: &zk::Client) -> Infallible {
        if !self.track_participants {
            return std::future::pending().await;
        }
        let mut backoff = retry_schedule();
        loop {
            let result = match client.get_and_watch_children(&self.path).await {
                Ok((children, _, watch)) => {
                    layout::read_participants(client, &self.path, layout::queue(children))
                        .await
                        .map(|participants| {
                            self.set_participants(participants);
                            Some(watch)
                        })
                }
                Err(zk::Error::NoNode) => {
                    self.set_participants(Vec::new());
                    match client.check_and_watch_stat(&self.path).await {
                        Ok((None, watch)) => Ok(Some(watch)),
                        // Created meanwhile: list it.
                        Ok((Some(_), _)) => Ok(None),
                        Err(err) => Err(err),
                    }
                }
                Err(err) => Err(err),
            };
            let watch = match result {
                Ok(watch) => watch,
                Err(err) => match self.recover(client, err, &mut backoff).await {
                    Ok(()) => None,
                    Err(_) => break,
                },
            };
            if let Some(watch) = watch {
                if watch.changed().await.session_state.is_terminated() {
                    break;
                }
            }
        }
        std::future::pending().await
    }

    /// Sorts out a failed ZooKeeper call: `Ok` to retry, or why the step cannot go on.
    async fn recover(
        &self,
        client: &zk::Client,
        err: zk::Error,
        backoff: &mut Backoff,
    ) -> Result<(), Exit> {
        match err {
            _ if session_lost(&err) || client.state().is_terminated() => Err(Exit::SessionLost),
            // Requests wait for the reconnection: retrying at once cannot spin.
            zk::Error::ConnectionLoss => Ok(()),
            _ if outcome_unknown(&err) => {
                tracing::debug!(path = %self.path, %err, "election: connection trouble, retrying");
                self.pause(backoff).await
            }
            err => {
                tracing::warn!(path = %self.path, %err, "election: ZooKeeper call failed, retrying");
                self.pause(backoff).await
            }
        }
    }

    /// Waits out a backoff step, unless asked to stop.
    async fn pause(&self, backoff: &mut Backoff) -> Result<(), Exit> {
        let mut stop = self.stop.clone();
        tokio::select! {
            biased;
            () = stopped(&mut stop) => Err(Exit::Stopped),
            () = tokio::time::sleep(backoff.next_delay()) => Ok(()),
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.view.send_if_modified(|view| {
            let changed = view.phase != phase;
            if changed {
                tracing::debug!(path = %self.path, id = %self.id, from = ?view.phase, to = ?phase, "election: phase");
                view.phase = phase;
            }
            changed
        });
    }

    fn set_participants(&self, participants: Vec<layout::Participant>) {
        self.view.send_if_modified(|view| {
            let changed = view.participants != participants;
            if changed {
                view.participants = participants;
            }
            changed
        });
    }
}

/// Whether the session is gone (and every ephemeral node of it with it).
fn session_lost(err: &zk::Error) -> bool {
    matches!(
        err,
        zk::Error::SessionExpired
            | zk::Error::SessionMoved
            | zk::Error::ClientClosed
            | zk::Error::AuthFailed
    )
}

/// Whether a failed request may have been applied anyway: the reply was lost with the
/// connection. That is `ConnectionLoss`, but also whatever error killed the connection (e.g.
/// "no response from connection"), which `zookeeper-client` hands to requests in flight.
/// Everything else is an answer from the server, or a request that was never sent.
fn outcome_unknown(err: &zk::Error) -> bool {
    use zk::Error::*;
    !matches!(
        err,
        NoNode
            | NoAuth
            | BadVersion
            | NoChildrenForEphemerals
            | NodeExists
            | NotEmpty
            | InvalidAcl
            | AuthFailed
            | SessionMoved
            | SessionExpired
            | ClientClosed
            | NotReadOnly
            | NoWatcher
            | QuotaExceeded
            | Throttled
            | MarshallingError
            | Unimplemented
            | ReconfigDisabled
            | UnexpectedErrorCode(_)
            | BadArguments(_)
            | RuntimeInconsistent
    )
}

/// Resolves when the connection is no longer usable for leading: `Disconnected` (suspended) or
/// a terminal state.
async fn suspension(states: &mut zk::StateWatcher) -> LeadershipEnd {
    loop {
        match states.state() {
            SessionState::SyncConnected => {}
            // A read-only server cannot take the writes a leader is elected to make.
            SessionState::Disconnected | SessionState::ConnectedReadOnly => {
                return LeadershipEnd::Suspended
            }
            SessionState::Expired | SessionState::Closed | SessionState::AuthFailed => {
                return LeadershipEnd::SessionLost
            }
        }
        states.changed().await;
    }
}

/// Resolves when the leader's node is deleted or stops belonging to its session.
async fn node_loss(client: &zk::Client, path: &str, mut watch: OneshotWatcher) -> LeadershipEnd {
    loop {
        let event = watch.changed().await;
        if event.session_state.is_terminated() {
            return LeadershipEnd::SessionLost;
        }
        if event.event_type == EventType::NodeDeleted {
            return LeadershipEnd::NodeLost;
        }
        // Someone changed the node's data: keep watching while it is still ours.
        let mut backoff = retry_schedule();
        watch = loop {
            match client.get_and_watch_data(path).await {
                Ok((_, stat, watch)) if stat.ephemeral_owner == client.session_id().0 => {
                    break watch
                }
                Err(err) if session_lost(&err) => return LeadershipEnd::SessionLost,
                Err(zk::Error::ConnectionLoss) => {}
                Err(err) if outcome_unknown(&err) => tokio::time::sleep(backoff.next_delay()).await,
                Ok(_) | Err(_) => return LeadershipEnd::NodeLost,
            }
        };
    }
}

/// Resolves when the election is asked to stop or its handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender (the `Election`) was dropped: that is a stop too.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The schedule between retries of a failing step: 100 ms doubling up to 5 s, jittered.
fn retry_schedule() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}
