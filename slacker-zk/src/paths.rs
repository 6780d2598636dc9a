//! Every ZooKeeper path slacker reads or writes is built (and parsed back) here, so the tree in
//! the crate docs is the whole truth and a namespace called `servers` can never be mistaken for
//! the `servers` directory (slacker-cluster matched event paths with substring tests).
//!
//! ```text
//! <root>/<cluster>/servers/<host:port>                 EPHEMERAL   server-data JSON
//! <root>/<cluster>/namespaces/<ns>                      PERSISTENT
//! <root>/<cluster>/namespaces/<ns>/<host:port>          EPHEMERAL   empty
//! <root>/<cluster>/namespaces/<ns>/_leader              PERSISTENT  leader host:port
//! <root>/<cluster>/namespaces/<ns>/_leader/mutex/_c_<uuid>-lock-<seq>   EPHEMERAL_SEQUENTIAL
//! <root>/<cluster>/functions/<ns>/<fn>                  PERSISTENT  FunctionDesc JSON
//! ```

use crate::{Error, Result};

/// The default root under which clusters live.
pub const DEFAULT_ROOT: &str = "/slacker/cluster";

/// Name of the leader node under each namespace; children of a namespace starting with `_` are
/// never servers.
const LEADER: &str = "_leader";
/// Name of the election directory under the leader node.
const MUTEX: &str = "mutex";

/// The paths of one cluster: `<root>/<cluster>/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPaths {
    base: String,
}

/// What a path under the cluster's base is (used to route watch events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node<'a> {
    /// The base node itself.
    Base,
    /// `servers`.
    Servers,
    /// `servers/<addr>`.
    Server(&'a str),
    /// `namespaces`.
    Namespaces,
    /// `namespaces/<ns>`.
    Namespace(&'a str),
    /// `namespaces/<ns>/<addr>`.
    NamespaceServer(&'a str, &'a str),
    /// `namespaces/<ns>/_leader` itself.
    Leader(&'a str),
    /// `namespaces/<ns>/_leader/mutex` itself (or anything deeper than its lock nodes).
    Election(&'a str),
    /// `namespaces/<ns>/_leader/mutex/<node>`: one participant's lock node.
    LockNode(&'a str, &'a str),
    /// Anything else (function metadata, foreign nodes).
    Other,
}

impl ClusterPaths {
    /// Paths of `cluster` under `root` (`/slacker/cluster` by default; `/` is allowed).
    ///
    /// # Errors
    /// [`Error::Config`] if `root` is not absolute or `cluster` is not a valid node name.
    pub fn new(root: &str, cluster: &str) -> Result<Self> {
        if !root.starts_with('/') || root.contains("//") {
            return Err(Error::Config(format!(
                "ZooKeeper root `{root}` must be an absolute path"
            )));
        }
        check_name("cluster name", cluster)?;
        let root = root.trim_end_matches('/');
        Ok(Self {
            base: format!("{root}/{cluster}"),
        })
    }

    /// `<root>/<cluster>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `<root>/<cluster>/servers`.
    pub fn servers(&self) -> String {
        format!("{}/servers", self.base)
    }

    /// `<root>/<cluster>/servers/<addr>`.
    pub fn server(&self, addr: &str) -> String {
        format!("{}/servers/{addr}", self.base)
    }

    /// `<root>/<cluster>/namespaces`.
    pub fn namespaces(&self) -> String {
        format!("{}/namespaces", self.base)
    }

    /// `<root>/<cluster>/namespaces/<ns>`.
    pub fn namespace(&self, ns: &str) -> String {
        format!("{}/namespaces/{ns}", self.base)
    }

    /// `<root>/<cluster>/namespaces/<ns>/<addr>`.
    pub fn namespace_server(&self, ns: &str, addr: &str) -> String {
        format!("{}/namespaces/{ns}/{addr}", self.base)
    }

    /// `<root>/<cluster>/namespaces/<ns>/_leader`.
    pub fn leader(&self, ns: &str) -> String {
        format!("{}/namespaces/{ns}/{LEADER}", self.base)
    }

    /// `<root>/<cluster>/namespaces/<ns>/_leader/mutex`: the election's lock nodes live here.
    pub fn leader_mutex(&self, ns: &str) -> String {
        format!("{}/namespaces/{ns}/{LEADER}/{MUTEX}", self.base)
    }

    /// `<root>/<cluster>/functions/<ns>`.
    pub fn functions(&self, ns: &str) -> String {
        format!("{}/functions/{ns}", self.base)
    }

    /// `<root>/<cluster>/functions/<ns>/<function>`.
    pub fn function(&self, ns: &str, function: &str) -> String {
        format!("{}/functions/{ns}/{function}", self.base)
    }

    /// Classifies an absolute path (as delivered by a watch on [`ClusterPaths::base`]).
    pub fn parse<'a>(&self, path: &'a str) -> Node<'a> {
        let Some(rest) = path.strip_prefix(self.base.as_str()) else {
            return Node::Other;
        };
        if rest.is_empty() {
            return Node::Base;
        }
        let Some(rest) = rest.strip_prefix('/') else {
            return Node::Other;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["servers"] => Node::Servers,
            ["servers", addr] => Node::Server(addr),
            ["namespaces"] => Node::Namespaces,
            ["namespaces", ns] => Node::Namespace(ns),
            ["namespaces", ns, LEADER] => Node::Leader(ns),
            ["namespaces", ns, LEADER, MUTEX, node] => Node::LockNode(ns, node),
            ["namespaces", ns, LEADER, MUTEX, ..] => Node::Election(ns),
            ["namespaces", ns, child] if !child.starts_with('_') => {
                Node::NamespaceServer(ns, child)
            }
            _ => Node::Other,
        }
    }
}

/// True if a child of `namespaces/<ns>` names a server (names starting with `_` never do).
pub fn is_server_child(name: &str) -> bool {
    !name.starts_with('_')
}

/// Checks that `name` can be one node name: not empty, no `/`, not `.`/`..`, no leading `_`
/// (reserved for slacker's own nodes).
///
/// # Errors
/// [`Error::Config`] naming `what`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.contains('/')
        || name == "."
        || name == ".."
        || name.starts_with('_')
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::Config(format!(
            "{what} `{name}` is not a valid ZooKeeper node name (empty, `/`, `.`, `..` or a leading `_`)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_parses_every_path() {
        let p = ClusterPaths::new("/slacker/cluster/", "c1").expect("valid");
        assert_eq!(p.base(), "/slacker/cluster/c1");
        assert_eq!(
            p.server("1.2.3.4:5"),
            "/slacker/cluster/c1/servers/1.2.3.4:5"
        );
        assert_eq!(
            p.leader_mutex("a.b"),
            "/slacker/cluster/c1/namespaces/a.b/_leader/mutex"
        );
        assert_eq!(
            p.function("a.b", "f"),
            "/slacker/cluster/c1/functions/a.b/f"
        );
        assert_eq!(p.parse(p.base()), Node::Base);
        assert_eq!(p.parse(&p.servers()), Node::Servers);
        assert_eq!(p.parse(&p.server("h:1")), Node::Server("h:1"));
        assert_eq!(p.parse(&p.namespaces()), Node::Namespaces);
        // a namespace named like a directory is still a namespace
        assert_eq!(p.parse(&p.namespace("servers")), Node::Namespace("servers"));
        assert_eq!(
            p.parse(&p.namespace_server("servers", "h:1")),
            Node::NamespaceServer("servers", "h:1")
        );
        assert_eq!(p.parse(&p.leader("n")), Node::Leader("n"));
        assert_eq!(p.parse(&p.leader_mutex("n")), Node::Election("n"));
        assert_eq!(
            p.parse(&format!("{}/_c_x-lock-0000000001", p.leader_mutex("n"))),
            Node::LockNode("n", "_c_x-lock-0000000001")
        );
        assert_eq!(p.parse(&p.function("n", "f")), Node::Other);
        assert_eq!(p.parse("/slacker/cluster/c10/servers"), Node::Other);
        assert_eq!(p.parse("/elsewhere"), Node::Other);
    }

    #[test]
    fn root_slash_and_bad_names() {
        assert_eq!(ClusterPaths::new("/", "c").expect("valid").base(), "/c");
        assert!(ClusterPaths::new("relative", "c").is_err());
        assert!(ClusterPaths::new("/r", "a/b").is_err());
        assert!(ClusterPaths::new("/r", "").is_err());
        assert!(check_name("namespace", "_hidden").is_err());
        assert!(check_name("namespace", "slacker.example.api").is_ok());
    }

    #[test]
    fn leader_children_are_not_servers() {
        assert!(!is_server_child("_leader"));
        assert!(is_server_child("10.0.0.1:7000"));
    }
}
