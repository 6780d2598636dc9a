//! Discovery's ZooKeeper reads, each request counted ([`super::Discovery::reads`]): one
//! server's data, one namespace (members and leader), and the multi-reads of a full re-list
//! (server data 256 per request; every namespace's children, election queues and heads in three
//! requests whatever their number). Previous hop: the driver in `mod.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use slacker_core::ServerAddr;
use zookeeper_client as zk;

use super::RawNamespace;
use crate::election::{current_leader, layout};
use crate::paths::{is_server_child, ClusterPaths};
use crate::{Error, Result};

/// Server-data nodes read per multi-read request during a full re-list.
pub(super) const MULTI_READ: usize = 256;

/// What one read of a multi-read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadOp {
    Data,
    Children,
}

impl ReadOp {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Data => "get_data",
            Self::Children => "list_children",
        }
    }
}

/// One answer of a multi-read.
pub(super) enum Read {
    Data(Vec<u8>),
    Children(Vec<String>),
}

/// The driver's reads, each request counted (see [`Discovery::reads`]).
pub(super) struct Reader {
    pub(super) client: zk::Client,
    pub(super) paths: ClusterPaths,
    pub(super) reads: Arc<AtomicU64>,
}

impl Reader {
    pub(super) fn count(&self, requests: u64) {
        self.reads.fetch_add(requests, Ordering::Relaxed);
    }

    /// Children of `path`; a missing node has none.
    pub(super) async fn children(&self, path: &str) -> Result<Vec<String>> {
        self.count(1);
        match self.client.list_children(path).await {
            Ok(children) => Ok(children),
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(Error::zk("list_children", path, e)),
        }
    }

    /// The server-data of `addr`; `None` if it is not registered.
    pub(super) async fn server_data(&self, addr: &str) -> Result<Option<Value>> {
        let path = self.paths.server(addr);
        self.count(1);
        match self.client.get_data(&path).await {
            Ok((data, _)) => Ok(Some(parse_server_data(addr, &data))),
            Err(zk::Error::NoNode) => Ok(None),
            Err(e) => Err(Error::zk("get_data", path, e)),
        }
    }

    /// One read per path (data or children), [`MULTI_READ`] per request; `None` for a node
    /// that does not exist.
    pub(super) async fn multi_read(
        &self,
        paths: &[String],
        op: ReadOp,
    ) -> Result<Vec<Option<Read>>> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(MULTI_READ) {
            let mut multi = self.client.new_multi_reader();
            for path in chunk {
                let added = match op {
                    ReadOp::Data => multi.add_get_data(path),
                    ReadOp::Children => multi.add_get_children(path),
                };
                added.map_err(|e| Error::zk(op.name(), path.clone(), e))?;
            }
            self.count(1);
            let results = multi.commit().await.map_err(|e| {
                let first = chunk.first().cloned().unwrap_or_default();
                Error::zk("multi_read", first, e)
            })?;
            for (path, result) in chunk.iter().zip(results) {
                out.push(match result {
                    zk::MultiReadResult::Data { data, .. } if op == ReadOp::Data => {
                        Some(Read::Data(data))
                    }
                    zk::MultiReadResult::Children { children } if op == ReadOp::Children => {
                        Some(Read::Children(children))
                    }
                    zk::MultiReadResult::Error {
                        err: zk::Error::NoNode,
                    } => None,
                    zk::MultiReadResult::Error { err } => {
                        return Err(Error::zk(op.name(), path.clone(), err))
                    }
                    _ => {
                        return Err(Error::zk(
                            op.name(),
                            path.clone(),
                            zk::Error::UnexpectedError("a reply of the other kind".into()),
                        ))
                    }
                });
            }
        }
        Ok(out)
    }

    /// The server-data of each of `addrs` still registered.
    pub(super) async fn servers_data(&self, addrs: Vec<String>) -> Result<Vec<(String, Value)>> {
        let paths: Vec<String> = addrs.iter().map(|a| self.paths.server(a)).collect();
        let reads = self.multi_read(&paths, ReadOp::Data).await?;
        Ok(addrs
            .into_iter()
            .zip(reads)
            .filter_map(|(addr, read)| match read {
                Some(Read::Data(data)) => {
                    let value = parse_server_data(&addr, &data);
                    Some((addr, value))
                }
                _ => None,
            })
            .collect())
    }

    /// `paths`' children (`None` for a missing node).
    pub(super) async fn children_of(&self, paths: &[String]) -> Result<Vec<Option<Vec<String>>>> {
        let reads = self.multi_read(paths, ReadOp::Children).await?;
        Ok(reads
            .into_iter()
            .map(|read| match read {
                Some(Read::Children(children)) => Some(children),
                _ => None,
            })
            .collect())
    }

    /// Every namespace of `names` that exists, with its members and leader, in a few
    /// multi-reads whatever their number: the children of every namespace node, the children
    /// of every election, the head node of every election.
    pub(super) async fn namespaces(
        &self,
        names: Vec<String>,
    ) -> Result<BTreeMap<String, RawNamespace>> {
        let node_paths: Vec<String> = names.iter().map(|ns| self.paths.namespace(ns)).collect();
        let mutexes: Vec<String> = names.iter().map(|ns| self.paths.leader_mutex(ns)).collect();
        let members = self.children_of(&node_paths).await?;
        let queues = self.children_of(&mutexes).await?;
        let mut out = BTreeMap::new();
        let mut heads = Vec::new();
        for ((ns, members), (mutex, queue)) in names
            .into_iter()
            .zip(members)
            .zip(mutexes.iter().zip(queues))
        {
            let Some(members) = members else { continue };
            let members = members
                .into_iter()
                .filter(|c| is_server_child(c))
                .map(ServerAddr::new)
                .collect();
            if let Some(head) = queue.and_then(|q| layout::queue(q).into_iter().next()) {
                heads.push((ns.clone(), layout::node_path(mutex, &head)));
            }
            let leader = None;
            out.insert(ns, RawNamespace { members, leader });
        }
        let head_paths: Vec<String> = heads.iter().map(|(_, path)| path.clone()).collect();
        let reads = self.multi_read(&head_paths, ReadOp::Data).await?;
        for ((ns, _), read) in heads.iter().zip(reads) {
            let leader = match read {
                Some(Read::Data(data)) => Some(layout::id_of(&data))
                    .filter(|id| !id.is_empty())
                    .map(ServerAddr::from),
                // The head left between the listing and the read: ask again for this one.
                _ => self.leader(ns).await?,
            };
            if let Some(view) = out.get_mut(ns) {
                view.leader = leader;
            }
        }
        Ok(out)
    }

    /// One namespace's members and leader; `None` if the namespace node does not exist. The
    /// batch read with one name (three requests).
    pub(super) async fn namespace(&self, ns: &str) -> Result<Option<RawNamespace>> {
        Ok(self.namespaces(vec![ns.to_owned()]).await?.remove(ns))
    }

    /// The current leader of `ns`: the participant id of the first lock node of its election
    /// (a listing and one read).
    pub(super) async fn leader(&self, ns: &str) -> Result<Option<ServerAddr>> {
        let mutex = self.paths.leader_mutex(ns);
        self.count(2);
        match current_leader(&self.client, &mutex).await {
            Ok(id) => Ok(id.filter(|id| !id.is_empty()).map(ServerAddr::from)),
            Err(e) => Err(Error::zk("current_leader", mutex, e)),
        }
    }
}

/// Server-data is JSON; empty is `null`, and anything unparsable is `null` plus a warning (a
/// bad registration must not stop discovery).
pub(super) fn parse_server_data(addr: &str, data: &[u8]) -> Value {
    if data.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(data).unwrap_or_else(|err| {
        tracing::warn!(server = addr, error = %err, "server-data is not JSON; using null");
        Value::Null
    })
}
