//! What discovery knows of ZooKeeper's tree (before routing filters it) and how one watch event
//! changes it: the state the driver in `mod.rs` keeps, with no I/O, so its rules are tested
//! here. Next hop: `view.rs` turns it into the published view.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use slacker_core::ServerAddr;
use zookeeper_client as zk;

use crate::election::layout;
use crate::paths::Node;

/// What ZooKeeper holds, before filtering.
#[derive(Debug, Default, Clone)]
pub(super) struct Raw {
    pub(super) servers: BTreeMap<ServerAddr, Value>,
    pub(super) namespaces: BTreeMap<String, RawNamespace>,
}

#[derive(Debug, Default, Clone)]
pub(super) struct RawNamespace {
    pub(super) members: BTreeSet<ServerAddr>,
    /// The election's first lock node, if it has one.
    pub(super) head: Option<Head>,
}

impl RawNamespace {
    /// The election's current leader (as a participant id; routing filters it further).
    pub(super) fn leader(&self) -> Option<&ServerAddr> {
        self.head.as_ref().and_then(|h| h.id.as_ref())
    }
}

/// The first lock node of an election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head {
    /// Its sequence number: the queue's order.
    pub(super) seq: u64,
    /// Its name under the election's mutex node.
    pub(super) node: String,
    /// Its participant id (`None` when empty).
    pub(super) id: Option<ServerAddr>,
}

/// What changed in `raw` since the last publish.
#[derive(Debug, Default)]
pub(super) struct Dirty {
    /// Everything (a re-list): the whole view is diffed.
    pub(super) all: bool,
    pub(super) servers: BTreeSet<ServerAddr>,
    pub(super) namespaces: BTreeSet<String>,
}

impl Dirty {
    pub(super) fn is_empty(&self) -> bool {
        !self.all && self.servers.is_empty() && self.namespaces.is_empty()
    }
}

/// The reads a burst of events needs.
#[derive(Debug, Default)]
pub(super) struct ToRead {
    /// Servers created or whose data changed.
    pub(super) servers: BTreeSet<String>,
    /// Elections whose head changed.
    pub(super) heads: BTreeMap<String, HeadRead>,
}

/// How to learn an election's new head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HeadRead {
    /// A lock node queued ahead of every known one: read its participant id.
    Node(u64, String),
    /// The head left: list the queue again.
    Lookup,
}

impl Raw {
    /// Applies one watch event, noting in `to_read` what it cannot tell. False when
    /// the event touched the cluster's skeleton (its base, `servers` or `namespaces` node):
    /// then everything is re-listed.
    pub(super) fn apply(
        &mut self,
        node: Node<'_>,
        kind: zk::EventType,
        to_read: &mut ToRead,
        dirty: &mut Dirty,
    ) -> bool {
        use zk::EventType::{NodeCreated, NodeDataChanged, NodeDeleted};
        match node {
            Node::Base | Node::Servers | Node::Namespaces => return kind == NodeDataChanged,
            Node::Server(addr) => match kind {
                NodeCreated | NodeDataChanged => {
                    to_read.servers.insert(addr.to_owned());
                }
                NodeDeleted => {
                    to_read.servers.remove(addr);
                    let addr = ServerAddr::from(addr);
                    self.servers.remove(&addr);
                    dirty.servers.insert(addr);
                }
                _ => {}
            },
            Node::Namespace(ns) => match kind {
                NodeCreated => {
                    self.namespaces.entry(ns.to_owned()).or_default();
                    dirty.namespaces.insert(ns.to_owned());
                }
                NodeDeleted => {
                    self.namespaces.remove(ns);
                    to_read.heads.remove(ns);
                    dirty.namespaces.insert(ns.to_owned());
                }
                _ => {}
            },
            Node::NamespaceServer(ns, addr) => {
                let namespaces = &mut self.namespaces;
                match kind {
                    NodeCreated => {
                        let members = &mut namespaces.entry(ns.to_owned()).or_default().members;
                        members.insert(ServerAddr::from(addr));
                    }
                    NodeDeleted => {
                        if let Some(raw) = namespaces.get_mut(ns) {
                            raw.members.remove(&ServerAddr::from(addr));
                        }
                    }
                    _ => return true,
                }
                dirty.namespaces.insert(ns.to_owned());
            }
            // The mutex node itself went: its queue is empty.
            Node::Election(ns) if kind == NodeDeleted => {
                to_read.heads.insert(ns.to_owned(), HeadRead::Lookup);
            }
            Node::LockNode(ns, node) => {
                let Some(seq) = layout::sequence_number(node) else {
                    return true;
                };
                let known = self.namespaces.get(ns).and_then(|n| n.head.as_ref());
                // The head after the events so far: a pending one, else the known one.
                let head = match to_read.heads.get(ns) {
                    Some(HeadRead::Lookup) => return true,
                    Some(HeadRead::Node(seq, node)) => Some((*seq, node.as_str())),
                    None => known.map(|h| (h.seq, h.node.as_str())),
                };
                let next = match kind {
                    NodeCreated if head.is_none_or(|(first, _)| seq < first) => {
                        HeadRead::Node(seq, node.to_owned())
                    }
                    NodeDeleted if head.is_some_and(|(_, first)| first == node) => HeadRead::Lookup,
                    _ => return true,
                };
                to_read.heads.insert(ns.to_owned(), next);
            }
            Node::Election(_) | Node::Leader(_) | Node::Other => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::ClusterPaths;
    use zk::EventType::{NodeCreated, NodeDataChanged, NodeDeleted};

    struct Events {
        paths: ClusterPaths,
        raw: Raw,
        dirty: Dirty,
        to_read: ToRead,
    }

    impl Events {
        fn new() -> Self {
            Self {
                paths: ClusterPaths::new("/r", "c").expect("paths"),
                raw: Raw::default(),
                dirty: Dirty::default(),
                to_read: ToRead::default(),
            }
        }

        fn apply(&mut self, kind: zk::EventType, path: &str) -> bool {
            let node = self.paths.parse(path);
            self.raw
                .apply(node, kind, &mut self.to_read, &mut self.dirty)
        }

        fn lock(&self, seq: u64) -> String {
            format!("{}/_c_u{seq}-lock-{seq:010}", self.paths.leader_mutex("ns"))
        }

        fn head(&mut self, seq: u64) {
            let node = format!("_c_u{seq}-lock-{seq:010}");
            let id = Some(ServerAddr::from("a:1"));
            let ns = self.raw.namespaces.entry("ns".into()).or_default();
            ns.head = Some(Head { seq, node, id });
        }

        fn head_read(&self) -> Option<&HeadRead> {
            self.to_read.heads.get("ns")
        }
    }

    #[test]
    fn members_and_servers_change_without_reads() {
        let mut e = Events::new();
        let (member, server) = (e.paths.namespace_server("ns", "a:1"), e.paths.server("a:1"));
        assert!(e.apply(NodeCreated, &member));
        assert!(e.raw.namespaces["ns"]
            .members
            .contains(&ServerAddr::from("a:1")));
        assert!(e.apply(NodeCreated, &server));
        assert!(
            e.to_read.servers.contains("a:1"),
            "a new server's data is read"
        );
        e.raw.servers.insert("a:1".into(), Value::Null);
        assert!(e.apply(NodeDeleted, &server));
        assert!(e.apply(NodeDeleted, &member));
        assert!(e.raw.servers.is_empty() && e.raw.namespaces["ns"].members.is_empty());
        assert!(e.to_read.servers.is_empty(), "a server gone is not read");
        assert!(
            e.dirty.servers.contains(&ServerAddr::from("a:1")) && e.dirty.namespaces.contains("ns")
        );
        // A deleted member of an unknown namespace does not invent the namespace.
        assert!(e.apply(NodeDeleted, &e.paths.namespace_server("other", "a:1")));
        assert!(!e.raw.namespaces.contains_key("other"));
    }

    #[test]
    fn the_skeleton_changing_asks_for_a_re_list() {
        let mut e = Events::new();
        assert!(!e.apply(NodeCreated, &e.paths.servers()));
        assert!(!e.apply(NodeDeleted, &e.paths.namespaces()));
        assert!(e.apply(NodeDataChanged, &e.paths.servers()));
    }

    #[test]
    fn only_a_change_of_the_head_is_read() {
        let mut e = Events::new();
        e.head(5);
        // Queued behind the head, or a follower leaving: nothing to read.
        assert!(e.apply(NodeCreated, &e.lock(7)));
        assert!(e.apply(NodeDeleted, &e.lock(6)));
        assert_eq!(e.head_read(), None);
        // The head leaving: the queue is listed again, and later events wait for that.
        assert!(e.apply(NodeDeleted, &e.lock(5)));
        assert_eq!(e.head_read(), Some(&HeadRead::Lookup));
        assert!(e.apply(NodeCreated, &e.lock(8)));
        assert_eq!(e.head_read(), Some(&HeadRead::Lookup));
    }

    #[test]
    fn a_first_lock_node_is_read_and_tracked_within_the_burst() {
        let mut e = Events::new();
        e.raw.namespaces.entry("ns".into()).or_default();
        let first = format!("_c_u3-lock-{:010}", 3);
        assert!(e.apply(NodeCreated, &e.lock(3)));
        assert_eq!(e.head_read(), Some(&HeadRead::Node(3, first)));
        // Behind the pending head: still that one.
        assert!(e.apply(NodeCreated, &e.lock(4)));
        assert!(matches!(e.head_read(), Some(HeadRead::Node(3, _))));
        // The pending head leaving in the same burst: look the queue up.
        assert!(e.apply(NodeDeleted, &e.lock(3)));
        assert_eq!(e.head_read(), Some(&HeadRead::Lookup));
        // The mutex node itself deleted: its queue is looked up (and found empty).
        let mut e = Events::new();
        e.head(1);
        assert!(e.apply(NodeDeleted, &e.paths.leader_mutex("ns")));
        assert_eq!(e.head_read(), Some(&HeadRead::Lookup));
        // A child that is not a lock node changes nothing.
        let mut e = Events::new();
        let path = format!("{}/not-a-lock", e.paths.leader_mutex("ns"));
        assert!(e.apply(NodeCreated, &path));
        assert_eq!(e.head_read(), None);
    }
}
