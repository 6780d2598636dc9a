//! Inspect: a server describes its namespaces, functions, clients and call statistics.

use bytes::Bytes;
use slacker_core::inspect::InspectRequest;
use slacker_core::{
    Client, ClientOptions, ContentType, DispatchError, HandlerFuture, NamespaceInfo,
    NamespaceService, Server,
};
use slacker_tests::lab::{Lab, LabClient};

static GREETER: NamespaceInfo = NamespaceInfo {
    name: "greeter",
    doc: "Says hello.",
    methods: &[],
};

struct Greeter;

impl NamespaceService for Greeter {
    fn info(&self) -> &'static NamespaceInfo {
        &GREETER
    }

    fn dispatch(&self, _: &str, _: ContentType, _: Bytes) -> Result<HandlerFuture, DispatchError> {
        Err(DispatchError::UnknownFunction)
    }
}

#[tokio::test]
async fn inspect_lists_namespaces_functions_clients_and_stats() {
    let server = Server::builder()
        .service(Lab::default())
        .service(Greeter)
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let options = ClientOptions::default().name("inspector");
    let client = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    for i in 0..3 {
        lab.add(i, i).await.expect("add");
    }
    assert!(lab.div(1, 0).await.expect("call").is_err());

    let all = client
        .inspect(InspectRequest::default())
        .await
        .expect("inspect");
    let names: Vec<_> = all.namespaces.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["greeter", "lab"]);
    let lab_ns = &all.namespaces[1];
    assert_eq!(lab_ns.doc, "A namespace for tests.");
    let add = lab_ns
        .functions
        .iter()
        .find(|f| f.name == "add")
        .expect("add listed");
    assert_eq!(
        add.args,
        [
            ("a".to_owned(), "i64".to_owned()),
            ("b".to_owned(), "i64".to_owned())
        ]
    );
    assert_eq!(add.doc, "Adds two numbers.");

    assert_eq!(all.server.version, env!("CARGO_PKG_VERSION"));
    assert!(all.server.started_at_ms > 0);
    let me = all
        .server
        .clients
        .iter()
        .find(|c| c.name.as_deref() == Some("inspector"));
    let me = me.expect("this client is listed with its hello");
    assert_eq!(me.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert!(me.addr.starts_with("127.0.0.1:"));

    let stats = all.stats.expect("statistics are on by default");
    let add = stats
        .iter()
        .find(|s| s.function == "add")
        .expect("add counted");
    assert_eq!(
        (add.namespace.as_str(), add.calls, add.errors),
        ("lab", 3, 0)
    );
    assert!(add.p50_us <= add.p99_us && add.p99_us <= add.max_us);
    let div = stats
        .iter()
        .find(|s| s.function == "div")
        .expect("div counted");
    assert_eq!((div.calls, div.errors), (1, 1));

    let one = client
        .inspect(InspectRequest {
            namespace: Some("greeter".into()),
        })
        .await
        .expect("inspect one");
    assert_eq!(one.namespaces.len(), 1);
    assert_eq!(one.namespaces[0].name, "greeter");
}
