//! The znode writes of a registration, each safe to repeat: an ephemeral that replaces one
//! left by another session, a delete that never touches another server's node, a persistent node
//! written only when its data differs. Previous hop: `registry.rs` (the driver).

use zookeeper_client as zk;

use crate::{Error, Result};

/// Creates (or updates) our ephemeral node at `path`, replacing a node left by another session.
pub(crate) async fn ensure_ephemeral(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    acls: zk::Acls<'_>,
) -> Result<()> {
    let me = client.session_id().0;
    let mode = zk::CreateMode::Ephemeral.with_acls(acls);
    for _ in 0..5 {
        match client.create(path, data, &mode).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(Error::zk("create", path, e)),
        }
        match client.get_data(path).await {
            Ok((current, stat)) if stat.ephemeral_owner == me => {
                if current == data {
                    return Ok(());
                }
                match client.set_data(path, data, Some(stat.version)).await {
                    Ok(_) => return Ok(()),
                    Err(zk::Error::BadVersion | zk::Error::NoNode) => {}
                    Err(e) => return Err(Error::zk("set_data", path, e)),
                }
            }
            Ok((_, stat)) => {
                tracing::info!(
                    path,
                    owner = format_args!("{:#x}", stat.ephemeral_owner),
                    "replacing a registration left by another session"
                );
                match client.delete(path, Some(stat.version)).await {
                    Ok(()) | Err(zk::Error::NoNode | zk::Error::BadVersion) => {}
                    Err(e) => return Err(Error::zk("delete", path, e)),
                }
            }
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(Error::zk("get_data", path, e)),
        }
    }
    Err(Error::zk("create", path, zk::Error::NodeExists))
}

/// Deletes `path` if it is an ephemeral of our session (never another server's node).
///
/// An expired session has nothing left to delete: ZooKeeper removed its ephemerals when it
/// expired it, so [`zk::Error::SessionExpired`] counts as done, like `NoNode`.
pub(crate) async fn delete_own(client: &zk::Client, path: &str) -> Result<()> {
    match client.check_stat(path).await {
        Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => {
            match client.delete(path, Some(stat.version)).await {
                Ok(()) | Err(zk::Error::NoNode | zk::Error::SessionExpired) => Ok(()),
                Err(e) => Err(Error::zk("delete", path, e)),
            }
        }
        Ok(_) | Err(zk::Error::SessionExpired) => Ok(()),
        Err(e) => Err(Error::zk("check_stat", path, e)),
    }
}

/// Creates a persistent node with `data`, or updates it if its data differs.
pub(crate) async fn put_persistent(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    acls: zk::Acls<'_>,
) -> Result<()> {
    let mode = zk::CreateMode::Persistent.with_acls(acls);
    match client.create(path, data, &mode).await {
        Ok(_) => return Ok(()),
        Err(zk::Error::NodeExists) => {}
        Err(e) => return Err(Error::zk("create", path, e)),
    }
    let (current, _) = client
        .get_data(path)
        .await
        .map_err(|e| Error::zk("get_data", path, e))?;
    if current != data {
        client
            .set_data(path, data, None)
            .await
            .map_err(|e| Error::zk("set_data", path, e))?;
    }
    Ok(())
}
