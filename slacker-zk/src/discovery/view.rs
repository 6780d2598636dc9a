//! Discovery's published view: a namespace's routing list (members that are registered servers,
//! the leader if it is one of them), and the [`Change`]s that turn one membership into the next.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use slacker_core::membership::{Change, ServerInfo};
use slacker_core::ServerAddr;

use super::state::{Dirty, Raw, RawNamespace};
use super::{Membership, NamespaceView};
use crate::ZkState;

/// The routing view of one namespace: members that are registered servers, and the leader if
/// it is one of them.
pub(super) fn routable(raw: &RawNamespace, servers: &BTreeMap<ServerAddr, Value>) -> NamespaceView {
    let members: Vec<ServerAddr> = raw
        .members
        .iter()
        .filter(|a| servers.contains_key(*a))
        .cloned()
        .collect();
    let leader = raw.leader().filter(|l| members.contains(l)).cloned();
    NamespaceView {
        servers: members,
        leader,
    }
}

/// The whole published view of `raw`.
pub(super) fn view_of(raw: &Raw, zk: ZkState, resyncs: u64) -> Membership {
    Membership {
        zk,
        servers: raw.servers.clone(),
        namespaces: raw
            .namespaces
            .iter()
            .map(|(ns, n)| (ns.clone(), routable(n, &raw.servers)))
            .collect(),
        resyncs,
    }
}

/// The changes that turn `old` into `new`: inserts first, then namespace lists, then removals,
/// so a namespace never lists a server its consumer has not heard of.
pub(super) fn diff(old: &Membership, new: &Membership) -> Vec<Change> {
    let mut out = Vec::new();
    for (addr, data) in &new.servers {
        if old.servers.get(addr) != Some(data) {
            out.push(Change::Insert(
                addr.clone(),
                ServerInfo { data: data.clone() },
            ));
        }
    }
    let names: BTreeSet<&String> = old.namespaces.keys().chain(new.namespaces.keys()).collect();
    for ns in names {
        let now = new.namespaces.get(ns);
        if old.namespaces.get(ns) != now {
            let now = now.cloned().unwrap_or_default();
            out.push(Change::Namespace {
                namespace: ns.clone(),
                servers: now.servers,
                leader: now.leader,
            });
        }
    }
    for addr in old.servers.keys() {
        if !new.servers.contains_key(addr) {
            out.push(Change::Remove(addr.clone()));
        }
    }
    out
}

/// What events changed since the last publish, as the changes to send (in [`diff`]'s order)
/// and the edits that bring the published view up to date.
#[derive(Debug, Default)]
pub(super) struct Patch {
    /// Each change with whether its server was known before (an insert of a known server is
    /// a server-data change).
    changes: Vec<(Change, bool)>,
    servers: Vec<(ServerAddr, Option<Value>)>,
    namespaces: Vec<(String, Option<NamespaceView>)>,
}

impl Patch {
    pub(super) fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.namespaces.is_empty()
    }

    pub(super) fn take_changes(&mut self) -> Vec<(Change, bool)> {
        std::mem::take(&mut self.changes)
    }

    /// Edits `view` in place: O(changed).
    pub(super) fn apply(self, view: &mut Membership) {
        for (addr, data) in self.servers {
            match data {
                Some(data) => view.servers.insert(addr, data),
                None => view.servers.remove(&addr),
            };
        }
        for (ns, now) in self.namespaces {
            match now {
                Some(now) => view.namespaces.insert(ns, now),
                None => view.namespaces.remove(&ns),
            };
        }
    }
}

/// The patch from `published` to `raw` when only what `dirty` names may differ: the work is
/// O(changed) rather than O(servers). (After a re-list everything may differ: [`diff`].)
pub(super) fn patch(published: &Membership, raw: &Raw, dirty: Dirty) -> Patch {
    let (mut inserts, mut removes) = (Vec::new(), Vec::new());
    let mut out = Patch::default();
    let mut namespaces = dirty.namespaces;
    for addr in dirty.servers {
        let now = raw.servers.get(&addr);
        let was = published.servers.get(&addr);
        if now == was {
            continue;
        }
        // A server that came or went changes the routing list of every namespace it is a
        // member of.
        if now.is_some() != was.is_some() {
            let member_of = raw.namespaces.iter();
            let member_of = member_of.filter(|(_, n)| n.members.contains(&addr));
            namespaces.extend(member_of.map(|(ns, _)| ns.clone()));
        }
        match now {
            Some(data) => {
                let info = ServerInfo { data: data.clone() };
                inserts.push((Change::Insert(addr.clone(), info), was.is_some()));
            }
            None => removes.push((Change::Remove(addr.clone()), true)),
        }
        out.servers.push((addr, now.cloned()));
    }
    let mut lists = Vec::new();
    for ns in namespaces {
        let now = raw.namespaces.get(&ns).map(|n| routable(n, &raw.servers));
        if now.as_ref() == published.namespaces.get(&ns) {
            continue;
        }
        let list = now.clone().unwrap_or_default();
        let change = Change::Namespace {
            namespace: ns.clone(),
            servers: list.servers,
            leader: list.leader,
        };
        lists.push((change, false));
        out.namespaces.push((ns, now));
    }
    // Inserts first, then namespace lists, then removals, as in `diff`.
    out.changes = inserts.into_iter().chain(lists).chain(removes).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::reader::parse_server_data;
    use crate::discovery::state::{Dirty, Head, Raw};
    use crate::ZkState;

    fn addr(s: &str) -> ServerAddr {
        ServerAddr::from(s)
    }

    fn membership(servers: &[&str], ns: &[(&str, &[&str], Option<&str>)]) -> Membership {
        Membership {
            zk: ZkState::Connected,
            servers: servers.iter().map(|s| (addr(s), Value::Null)).collect(),
            namespaces: ns
                .iter()
                .map(|(n, s, l)| {
                    (
                        (*n).to_owned(),
                        NamespaceView {
                            servers: s.iter().map(|x| addr(x)).collect(),
                            leader: l.map(addr),
                        },
                    )
                })
                .collect(),
            resyncs: 1,
        }
    }

    #[test]
    fn diff_orders_inserts_namespaces_removes() {
        let old = membership(&["a:1", "b:1"], &[("ns", &["a:1", "b:1"], Some("a:1"))]);
        let new = membership(&["b:1", "c:1"], &[("ns", &["b:1", "c:1"], Some("b:1"))]);
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                Change::Insert(addr("c:1"), ServerInfo { data: Value::Null }),
                Change::Namespace {
                    namespace: "ns".into(),
                    servers: vec![addr("b:1"), addr("c:1")],
                    leader: Some(addr("b:1")),
                },
                Change::Remove(addr("a:1")),
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn removed_namespace_becomes_empty_list() {
        let old = membership(&["a:1"], &[("ns", &["a:1"], None)]);
        let new = membership(&["a:1"], &[]);
        assert_eq!(
            diff(&old, &new),
            vec![Change::Namespace {
                namespace: "ns".into(),
                servers: vec![],
                leader: None
            }]
        );
    }

    #[test]
    fn routable_filters_unregistered_members_and_leaders() {
        let servers = [(addr("a:1"), Value::Null)].into_iter().collect();
        let raw = RawNamespace {
            members: [addr("a:1"), addr("b:1")].into_iter().collect(),
            head: Some(Head {
                seq: 1,
                node: "_c_x-lock-0000000001".into(),
                id: Some(addr("b:1")),
            }),
        };
        assert_eq!(
            routable(&raw, &servers),
            NamespaceView {
                servers: vec![addr("a:1")],
                leader: None
            }
        );
    }

    /// A small deterministic generator (no test dependency for a shuffle).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    /// Random edits of a raw state, each recorded in `dirty` as the event rules do.
    fn edit(raw: &mut Raw, dirty: &mut Dirty, rng: &mut Lcg) {
        let server = addr(&format!("s{}:1", rng.below(12)));
        let ns = format!("ns{}", rng.below(4));
        match rng.below(6) {
            0 => {
                let data = serde_json::json!(rng.below(3));
                raw.servers.insert(server.clone(), data);
                dirty.servers.insert(server);
            }
            1 => {
                raw.servers.remove(&server);
                dirty.servers.insert(server);
            }
            2 => {
                raw.namespaces
                    .entry(ns.clone())
                    .or_default()
                    .members
                    .insert(server);
                dirty.namespaces.insert(ns);
            }
            3 => {
                if let Some(n) = raw.namespaces.get_mut(&ns) {
                    n.members.remove(&server);
                }
                dirty.namespaces.insert(ns);
            }
            4 => {
                let seq = rng.below(100);
                let head = Head {
                    seq,
                    node: format!("_c_x-lock-{seq:010}"),
                    id: Some(server),
                };
                if let Some(n) = raw.namespaces.get_mut(&ns) {
                    n.head = (rng.below(3) > 0).then_some(head);
                }
                dirty.namespaces.insert(ns);
            }
            _ => {
                raw.namespaces.remove(&ns);
                dirty.namespaces.insert(ns);
            }
        }
    }

    /// The patch computed from what changed is exactly the full diff, and applying it gives
    /// the full view, over many random edit sequences.
    #[test]
    fn patch_of_what_changed_equals_the_full_diff() {
        let mut rng = Lcg(7);
        for round in 0..500 {
            let mut raw = Raw::default();
            let mut ignored = Dirty::default();
            for _ in 0..rng.below(30) {
                edit(&mut raw, &mut ignored, &mut rng);
            }
            let mut published = view_of(&raw, ZkState::Connected, 1);
            let mut dirty = Dirty::default();
            for _ in 0..1 + rng.below(6) {
                edit(&mut raw, &mut dirty, &mut rng);
            }
            let full = view_of(&raw, ZkState::Connected, 1);
            let mut patch = patch(&published, &raw, dirty);
            let changes: Vec<Change> = patch.take_changes().into_iter().map(|(c, _)| c).collect();
            assert_eq!(changes, diff(&published, &full), "round {round}");
            assert_eq!(patch.is_empty(), changes.is_empty(), "round {round}");
            patch.apply(&mut published);
            assert_eq!(published, full, "round {round}");
        }
    }

    #[test]
    fn bad_server_data_is_null() {
        assert_eq!(parse_server_data("a:1", b""), Value::Null);
        assert_eq!(parse_server_data("a:1", b"{oops"), Value::Null);
        assert_eq!(
            parse_server_data("a:1", b"{\"w\":2}"),
            serde_json::json!({"w": 2})
        );
    }
}
