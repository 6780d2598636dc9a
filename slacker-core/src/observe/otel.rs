//! The OpenTelemetry bridge (feature `otel`): a call's `traceparent` is taken from the
//! OpenTelemetry context of its `slacker.call` span, and a server's `slacker.handle` span gets
//! the request's `traceparent` as its OpenTelemetry parent. With a `tracing-opentelemetry`
//! layer installed, a call made inside a handler is then a child of the caller's span across
//! processes, in whatever backend the program exports to.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::trace::TraceContext;

/// The W3C context of `span`'s OpenTelemetry span, if it has a valid one.
pub(crate) fn context_of(span: &tracing::Span) -> Option<TraceContext> {
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    let state = sc.trace_state().header();
    Some(TraceContext {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        parent_id: None,
        sampled: sc.is_sampled(),
        state: (!state.is_empty()).then_some(state),
    })
}

/// Makes the remote span `parent` the OpenTelemetry parent of `span`.
pub(crate) fn set_parent(span: &tracing::Span, parent: &TraceContext) {
    let state = parent
        .state
        .as_deref()
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let flags = if parent.sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let remote = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        flags,
        true,
        state,
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(remote);
    let _ = span.set_parent(cx);
}
