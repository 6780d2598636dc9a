//! The znodes of an election, named and ordered exactly as Apache Curator's `LeaderSelector`
//! does it (see [Node layout](super#node-layout)), so slacker and Curator participants can share
//! one election path. Every election path and node name is formatted here.
//!
//! * `_c_<uuid>-` is Curator's "protection" prefix: a fresh UUID per join, so a client whose
//!   create failed with `ConnectionLoss` finds out whether the node exists by listing children.
//! * `lock-` is the lock name of Curator's `InterProcessMutex`; queue order is the text after its
//!   last occurrence (the 10-digit sequence), lowest first (`fixForSorting`).

use zookeeper_client as zk;
use zookeeper_client::MultiReadResult;

/// Curator's lock name for `LeaderSelector` and `InterProcessMutex` nodes.
const LOCK_NAME: &str = "lock-";

/// One member of an election queue, as stored in ZooKeeper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// The participant id: the node's data (Curator's `LeaderSelector.setId`).
    pub id: String,
    /// The lock node's name under the election path (`_c_<uuid>-lock-<sequence>`).
    pub node: String,
}

/// The protection marker of one create attempt: `_c_<uuid>-`.
pub(crate) fn protection(uuid: &uuid::Uuid) -> String {
    format!("_c_{uuid}-")
}

/// The path to create (ZooKeeper appends the sequence): `<path>/_c_<uuid>-lock-`.
/// The protection marker of a lock node's name (`_c_<uuid>-`), or `""` without one.
pub(crate) fn protection_of(node: &str) -> &str {
    match node.rfind(LOCK_NAME) {
        Some(at) if node.starts_with("_c_") => &node[..at],
        _ => "",
    }
}

pub(crate) fn node_prefix(path: &str, protection: &str) -> String {
    format!("{path}/{protection}{LOCK_NAME}")
}

/// The name ZooKeeper gives a created lock node: `_c_<uuid>-lock-<sequence>`.
pub(crate) fn node_name(protection: &str, sequence: zk::CreateSequence) -> String {
    format!("{protection}{LOCK_NAME}{sequence}")
}

/// The full path of a child node of the election path.
pub(crate) fn node_path(path: &str, node: &str) -> String {
    format!("{path}/{node}")
}

/// The parent of an election path that is not a top-level node (`/a/b` -> `/a`).
pub(crate) fn parent(path: &str) -> &str {
    path.rfind('/').map_or(path, |slash| &path[..slash])
}

/// The sequence text of a lock node (after the last `lock-`), if it is one.
/// A lock node's sequence number, if `node` is a lock node.
pub(crate) fn sequence_number(node: &str) -> Option<u64> {
    sequence(node)?.parse().ok()
}

fn sequence(node: &str) -> Option<&str> {
    let start = node.rfind(LOCK_NAME)? + LOCK_NAME.len();
    let sequence = &node[start..];
    (!sequence.is_empty() && sequence.bytes().all(|b| b.is_ascii_digit())).then_some(sequence)
}

/// Keeps the lock nodes of a child listing and sorts them into queue order (Curator's
/// `StandardLockInternalsDriver.fixForSorting`): the first one leads.
pub(crate) fn queue(mut children: Vec<String>) -> Vec<String> {
    children.retain(|child| sequence(child).is_some());
    children.sort_by(|a, b| sequence(a).cmp(&sequence(b)).then_with(|| a.cmp(b)));
    children
}

/// Reads the participants of an election in queue order: the first one is the leader.
///
/// This is what Curator's `LeaderSelector.getParticipants()` reports. Nodes that vanish while
/// being read are skipped. The data is read in one multi-read, so the ids are a consistent
/// snapshot of the nodes that were listed.
///
/// # Errors
/// Any ZooKeeper error other than a missing election path (which means no participants), e.g.
/// [`zk::Error::ConnectionLoss`] or [`zk::Error::SessionExpired`].
pub async fn participants(client: &zk::Client, path: &str) -> Result<Vec<Participant>, zk::Error> {
    let children = match client.list_children(path).await {
        Err(zk::Error::NoNode) => return Ok(Vec::new()),
        result => result?,
    };
    read_participants(client, path, queue(children)).await
}

/// Reads the id of the current leader of an election (Curator's `LeaderSelector.getLeader()`):
/// the data of the first lock node in queue order, or `None` when nobody contends.
///
/// # Errors
/// Any ZooKeeper error other than a missing election path or lock node, e.g.
/// [`zk::Error::ConnectionLoss`] or [`zk::Error::SessionExpired`].
pub async fn current_leader(client: &zk::Client, path: &str) -> Result<Option<String>, zk::Error> {
    let children = match client.list_children(path).await {
        Err(zk::Error::NoNode) => return Ok(None),
        result => result?,
    };
    for node in queue(children) {
        match client.get_data(&node_path(path, &node)).await {
            Ok((data, _)) => return Ok(Some(id_of(&data))),
            // The leader left between the listing and the read: the next one leads.
            Err(zk::Error::NoNode) => continue,
            Err(err) => return Err(err),
        }
    }
    Ok(None)
}

/// Reads the ids of the given lock nodes (already in queue order) in one multi-read.
pub(crate) async fn read_participants(
    client: &zk::Client,
    path: &str,
    nodes: Vec<String>,
) -> Result<Vec<Participant>, zk::Error> {
    let mut reader = client.new_multi_reader();
    for node in &nodes {
        reader.add_get_data(&node_path(path, node))?;
    }
    let results = reader.commit().await?;
    let mut participants = Vec::with_capacity(nodes.len());
    for (node, result) in nodes.into_iter().zip(results) {
        match result {
            MultiReadResult::Data { data, .. } => participants.push(Participant {
                id: id_of(&data),
                node,
            }),
            MultiReadResult::Error {
                err: zk::Error::NoNode,
            } => {}
            MultiReadResult::Error { err } => return Err(err),
            _ => {
                return Err(zk::Error::UnexpectedError(
                    "not data in a data multi-read".into(),
                ))
            }
        }
    }
    Ok(participants)
}

/// A participant id from node data; Curator writes UTF-8, anything else is shown lossily.
pub(crate) fn id_of(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_orders_by_sequence_not_by_uuid() {
        let children = vec![
            "_c_ffff-lock-0000000003".to_string(),
            "_c_0000-lock-0000000010".to_string(),
            "_c_aaaa-lock-0000000001".to_string(),
            "unrelated".to_string(),
            "_c_bbbb-lock-".to_string(),
        ];
        assert_eq!(
            queue(children),
            [
                "_c_aaaa-lock-0000000001",
                "_c_ffff-lock-0000000003",
                "_c_0000-lock-0000000010"
            ]
        );
    }

    #[test]
    fn protection_of_a_node_is_its_marker() {
        let protection = protection(&uuid::Uuid::nil());
        let node = format!("{protection}{LOCK_NAME}0000000007");
        assert_eq!(protection_of(&node), protection);
        assert_eq!(protection_of("lock-0000000007"), "");
    }

    #[test]
    fn sequence_is_after_the_last_lock_name() {
        // A participant-chosen uuid cannot contain "lock-", but the parse must not care.
        assert_eq!(sequence("_c_x-lock-y-lock-0000000042"), Some("0000000042"));
        assert_eq!(sequence("_c_x-lock-00a"), None);
    }

    #[test]
    fn protected_prefix_matches_curator() {
        let uuid = uuid::Uuid::nil();
        let protection = protection(&uuid);
        assert_eq!(
            node_prefix("/e", &protection),
            "/e/_c_00000000-0000-0000-0000-000000000000-lock-"
        );
    }
}
