//! kazoo (Python's ZooKeeper client) as an independent oracle: what our code wrote to ZooKeeper,
//! as seen by a client that shares none of our code.
//!
//! Each call runs `/usr/bin/python3 -c <script>` (Debian's python with `python3-kazoo`; the
//! `python3` first on PATH may be another one without kazoo), which connects, reads and prints
//! JSON. About a quarter of a second per call: fine for assertions, not for loops over thousands
//! of nodes.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

const PYTHON: &str = "/usr/bin/python3";
/// Bound on one kazoo run (python start, connect, read).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads one node (`node`) or a subtree (`tree`), printing a JSON list of nodes on stdout.
const SCRIPT: &str = r#"
import json, sys
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

hosts, mode, root = sys.argv[1:4]
zk = KazooClient(hosts=hosts, timeout=10.0)
zk.start(timeout=20)

def read(path):
    try:
        data, stat = zk.get(path)
        children = sorted(zk.get_children(path))
    except NoNodeError:
        return None
    return {"path": path, "data": list(data or b""), "ephemeral_owner": stat.ephemeralOwner,
            "version": stat.version, "children": children}

def walk(path, out):
    node = read(path)
    if node is None:
        return
    out.append(node)
    for child in node["children"]:
        full = path.rstrip("/") + "/" + child
        if full != "/zookeeper":
            walk(full, out)

nodes = []
if mode == "node":
    node = read(root)
    nodes = [] if node is None else [node]
else:
    walk(root, nodes)
zk.stop()
zk.close()
print(json.dumps(nodes))
"#;

/// Why kazoo could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KazooError {
    /// Debian's python or its kazoo module is missing.
    #[error(
        "kazoo is not available ({detail}): install it with `apt-get install -y python3-kazoo`"
    )]
    NotInstalled {
        /// What was missing.
        detail: String,
    },

    /// python could not be run, or did not finish within 60 s.
    #[error("running kazoo: {0}")]
    Io(#[from] std::io::Error),

    /// The script failed (e.g. it could not connect).
    #[error("kazoo failed ({status}):\n{stderr}")]
    Failed {
        /// python's exit status.
        status: std::process::ExitStatus,
        /// python's stderr (the traceback).
        stderr: String,
    },

    /// The script printed something that is not the expected JSON.
    #[error("kazoo printed unexpected output ({error}): {stdout}")]
    BadOutput {
        /// The parse error.
        error: serde_json::Error,
        /// What it printed.
        stdout: String,
    },
}

/// A znode as kazoo sees it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ZNode {
    /// Absolute path.
    pub path: String,
    /// The node's data.
    pub data: Vec<u8>,
    /// Session id owning the node if ephemeral, else 0.
    pub ephemeral_owner: i64,
    /// Data version.
    pub version: i32,
    /// Child names, sorted.
    pub children: Vec<String>,
}

impl ZNode {
    /// Whether the node is ephemeral (has an owning session).
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral_owner != 0
    }

    /// The data parsed as JSON.
    ///
    /// # Errors
    ///
    /// The parse error when the data is not JSON of type `T`.
    pub fn data_json<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_slice(&self.data)
    }
}

/// Reads ZooKeeper through kazoo.
#[derive(Debug, Clone)]
pub struct Kazoo {
    hosts: String,
}

impl Kazoo {
    /// A reader for the ensemble at `hosts` (`127.0.0.1:PORT[,...]`, as for any client).
    pub fn new(hosts: impl Into<String>) -> Self {
        Self {
            hosts: hosts.into(),
        }
    }

    /// The node at `path`, or `None` if it does not exist.
    ///
    /// # Errors
    ///
    /// See [`KazooError`].
    pub async fn node(&self, path: &str) -> Result<Option<ZNode>, KazooError> {
        Ok(self.run("node", path).await?.pop())
    }

    /// The sorted child names of `path`, or `None` if it does not exist.
    ///
    /// # Errors
    ///
    /// See [`KazooError`].
    pub async fn children(&self, path: &str) -> Result<Option<Vec<String>>, KazooError> {
        Ok(self.node(path).await?.map(|node| node.children))
    }

    /// `root` and every node below it (without `/zookeeper`), by path; empty if `root` does not
    /// exist.
    ///
    /// # Errors
    ///
    /// See [`KazooError`].
    pub async fn tree(&self, root: &str) -> Result<BTreeMap<String, ZNode>, KazooError> {
        let nodes = self.run("tree", root).await?;
        Ok(nodes
            .into_iter()
            .map(|node| (node.path.clone(), node))
            .collect())
    }

    async fn run(&self, mode: &str, path: &str) -> Result<Vec<ZNode>, KazooError> {
        let run = Command::new(PYTHON)
            .args(["-c", SCRIPT, &self.hosts, mode, path])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(RUN_TIMEOUT, run).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KazooError::NotInstalled {
                    detail: format!("{PYTHON} not found"),
                })
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {RUN_TIMEOUT:?}"),
                )
                .into())
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            if stderr.contains("No module named 'kazoo'") {
                return Err(KazooError::NotInstalled {
                    detail: "no kazoo module".to_owned(),
                });
            }
            return Err(KazooError::Failed {
                status: output.status,
                stderr,
            });
        }
        serde_json::from_slice(&output.stdout).map_err(|error| KazooError::BadOutput {
            error,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use zookeeper_client::{Acls, Client, CreateMode};

    use super::Kazoo;
    use crate::{wait_until, LocalZooKeeper, DEADLINE};

    #[tokio::test]
    async fn kazoo_sees_what_another_client_wrote() {
        let zk = LocalZooKeeper::start().await.expect("start ZooKeeper");
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(&zk.connect_string())
            .await
            .expect("connect");
        let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let ephemeral = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        client
            .create("/k", b"hello", &persistent)
            .await
            .expect("create");
        client
            .create("/k/c", b"", &persistent)
            .await
            .expect("create");
        client
            .create("/k/c/d", &[0, 255], &persistent)
            .await
            .expect("create");
        client
            .create("/k/e", br#"{"port":7}"#, &ephemeral)
            .await
            .expect("create");
        client
            .set_data("/k", b"hello again", None)
            .await
            .expect("set_data");

        let kazoo = Kazoo::new(zk.connect_string());
        let root = kazoo.node("/k").await.expect("kazoo").expect("/k exists");
        assert_eq!(root.data, b"hello again");
        assert_eq!(root.version, 1);
        assert_eq!(root.children, ["c", "e"]);
        assert!(!root.is_ephemeral());

        let eph = kazoo
            .node("/k/e")
            .await
            .expect("kazoo")
            .expect("/k/e exists");
        assert_eq!(eph.ephemeral_owner, client.session_id().0);
        assert_eq!(
            eph.data_json::<serde_json::Value>().expect("json"),
            serde_json::json!({"port": 7})
        );

        assert_eq!(kazoo.node("/missing").await.expect("kazoo"), None);
        assert_eq!(
            kazoo.children("/k/c").await.expect("kazoo"),
            Some(vec!["d".to_owned()])
        );
        let tree = kazoo.tree("/k").await.expect("kazoo");
        assert_eq!(
            tree.keys().collect::<Vec<_>>(),
            ["/k", "/k/c", "/k/c/d", "/k/e"]
        );
        assert_eq!(tree["/k/c/d"].data, [0, 255]);
        assert!(!kazoo
            .tree("/")
            .await
            .expect("kazoo")
            .contains_key("/zookeeper"));

        drop(client); // closes the session: its ephemeral goes
        wait_until(DEADLINE, || async {
            kazoo.node("/k/e").await.ok() == Some(None)
        })
        .await
        .expect("ephemeral removed with its session");
    }
}
