//! ZooKeeper digest ACLs (`ZkAuth`) against a real ZooKeeper: a server with the cluster secret
//! registers; ZooKeeper itself refuses (`NoAuth`) writes by a session without the secret or
//! with a wrong one; discovery without the secret still reads the cluster.

use std::time::Duration;

use serde_json::json;
use slacker_core::{NamespaceInfo, ServerAddr};
use slacker_tests::{wait_until, LocalZooKeeper, DEADLINE};
use slacker_zk::{Discovery, DiscoveryOptions, Registration, RegistryOptions, ZkAuth};
use zookeeper_client as zk;

static ECHO: NamespaceInfo = NamespaceInfo {
    name: "test.echo",
    doc: "",
    methods: &[],
};

const CLUSTER: &str = "secured";

fn registry(connect: &str, auth: Option<ZkAuth>) -> RegistryOptions {
    let mut o = RegistryOptions::new(CLUSTER, connect);
    o.zk.session_timeout = Duration::from_secs(4);
    o.zk.auth = auth;
    o
}

fn assert_no_auth<T: std::fmt::Debug>(what: &str, r: Result<T, zk::Error>) {
    assert!(
        matches!(r, Err(zk::Error::NoAuth)),
        "{what}: expected NoAuth, got {r:?}"
    );
}

#[tokio::test]
async fn only_the_secret_writes_and_everyone_reads() {
    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let secret = ZkAuth::digest("slacker", "s3cret");

    let addr = ServerAddr::from("127.0.0.1:7301");
    let mut opts = registry(&connect, Some(secret.clone()));
    opts.server_data = json!({"zone": "a"});
    let reg = Registration::start(opts, addr.clone(), &[&ECHO])
        .await
        .expect("a server with the secret registers");
    let paths = reg.paths().clone();
    let server = paths.server(addr.as_str());
    let intruder = format!("{}/127.0.0.1:6666", paths.servers());
    let ns_intruder = paths.namespace_server("test.echo", "127.0.0.1:6666");
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());

    let anonymous = zk::Client::connect(&connect).await.expect("raw client");
    let wrong = zk::Client::connector()
        .with_auth("digest", b"slacker:wrong")
        .connect(&connect)
        .await
        .expect("raw client, wrong secret");
    for (who, client) in [("anonymous", &anonymous), ("wrong secret", &wrong)] {
        assert_no_auth(who, client.create(&intruder, b"", &ephemeral).await);
        assert_no_auth(who, client.create(&ns_intruder, b"", &ephemeral).await);
        assert_no_auth(who, client.set_data(&server, b"{}", None).await);
        assert_no_auth(who, client.delete(&server, None).await);
        let (data, _) = client.get_data(&server).await.expect("reads stay open");
        assert_eq!(data, br#"{"zone":"a"}"#);
    }

    // A whole server without the secret, or with the wrong one, cannot register.
    for auth in [None, Some(ZkAuth::digest("slacker", "wrong"))] {
        let other = ServerAddr::from("127.0.0.1:7302");
        let err = Registration::start(registry(&connect, auth), other, &[&ECHO])
            .await
            .expect_err("registration without the secret must fail");
        assert!(
            err.to_string().contains("NoAuth") || format!("{err:?}").contains("NoAuth"),
            "{err:?}"
        );
    }

    // Discovery only reads: no secret needed.
    let mut dopts = DiscoveryOptions::new(&connect);
    dopts.zk.session_timeout = Duration::from_secs(4);
    let (disc, _changes) = Discovery::start(CLUSTER, dopts).await.expect("discovery");
    let view = disc.membership();
    wait_until(DEADLINE, || {
        let view = view.borrow().clone();
        let ok = view.servers_of("test.echo") == [addr.clone()]
            && view.servers.get(&addr) == Some(&json!({"zone": "a"}));
        async move { ok }
    })
    .await
    .expect("discovery without the secret sees the secured server");
    reg.close().await.expect("close");
}
