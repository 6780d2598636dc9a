//! The OpenTelemetry bridge (slacker-core feature `otel`) with an in-memory exporter: a call
//! from a root span to server A, whose handler calls server B, is one trace, and every span's
//! parent is the one before it: root -> A's `slacker.call` -> A's `slacker.handle` -> the
//! nested `slacker.call` -> B's `slacker.handle`. The servers' spans are linked only through
//! the `traceparent` on the wire (they start with `parent: None`).

use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use slacker_core::{Client, ClientOptions};
use slacker_tests::relay::{relay, RelayClient};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hops_are_one_trace_with_correct_parents() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("slacker-test")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let b = relay(None).await.expect("relay B");
    let a = relay(Some(&b)).await.expect("relay A");
    let client = RelayClient::new(
        Client::connect(a.local_addr(), ClientOptions::default())
            .await
            .expect("connect"),
    );
    let hops = client
        .hop()
        .instrument(tracing::info_span!("test.root"))
        .await
        .expect("hop");
    assert_eq!(hops.len(), 6, "{hops:?}");
    for s in [a, b] {
        s.shutdown(std::time::Duration::from_secs(1)).await;
    }
    let _ = provider.force_flush();
    let spans = exporter.get_finished_spans().expect("spans");
    let named =
        |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let root = named("test.root");
    let calls = named("slacker.call");
    let handles = named("slacker.handle");
    assert_eq!(
        (root.len(), calls.len(), handles.len()),
        (1, 2, 2),
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // The client's spans carry what the call recorded on them as it went: its request id
    // and its outcome.
    for s in &calls {
        let attr = |key: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(
            attr("code").as_deref(),
            Some("success"),
            "{:?}",
            s.attributes
        );
        assert!(
            attr("tid").is_some_and(|t| t.parse::<u64>().is_ok_and(|t| t > 0)),
            "{:?}",
            s.attributes
        );
    }
    let root = root[0];
    let trace = root.span_context.trace_id();
    for s in calls.iter().chain(&handles) {
        assert_eq!(
            s.span_context.trace_id(),
            trace,
            "{} is in the root's trace",
            s.name
        );
    }
    let child_of = |parent: SpanId, among: &[&SpanData]| -> SpanId {
        let found: Vec<&&SpanData> = among
            .iter()
            .filter(|s| s.parent_span_id == parent)
            .collect();
        assert_eq!(found.len(), 1, "one child of {parent:?} among {among:?}");
        found[0].span_context.span_id()
    };
    let call_a = child_of(root.span_context.span_id(), &calls);
    let handle_a = child_of(call_a, &handles);
    let call_b = child_of(handle_a, &calls);
    let handle_b = child_of(call_b, &handles);
    // The handlers saw the same ids (the call context follows OpenTelemetry's).
    assert_eq!(hops[0], format!("{trace}"));
    assert_eq!(hops[3], format!("{trace}"));
    assert_eq!(
        hops[2],
        format!("{call_a}"),
        "A's parent is the client's call span"
    );
    assert_eq!(
        hops[5],
        format!("{call_b}"),
        "B's parent is A's outgoing call span"
    );
    assert_ne!(handle_a, handle_b);
}
