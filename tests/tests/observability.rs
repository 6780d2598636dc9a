//! Observability (issue 12) with default options: the HTTP endpoint (`/metrics` in the
//! Prometheus text format, checked by Debian's `promtool`; `/health`), per-function statistics
//! in inspect, W3C trace context across two hops, and hostile HTTP clients that must not
//! disturb RPC traffic. The real Prometheus scrape is in `prometheus.rs`, OpenTelemetry in
//! `otel.rs`.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use slacker_core::inspect::InspectRequest;
use slacker_core::observe::TraceContext;
use slacker_core::{CallOptions, Client, ClientOptions, Server};
use slacker_examples::cluster_api::{Example, ExampleApiClient, ExampleApiServer};
use slacker_tests::http::{self, HttpResponse};
use slacker_tests::probe::{Bystander, ProbeImpl, ProbeServer};
use slacker_tests::relay::{relay, RelayClient};
use slacker_tests::{wait_for, wait_until, DEADLINE};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const ANY: &str = "127.0.0.1:0";

fn any() -> SocketAddr {
    ANY.parse().expect("address")
}

async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    http::get(addr, path, DEADLINE).await.expect("HTTP GET")
}

/// The value of the first sample of `metric` whose labels include every `label="value"` given.
pub fn sample(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Runs `promtool check metrics` on `text`; returns its complaints.
async fn promtool(text: &str) -> Result<(), String> {
    let mut child = tokio::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool (Debian's prometheus, see scripts/setup.sh): {e}"))?;
    let mut stdin = child.stdin.take().ok_or("stdin")?;
    stdin
        .write_all(text.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn example_server() -> Server {
    let api = Example::new();
    api.set_addr("in-process");
    Server::builder()
        .service(ExampleApiServer::new(api))
        .http(any())
        .bind(ANY)
        .await
        .expect("bind")
}

/// A server with `http(..)`: after 25 `echo` calls and one `slow` that times out, `/metrics`
/// counts them by function and code, passes `promtool check metrics`, and shows the gauges;
/// `/health` is 200 while serving and 503 ("draining") once shutdown begins; inspect reports
/// per-function statistics (p50 <= p99 <= max) without any interceptor installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_stats_with_default_options() {
    let server = example_server().await;
    let http_addr = server.http_addr().expect("http address");
    let client = Client::connect(server.local_addr(), ClientOptions::default())
        .await
        .expect("connect");
    let api = ExampleApiClient::new(client.clone());
    for i in 0..25 {
        assert_eq!(
            api.echo(format!("e{i}")).await.expect("echo"),
            format!("e{i}")
        );
    }
    let hasty = api
        .clone()
        .with_options(CallOptions::new().timeout(Duration::from_millis(100)));
    assert!(hasty.slow(2_000).await.is_err());

    let metrics = wait_for(DEADLINE, || async {
        let m = get(http_addr, "/metrics").await;
        let text = m.text();
        // The timed-out call is recorded once its handler is cancelled.
        sample(&text, "slacker_server_calls_total", &[("function", "slow")]).map(|_| (m, text))
    })
    .await
    .expect("the slow call recorded");
    let (response, text) = metrics;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        response.headers
    );
    let echo = [
        ("namespace", "slacker.example.api"),
        ("function", "echo"),
        ("code", "success"),
    ];
    assert_eq!(
        sample(&text, "slacker_server_calls_total", &echo),
        Some(25.0)
    );
    assert_eq!(
        sample(
            &text,
            "slacker_server_call_duration_seconds_count",
            &[("function", "echo")]
        ),
        Some(25.0)
    );
    // The client's cancel and the server's own deadline race: either code is the truth.
    let slow: f64 = ["canceled", "deadline_exceeded"]
        .iter()
        .filter_map(|code| {
            sample(
                &text,
                "slacker_server_calls_total",
                &[("function", "slow"), ("code", code)],
            )
        })
        .sum();
    assert_eq!(slow, 1.0, "{text}");
    assert_eq!(sample(&text, "slacker_server_connections", &[]), Some(1.0));
    assert!(sample(&text, "slacker_server_in_flight", &[]).is_some());
    promtool(&text).await.expect("promtool accepts /metrics");

    let health = get(http_addr, "/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json().expect("json"), json!({"status": "serving"}));

    let inspect = client
        .inspect(InspectRequest::default())
        .await
        .expect("inspect");
    let stats = inspect.stats.expect("stats on by default");
    let echo = stats
        .iter()
        .find(|s| s.function == "echo")
        .expect("echo stats");
    assert_eq!((echo.calls, echo.errors), (25, 0));
    assert!(echo.p50_us > 0 && echo.p50_us <= echo.p99_us && echo.p99_us <= echo.max_us);

    // A call keeps the drain going while /health is read.
    let held = {
        let api = api.clone();
        tokio::spawn(async move { api.slow(3_000).await })
    };
    wait_until(DEADLINE, || async { server.in_flight() == 1 })
        .await
        .expect("the slow call runs");
    let stopping = tokio::spawn(server.shutdown(Duration::from_secs(10)));
    let draining = wait_for(DEADLINE, || async {
        let h = http::get(http_addr, "/health", DEADLINE).await.ok()?;
        (h.status == 503).then_some(h)
    })
    .await
    .expect("/health says draining");
    assert_eq!(draining.json().expect("json")["status"], "draining");
    held.await
        .expect("join")
        .expect("the drained call completes");
    stopping.await.expect("shutdown");
}

/// Client -> A -> B. With a `traceparent` from the caller, A continues the caller's trace as a
/// child of the caller's span, and B continues it as a child of A's outgoing call (a new span,
/// not A's own). Without one, A starts a trace and B joins it.
#[tokio::test]
async fn trace_context_crosses_two_hops() {
    let b = relay(None).await.expect("relay B");
    let a = relay(Some(&b)).await.expect("relay A");
    let client = RelayClient::new(
        Client::connect(a.local_addr(), ClientOptions::default())
            .await
            .expect("connect"),
    );
    let caller = TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        None,
    )
    .expect("valid");
    let mut ext = slacker_core::Extensions::new();
    caller.inject(&mut ext);
    let hops = client
        .clone()
        .with_options(CallOptions {
            extensions: ext,
            ..CallOptions::default()
        })
        .hop()
        .await
        .expect("hop");
    let [a_trace, a_span, a_parent, b_trace, b_span, b_parent] = &hops[..] else {
        panic!("{hops:?}");
    };
    assert_eq!(a_trace, &caller.trace_id_hex());
    assert_eq!(b_trace, &caller.trace_id_hex());
    assert_eq!(
        a_parent,
        &caller.span_id_hex(),
        "A is a child of the caller's span"
    );
    assert!(!b_parent.is_empty() && b_parent != a_span && b_parent != a_parent);
    assert_ne!(a_span, b_span);

    let hops = client.hop().await.expect("hop");
    assert_eq!(hops.len(), 6);
    assert_eq!(hops[0], hops[3], "B joins the trace A started");
    assert!(hops[2].is_empty(), "A had no parent");
    for s in [a, b] {
        s.shutdown(Duration::from_secs(1)).await;
    }
}

/// 300 hostile HTTP connections at once (a third send garbage, a third stall in the middle of
/// their headers, a third send a request and never read): a bystander calling the RPC port
/// fails no call, and once the header timeout has closed the stalled ones `/health` answers
/// again (the connection cap bounds what they can hold meanwhile).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_http_clients_do_not_disturb_rpc() {
    let server = Server::builder()
        .service(ProbeServer::new(ProbeImpl))
        .http(any())
        .bind(ANY)
        .await
        .expect("bind");
    let http_addr = server.http_addr().expect("http");
    let bystander = Bystander::start(server.local_addr())
        .await
        .expect("bystander");
    bystander.progress(50).await.expect("bystander runs");
    let mut held = Vec::new();
    for i in 0..300 {
        let Ok(mut s) = TcpStream::connect(http_addr).await else {
            continue;
        };
        let bytes: Vec<u8> = match i % 3 {
            0 => (0..512).map(|j| (j * 7 + i) as u8).collect(),
            1 => b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec(),
            _ => b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        };
        let _ = s.write_all(&bytes).await;
        held.push(s);
    }
    bystander.progress(200).await.expect("RPC keeps flowing");
    wait_until(DEADLINE, || async {
        http::get(http_addr, "/health", Duration::from_secs(2))
            .await
            .is_ok_and(|h| h.status == 200)
    })
    .await
    .expect("/health answers again");
    drop(held);
    let report = bystander.finish().await;
    assert_eq!(report.failures, 0, "{report:?}");
    server.shutdown(Duration::from_secs(1)).await;
}

/// A cluster client's per-server attempt histogram (counted per thread, added up when scraped)
/// is an ordinary Prometheus histogram: every attempt in `_count` and in the `+Inf` bucket,
/// buckets cumulative, and `promtool` accepts the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_clients_attempt_histogram_is_exact() {
    use slacker_core::cluster::{Cluster, ClusterOptions};
    use slacker_core::membership::{Change, ServerInfo};
    use slacker_core::ServerAddr;

    let server = example_server().await;
    let addr = ServerAddr::from(server.local_addr());
    let cluster = Cluster::new(ClusterOptions::default());
    let data = serde_json::Value::Null;
    cluster.apply(Change::Insert(addr.clone(), ServerInfo { data }));
    cluster.apply(Change::Namespace {
        namespace: "slacker.example.api".into(),
        servers: vec![addr.clone()],
        leader: None,
    });
    let api = ExampleApiClient::new(cluster.clone());
    // From many tasks, so that both worker threads count.
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move { api.echo(format!("c{i}")).await })
        })
        .collect();
    for call in calls {
        call.await.expect("task").expect("echo");
    }
    let text = cluster.metrics_text();
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
    };
    let server_label = format!("server=\"{addr}\"");
    let count = line(&format!(
        "slacker_client_call_duration_seconds_count{{{server_label}}}"
    ));
    let inf = line(&format!(
        "slacker_client_call_duration_seconds_bucket{{{server_label},le=\"+Inf\"}}"
    ));
    assert_eq!((count, inf), (40.0, 40.0));
    let sum = line(&format!(
        "slacker_client_call_duration_seconds_sum{{{server_label}}}"
    ));
    assert!(sum > 0.0 && sum < 40.0 * 5.0, "sum {sum}");
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("slacker_client_call_duration_seconds_bucket"))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    promtool(&text)
        .await
        .expect("promtool accepts the cluster's metrics");
    cluster.close().await;
}
