//! The HTTP gateway on a server's HTTP port (issue 13): `POST /ns/fn.json` and `.msgpack` with
//! the argument array as body, every status code of the table in `slacker_core::server::gateway`,
//! extensions from headers, `GET /functions`, and the body cap.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use slacker_core::server::gateway::APPLICATION_ERROR_HEADER;
use slacker_core::{remote, Server};
use slacker_tests::http::{self, HttpResponse};
use slacker_tests::DEADLINE;

/// Arithmetic and misbehaviour, for the gateway.
#[remote(namespace = "gw.calc")]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Divides, or says why not.
    async fn div(&self, a: i64, b: i64) -> Result<i64, String>;
    /// Panics.
    async fn boom(&self) -> u64;
    /// Sleeps `ms` milliseconds.
    async fn nap(&self, ms: u64) -> u64;
    /// The request extension `user`.
    async fn user(&self) -> String;
    /// Returns its bytes.
    async fn bytes(&self, data: Vec<u8>) -> Vec<u8>;
}

struct CalcImpl;

impl Calc for CalcImpl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn div(&self, a: i64, b: i64) -> Result<i64, String> {
        a.checked_div(b).ok_or_else(|| "division by zero".into())
    }
    async fn boom(&self) -> u64 {
        panic!("boom")
    }
    async fn nap(&self, ms: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms.min(30_000))).await;
        ms
    }
    async fn user(&self) -> String {
        slacker_core::context::current()
            .and_then(|c| c.extensions().get_str("user").map(str::to_owned))
            .unwrap_or_default()
    }
    async fn bytes(&self, data: Vec<u8>) -> Vec<u8> {
        data
    }
}

async fn server() -> (Server, SocketAddr) {
    let server = Server::builder()
        .service(CalcServer::new(CalcImpl))
        .http("127.0.0.1:0".parse().expect("addr"))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = server.http_addr().expect("http");
    (server, http)
}

async fn post(addr: SocketAddr, path: &str, body: &[u8], headers: &[(&str, &str)]) -> HttpResponse {
    http::request(addr, "POST", path, headers, body, DEADLINE)
        .await
        .expect("HTTP POST")
}

fn json_of(r: &HttpResponse) -> Value {
    r.json()
        .unwrap_or_else(|e| panic!("JSON body ({e}): {}", r.text()))
}

#[tokio::test]
async fn gateway_calls_in_json_and_msgpack_with_every_status() {
    let (server, addr) = server().await;

    let r = post(addr, "/gw.calc/add.json", b"[40, 2]", &[]).await;
    assert_eq!((r.status, json_of(&r)), (200, json!(42)));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header(APPLICATION_ERROR_HEADER), None);

    let body = rmp_serde::to_vec(&(40i64, 2i64)).expect("msgpack");
    let r = post(addr, "/gw.calc/add.msgpack", &body, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/msgpack"));
    assert_eq!(rmp_serde::from_slice::<i64>(&r.body).expect("msgpack"), 42);

    let bin = rmp_serde::to_vec(&(serde_bytes::ByteBuf::from(vec![1u8, 2, 3]),)).expect("bin");
    let r = post(addr, "/gw.calc/bytes.msgpack", &bin, &[]).await;
    let back: serde_bytes::ByteBuf = rmp_serde::from_slice(&r.body).expect("bin back");
    assert_eq!((r.status, back.into_vec()), (200, vec![1, 2, 3]));

    let r = post(addr, "/gw.calc/div.json", b"[1, 0]", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header(APPLICATION_ERROR_HEADER), Some("true"));
    assert_eq!(json_of(&r), json!("division by zero"));

    for (path, body, status, code) in [
        ("/gw.calc/nope.json", &b"[]"[..], 404, "unknown_function"),
        ("/gw.nope/add.json", b"[1, 2]", 404, "unknown_namespace"),
        ("/gw.calc/add.json", b"[\"a\", 2]", 400, "bad_arguments"),
        ("/gw.calc/add.json", b"{not json", 400, "bad_arguments"),
        ("/gw.calc/add.json", b"{\"a\": 1}", 400, "bad_arguments"),
        ("/gw.calc/add.xml", b"[1, 2]", 400, "bad_arguments"),
        ("/gw.calc/boom.json", b"[]", 500, "handler_panicked"),
        (
            "/gw.calc/nap.json?timeout=100",
            b"[5000]",
            504,
            "deadline_exceeded",
        ),
    ] {
        let r = post(addr, path, body, &[]).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let v = json_of(&r);
        assert_eq!(v["code"], code, "{path}: {v}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    let r = post(addr, "/gw.calc/add.json", b"[\"a\", 2]", &[]).await;
    assert!(
        json_of(&r)["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid type"),
        "serde's message: {}",
        r.text()
    );

    let r = post(
        addr,
        "/gw.calc/nap.json",
        b"[300]",
        &[("x-slacker-timeout-ms", "50")],
    )
    .await;
    assert_eq!(r.status, 504, "{}", r.text());

    let r = post(
        addr,
        "/gw.calc/user.json",
        b"[]",
        &[("x-slacker-ext-user", "ada")],
    )
    .await;
    assert_eq!((r.status, json_of(&r)), (200, json!("ada")));

    let big = vec![b' '; 2 * 1024 * 1024];
    let r = post(addr, "/gw.calc/add.json", &big, &[]).await;
    assert_eq!(r.status, 413, "a body over the cap");

    let r = http::get(addr, "/functions", DEADLINE).await.expect("GET");
    assert_eq!(r.status, 200);
    let v = json_of(&r);
    let ns = v["namespaces"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == "gw.calc"))
        .cloned()
        .expect("gw.calc listed");
    let add = ns["functions"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["name"] == "add"))
        .cloned()
        .expect("add listed");
    assert_eq!(add["args"], json!([["a", "i64"], ["b", "i64"]]));
    assert_eq!(add["doc"], "Adds two numbers.");
    let root = http::get(addr, "/", DEADLINE).await.expect("GET /");
    assert_eq!(root.json().expect("json"), v);

    // The gateway's calls are counted like any other.
    let metrics = http::get(addr, "/metrics", DEADLINE)
        .await
        .expect("metrics")
        .text();
    assert!(
        metrics.contains(
            r#"slacker_server_calls_total{code="success",function="add",namespace="gw.calc"} 2"#
        ),
        "{metrics}"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

/// `slacker gateway` in front of a 3-server cluster (real ZooKeeper): the call goes through
/// the cluster client, so `?grouping=all&results=map` reaches every server, a plain call goes
/// to one, an unknown function is 404 and a namespace nobody serves is 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_gateway_routes_through_the_cluster_client() {
    use slacker_examples::cluster_api::{Example, ExampleApiServer};
    use slacker_tests::{wait_until, LocalZooKeeper, TestProcess};
    use slacker_zk::ClusterServer;

    let zk = LocalZooKeeper::start().await.expect("zookeeper");
    let connect = zk.connect_string();
    let mut servers = Vec::new();
    for _ in 0..3 {
        let api = Example::new();
        let s = ClusterServer::builder("gw", connect.as_str())
            .service(ExampleApiServer::new(api.clone()))
            .bind("127.0.0.1:0")
            .await
            .expect("cluster server");
        api.set_addr(s.addr().to_string());
        servers.push(s);
    }
    let args = [
        "--zk",
        connect.as_str(),
        "--cluster",
        "gw",
        "gateway",
        "--listen",
        "127.0.0.1:0",
    ];
    let (mut gateway, url) = TestProcess::slacker(args, "gateway listening on http://")
        .await
        .expect("listening");
    let addr: SocketAddr = url.parse().expect("address");
    wait_until(DEADLINE, || async {
        post(
            addr,
            "/slacker.example.api/whoami.json?grouping=all&results=map",
            b"[]",
            &[],
        )
        .await
        .json()
        .ok()
        .and_then(|v| v.as_object().map(|o| o.len()))
            == Some(3)
    })
    .await
    .expect("the gateway sees the 3 servers");
    let r = post(
        addr,
        "/slacker.example.api/whoami.json?grouping=all&results=map",
        b"[]",
        &[],
    )
    .await;
    let map = json_of(&r);
    for s in &servers {
        assert_eq!(map[s.addr().as_str()], json!(s.addr().as_str()), "{map}");
    }
    let r = post(addr, "/slacker.example.api/echo.json", b"[\"hi\"]", &[]).await;
    assert_eq!((r.status, json_of(&r)), (200, json!("hi")));
    let r = post(addr, "/slacker.example.api/nope.json", b"[]", &[]).await;
    assert_eq!(r.status, 404, "{}", r.text());
    let r = post(addr, "/nobody.here/f.json", b"[]", &[]).await;
    assert_eq!(r.status, 503, "{}", r.text());
    let r = post(
        addr,
        "/slacker.example.api/echo.json?grouping=fastest",
        b"[\"x\"]",
        &[],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    gateway.kill().await.expect("stop the gateway");
    for s in servers {
        s.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}
