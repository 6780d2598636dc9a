//! Discovery's published view: a namespace's routing list (members that are registered servers,
//! the leader if it is one of them), and the [`Change`]s that turn one membership into the next.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use slacker_core::membership::{Change, ServerInfo};
use slacker_core::ServerAddr;

use super::{Membership, NamespaceView, RawNamespace};

/// The routing view of one namespace: members that are registered servers, and the leader if
/// it is one of them.
pub(super) fn routable(raw: &RawNamespace, servers: &BTreeMap<ServerAddr, Value>) -> NamespaceView {
    let members: Vec<ServerAddr> = raw
        .members
        .iter()
        .filter(|a| servers.contains_key(*a))
        .cloned()
        .collect();
    let leader = raw.leader.clone().filter(|l| members.contains(l));
    NamespaceView {
        servers: members,
        leader,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::reader::parse_server_data;
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
            leader: Some(addr("b:1")),
        };
        assert_eq!(
            routable(&raw, &servers),
            NamespaceView {
                servers: vec![addr("a:1")],
                leader: None
            }
        );
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
