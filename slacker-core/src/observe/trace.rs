//! W3C trace context (`traceparent`, `tracestate`) carried in request extensions, so that a
//! call made inside a handler continues the caller's trace across processes.
//!
//! The server reads the request's `traceparent` (previous hop: the client, `client/mod.rs`),
//! gives its handler a context of its own (same trace id, a new span id, the caller's span as
//! parent) through [`crate::context::CallContext::trace`], and records the ids on its
//! `slacker.handle` span. A call made from inside the handler sends a child of that context
//! (next hop: the downstream server). With the `otel` feature the ids are those of the
//! OpenTelemetry spans instead (see [`super::otel`]). A call made outside any trace sends no
//! `traceparent`: the server starts a new trace.

use crate::Extensions;

/// Extension key of the W3C `traceparent`.
pub const TRACEPARENT: &str = "traceparent";
/// Extension key of the W3C `tracestate`.
pub const TRACESTATE: &str = "tracestate";

/// One span's place in a trace, as W3C trace context describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace, shared by every span of it.
    pub trace_id: [u8; 16],
    /// This span.
    pub span_id: [u8; 8],
    /// The span this one is a child of, if known.
    pub parent_id: Option<[u8; 8]>,
    /// The `sampled` flag.
    pub sampled: bool,
    /// The vendor `tracestate`, passed along untouched.
    pub state: Option<String>,
}

impl TraceContext {
    /// What is left where a context was moved out: no trace, not sampled.
    pub(crate) fn placeholder() -> Self {
        Self {
            trace_id: [0; 16],
            span_id: [0; 8],
            parent_id: None,
            sampled: false,
            state: None,
        }
    }

    /// A new trace: random ids, no parent, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: nonzero(random_id()),
            span_id: nonzero(random_id()),
            parent_id: None,
            sampled: true,
            state: None,
        }
    }

    /// A child span of this one: same trace, a new span id, this span as parent.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id,
            span_id: nonzero(random_id()),
            parent_id: Some(self.span_id),
            sampled: self.sampled,
            state: self.state.clone(),
        }
    }

    /// Parses a `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`; later versions are read by their
    /// first four fields, as the spec asks). The parsed span becomes the span id (it is the
    /// *caller's* span: take [`TraceContext::child`] for one's own). `None` when malformed or
    /// when an id is all zeros.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let mut parts = traceparent.trim().split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
            return None;
        }
        let trace_id: [u8; 16] = hex(trace)?;
        let span_id: [u8; 8] = hex(span)?;
        let [flags]: [u8; 1] = hex(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            parent_id: None,
            sampled: flags & 1 == 1,
            state: tracestate.map(str::to_owned).filter(|s| !s.is_empty()),
        })
    }

    /// The context a request carries, if it carries a valid one.
    pub fn from_extensions(extensions: &Extensions) -> Option<Self> {
        let parent = extensions.get_str(TRACEPARENT)?;
        Self::parse(parent, extensions.get_str(TRACESTATE))
    }

    /// This span as a `traceparent` value (version 00).
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            to_hex(&self.span_id),
            u8::from(self.sampled)
        )
    }

    /// Writes `traceparent` (and `tracestate`) into `extensions`.
    pub fn inject(&self, extensions: &mut Extensions) {
        extensions.insert(TRACEPARENT, self.traceparent());
        if let Some(state) = &self.state {
            extensions.insert(TRACESTATE, state.clone());
        }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }

    /// The parent span id as 16 lowercase hex digits, if there is a parent.
    pub fn parent_id_hex(&self) -> Option<String> {
        self.parent_id.as_ref().map(|p| to_hex(p))
    }
}

/// `N` random bytes for an id, from a per-thread SplitMix64 stream seeded once from the system's
/// generator. Trace and span ids must not collide and need not be secret (W3C asks for
/// randomness, not unpredictability); every request without a caller's trace gets two, and
/// rand's ChaCha thread generator cost about 5% of a small request's server CPU for them.
fn random_id<const N: usize>() -> [u8; N] {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(rand::random());
    }
    let mut id = [0; N];
    for chunk in id.chunks_mut(8) {
        let word = STATE.with(|state| {
            let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(next);
            let mut z = next;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        });
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
    id
}

fn nonzero<const N: usize>(mut id: [u8; N]) -> [u8; N] {
    if id == [0; N] {
        id[N - 1] = 1;
    }
    id
}

fn hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Writes a trace id as hex into a formatter without allocating (for span fields).
pub(crate) struct TraceIdHex<'a>(pub(crate) &'a TraceContext);

impl std::fmt::Display for TraceIdHex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut buf = [0u8; 32];
        for (i, b) in self.0.trace_id.iter().enumerate() {
            buf[2 * i] = HEX[usize::from(b >> 4)];
            buf[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        f.write_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20,000 roots from four threads: no trace id or span id repeats, and the threads' streams
    /// are not the same stream (each is seeded on its own).
    #[test]
    fn new_ids_do_not_repeat_within_or_across_threads() {
        let roots: Vec<TraceContext> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        (0..5_000)
                            .map(|_| TraceContext::new_root())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().expect("thread"))
                .collect()
        });
        let traces: std::collections::HashSet<_> = roots.iter().map(|r| r.trace_id).collect();
        let spans: std::collections::HashSet<_> = roots.iter().map(|r| r.span_id).collect();
        assert_eq!(traces.len(), roots.len());
        assert_eq!(spans.len(), roots.len());
        let child = roots[0].child();
        assert_eq!(child.trace_id, roots[0].trace_id);
        assert_ne!(child.span_id, roots[0].span_id);
    }

    #[test]
    fn parses_and_formats_the_spec_example() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::parse(header, Some("rojo=00f067aa0ba902b7")).expect("valid");
        assert_eq!(ctx.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ctx.span_id_hex(), "00f067aa0ba902b7");
        assert!(ctx.sampled);
        assert_eq!(ctx.traceparent(), header);
        let child = ctx.child();
        assert_eq!(child.trace_id, ctx.trace_id);
        assert_eq!(child.parent_id, Some(ctx.span_id));
        assert_ne!(child.span_id, ctx.span_id);
        assert_eq!(child.state.as_deref(), Some("rojo=00f067aa0ba902b7"));
    }

    #[test]
    fn rejects_what_the_spec_rejects() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad}");
        }
        // A later version may carry more fields.
        assert!(TraceContext::parse(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more",
            None
        )
        .is_some());
    }
}
