//! Discovery's ZooKeeper reads, each request counted ([`super::Discovery::reads`]): one
//! batch of servers' data, the heads of elections whose first lock node changed, and the
//! multi-reads of a full re-list (server data 256 per request; every namespace's children,
//! election queues and heads in three requests whatever their number). Previous hop: the
//! driver in `mod.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;
use slacker_core::ServerAddr;
use zookeeper_client as zk;

use super::state::{Head, RawNamespace};
use crate::election::layout;
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

    /// Every namespace of `names` that exists, with its members and election head, in a few
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
        for ((ns, members), queue) in names.into_iter().zip(members).zip(queues) {
            let Some(members) = members else { continue };
            let members = members
                .into_iter()
                .filter(|c| is_server_child(c))
                .map(ServerAddr::new)
                .collect();
            if let Some(head) = queue.and_then(|q| layout::queue(q).into_iter().next()) {
                heads.push((ns.clone(), head));
            }
            let head = None;
            out.insert(ns, RawNamespace { members, head });
        }
        for (ns, head) in self.heads(heads).await? {
            if let Some(view) = out.get_mut(&ns) {
                view.head = head;
            }
        }
        Ok(out)
    }

    /// The head of each `(namespace, lock node)` with its participant id, in one multi-read;
    /// a node gone meanwhile is looked up again ([`Reader::head`]).
    pub(super) async fn heads(
        &self,
        nodes: Vec<(String, String)>,
    ) -> Result<Vec<(String, Option<Head>)>> {
        let paths: Vec<String> = nodes
            .iter()
            .map(|(ns, node)| layout::node_path(&self.paths.leader_mutex(ns), node))
            .collect();
        let reads = self.multi_read(&paths, ReadOp::Data).await?;
        let mut out = Vec::with_capacity(nodes.len());
        let mut gone = Vec::new();
        for ((ns, node), read) in nodes.into_iter().zip(reads) {
            match (read, layout::sequence_number(&node)) {
                (Some(Read::Data(data)), Some(seq)) => {
                    let id = participant(&data);
                    out.push((ns, Some(Head { seq, node, id })));
                }
                _ => gone.push(ns),
            }
        }
        let lookups = gone.into_iter().map(|ns| async move {
            let head = self.head(&ns).await?;
            Ok::<_, Error>((ns, head))
        });
        out.extend(futures::future::try_join_all(lookups).await?);
        Ok(out)
    }

    /// The first lock node of `ns`'s election with its participant id (a listing, then one
    /// read per node until one is still there); `None` for an empty or missing election.
    pub(super) async fn head(&self, ns: &str) -> Result<Option<Head>> {
        let mutex = self.paths.leader_mutex(ns);
        for node in layout::queue(self.children(&mutex).await?) {
            let Some(seq) = layout::sequence_number(&node) else {
                continue;
            };
            let path = layout::node_path(&mutex, &node);
            self.count(1);
            match self.client.get_data(&path).await {
                Ok((data, _)) => {
                    let id = participant(&data);
                    return Ok(Some(Head { seq, node, id }));
                }
                Err(zk::Error::NoNode) => continue,
                Err(e) => return Err(Error::zk("get_data", path, e)),
            }
        }
        Ok(None)
    }
}

/// A lock node's participant id as a server address (`None` when empty).
fn participant(data: &[u8]) -> Option<ServerAddr> {
    Some(layout::id_of(data))
        .filter(|id| !id.is_empty())
        .map(ServerAddr::from)
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
