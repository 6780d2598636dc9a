//! The cluster's view on a server's HTTP endpoint (`ClusterServerBuilder::http`): health from
//! the registration, and the ZooKeeper gauges. Previous hop: `registry.rs` builds the server
//! with [`ServerView::http_extension`] and attaches the registered server once it exists; next
//! hop: slacker-core's `server/http.rs`, which serves `/health` and `/metrics`.

use std::sync::{Arc, OnceLock, Weak};

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use slacker_core::server::HttpExtension;

use crate::server::ManagedServer;
use crate::session::ZkState;

/// A late-bound view of the registered server: the HTTP endpoint starts with the RPC port,
/// before the registration exists, and answers "not registered" until then.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerView {
    server: Arc<OnceLock<Weak<dyn ManagedServer>>>,
}

impl ServerView {
    pub(crate) fn attach(&self, server: Weak<dyn ManagedServer>) {
        let _ = self.server.set(server);
    }

    fn server(&self) -> Option<Arc<dyn ManagedServer>> {
        self.server.get().and_then(Weak::upgrade)
    }

    /// `/health`: 503 before registration, after it closed, and while every namespace is
    /// offline. `/metrics`: `slacker_zookeeper_connected` and `slacker_leader{namespace}`.
    pub(crate) fn http_extension(&self) -> HttpExtension {
        let registry = Registry::new_custom(Some("slacker".into()), None).unwrap_or_default();
        let connected = IntGauge::new(
            "zookeeper_connected",
            "1 while the server's ZooKeeper session is connected.",
        )
        .ok();
        let leader = IntGaugeVec::new(
            Opts::new(
                "leader",
                "1 on the leader of the namespace's election, else 0.",
            ),
            &["namespace"],
        )
        .ok();
        for metric in [
            connected
                .clone()
                .map(|m| Box::new(m) as Box<dyn prometheus::core::Collector>),
            leader
                .clone()
                .map(|m| Box::new(m) as Box<dyn prometheus::core::Collector>),
        ]
        .into_iter()
        .flatten()
        {
            if let Err(e) = registry.register(metric) {
                tracing::error!(error = %e, "metric not registered");
            }
        }
        let (for_health, for_metrics) = (self.clone(), self.clone());
        HttpExtension::new()
            .registry(registry)
            .before_scrape(move || {
                let Some(server) = for_metrics.server() else {
                    return;
                };
                let registration = server.registration();
                let state = registration.state().borrow().clone();
                if let Some(g) = &connected {
                    g.set(i64::from(state.zk == ZkState::Connected));
                }
                if let Some(g) = &leader {
                    let leading = registration.leading();
                    for ns in state.namespaces.keys() {
                        g.with_label_values(&[ns.as_str()])
                            .set(i64::from(leading.contains(ns)));
                    }
                }
            })
            .health_check(move || {
                let server = for_health
                    .server()
                    .ok_or_else(|| "not registered in the cluster yet".to_owned())?;
                let state = server.registration().state().borrow().clone();
                if state.zk == ZkState::Closed {
                    return Err("the registration is closed".into());
                }
                if !state.namespaces.is_empty() && state.namespaces.values().all(|on| !on) {
                    return Err("offline: no namespace is announced".into());
                }
                Ok(())
            })
    }
}
