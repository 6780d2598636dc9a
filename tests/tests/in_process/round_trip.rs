//! Calls that succeed: both content types, typed stubs and call-by-name, fire-and-forget,
//! several namespaces on one port, and the call context a handler sees.

use std::time::Duration;

use serde_json::json;
use slacker_core::{CallOptions, Client, ClientOptions, ContentType, ServerOptions};
use slacker_tests::lab::{lab_server, LabClient};
use slacker_tests::{wait_until, within, DEADLINE};

async fn round_trip_in(content_type: ContentType) {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let options = ClientOptions::default().content_type(content_type);
    let client = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone());
    assert_eq!(lab.add(40, 2).await.expect("add"), 42);
    assert_eq!(lab.div(7, 2).await.expect("div"), Ok(3));
    assert_eq!(
        lab.echo(vec![0, 1, 255]).await.expect("echo"),
        vec![0, 1, 255]
    );
    let by_name = client
        .call_by_name("lab", "add", json!([1, 2]), CallOptions::default())
        .await
        .expect("call by name");
    assert_eq!(by_name, json!(3));
}

#[tokio::test]
async fn round_trip_messagepack() {
    within("round trip", round_trip_in(ContentType::MessagePack)).await;
}

#[tokio::test]
async fn round_trip_json() {
    within("round trip", round_trip_in(ContentType::Json)).await;
}

#[tokio::test]
async fn handler_sees_its_call_context() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let lab = LabClient::new(client.clone()).with_options(
        CallOptions::new()
            .timeout(Duration::from_secs(3))
            .extension("user", "ada"),
    );
    let me = lab.whoami().await.expect("whoami");
    assert_eq!(me.namespace, "lab");
    assert_eq!(me.function, "whoami");
    assert_eq!(me.user.as_deref(), Some("ada"));
    let left = me.deadline_ms.expect("a deadline was sent");
    assert!(left > 0 && left <= 3000, "{left} ms left of 3000");
    assert!(me.peer.starts_with("127.0.0.1:"), "{}", me.peer);
}

#[tokio::test]
async fn fire_and_forget_runs_without_a_reply() {
    let (server, probe) = lab_server(ServerOptions::default()).await;
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let sent = client
        .call_by_name(
            "lab",
            "count",
            json!(null),
            CallOptions {
                fire_and_forget: true,
                ..CallOptions::default()
            },
        )
        .await
        .expect("notify");
    assert_eq!(sent, json!(null));
    let typed = LabClient::new(client.clone());
    wait_until(DEADLINE, || async {
        probe.ran.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await
    .expect("the notified call ran");
    assert_eq!(client.in_flight(), 0);
    assert_eq!(typed.count().await.expect("count"), 2);
}

/// `whoami` as a method declaring `timeout_ms = 1500`.
static WHOAMI_WITH_TIMEOUT: slacker_core::MethodInfo = slacker_core::MethodInfo {
    namespace: "lab",
    name: "whoami",
    args: &[],
    returns: "Whoami",
    doc: "",
    timeout: Some(Duration::from_millis(1500)),
    grouping: None,
    results: slacker_core::ResultsMode::Single,
    exceptions: None,
    has_unavailable_value: false,
    returns_unit: false,
    retries: 0,
};

#[tokio::test]
async fn timeout_precedence_is_call_then_method_then_client() {
    let (server, _) = lab_server(ServerOptions::default()).await;
    let options = ClientOptions::default().timeout(Duration::from_secs(4));
    let client = Client::connect(server.local_addr(), options)
        .await
        .expect("connect");
    let deadline_seen = |opts: CallOptions, method: &'static slacker_core::MethodInfo| {
        let client = client.clone();
        async move {
            let call = slacker_core::__private::build_call(
                &client,
                method,
                &slacker_core::__private::NoArgs,
                &opts,
            )
            .expect("call");
            let r = client.call_one(call).await.expect("whoami");
            let me: slacker_tests::lab::Whoami =
                slacker_core::serialization::decode(r.content_type, &r.payload).expect("decode");
            me.deadline_ms.expect("deadline sent")
        }
    };
    let client_default =
        deadline_seen(CallOptions::new(), &slacker_tests::lab::LAB_METHODS[5]).await;
    assert!((3000..=4000).contains(&client_default), "{client_default}");
    let per_method = deadline_seen(CallOptions::new(), &WHOAMI_WITH_TIMEOUT).await;
    assert!((500..=1500).contains(&per_method), "{per_method}");
    let per_call = deadline_seen(
        CallOptions::new().timeout(Duration::from_millis(300)),
        &WHOAMI_WITH_TIMEOUT,
    )
    .await;
    assert!(per_call <= 300, "{per_call}");
}

static RELAY: slacker_core::NamespaceInfo = slacker_core::NamespaceInfo {
    name: "relay",
    doc: "",
    methods: &[],
};

/// Calls `lab.whoami` on another server from inside its handler.
struct Relay(Client);

impl slacker_core::NamespaceService for Relay {
    fn info(&self) -> &'static slacker_core::NamespaceInfo {
        &RELAY
    }

    fn dispatch(
        &self,
        _: &str,
        ct: ContentType,
        _: bytes::Bytes,
    ) -> Result<slacker_core::HandlerFuture, slacker_core::DispatchError> {
        let downstream = LabClient::new(self.0.clone());
        Ok(Box::pin(async move {
            let seen = downstream.whoami().await.ok().and_then(|me| me.deadline_ms);
            slacker_core::__private::output_value(ct, &seen)
        }))
    }
}

#[tokio::test]
async fn calls_from_inside_a_handler_inherit_its_deadline() {
    let (lab, _) = lab_server(ServerOptions::default()).await;
    // The downstream client's own default is 10 s.
    let downstream = Client::connect(lab.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let relay = slacker_core::Server::builder()
        .service(Relay(downstream))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let client = Client::connect(relay.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let seen = client
        .call_by_name(
            "relay",
            "whoami",
            json!(null),
            CallOptions::new().timeout(Duration::from_secs(2)),
        )
        .await
        .expect("relay");
    let left = seen
        .as_u64()
        .expect("the downstream handler saw a deadline");
    assert!(
        left <= 2000,
        "downstream deadline {left} ms is capped by the upstream 2 s"
    );
}
