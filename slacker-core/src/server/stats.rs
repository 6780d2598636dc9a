//! [`Stats`]: a server interceptor counting calls, errors and latency per function, reported
//! through inspect.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::{Outcome, RequestHead, ServerInterceptor};
use crate::inspect::FunctionStats;
use crate::ResultCode;

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    calls: u64,
    errors: u64,
    total_us: u64,
    max_us: u64,
}

/// Counts calls, errors, mean and max latency per `(namespace, function)`.
///
/// Requests for unknown namespaces or functions are not recorded, so that a client sending
/// random names cannot grow the table.
#[derive(Debug, Default)]
pub struct Stats {
    by_ns: Mutex<HashMap<String, HashMap<String, Counters>>>,
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot, sorted by namespace then function.
    pub fn snapshot(&self) -> Vec<FunctionStats> {
        let map = self.by_ns.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<FunctionStats> = map
            .iter()
            .flat_map(|(ns, fns)| {
                fns.iter().map(move |(f, c)| FunctionStats {
                    namespace: ns.clone(),
                    function: f.clone(),
                    calls: c.calls,
                    errors: c.errors,
                    mean_us: c.total_us.checked_div(c.calls).unwrap_or(0),
                    max_us: c.max_us,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.function).cmp(&(&b.namespace, &b.function)));
        out
    }

    fn record(&self, head: &RequestHead, outcome: &Outcome) {
        if matches!(
            outcome.code,
            ResultCode::UnknownNamespace | ResultCode::UnknownFunction
        ) {
            return;
        }
        let us = u64::try_from(outcome.elapsed.as_micros()).unwrap_or(u64::MAX);
        let mut map = self.by_ns.lock().unwrap_or_else(|e| e.into_inner());
        let fns = match map.get_mut(head.namespace.as_str()) {
            Some(fns) => fns,
            None => map.entry(head.namespace.clone()).or_default(),
        };
        let c = match fns.get_mut(head.function.as_str()) {
            Some(c) => c,
            None => fns.entry(head.function.clone()).or_default(),
        };
        c.calls += 1;
        if outcome.code != ResultCode::Success {
            c.errors += 1;
        }
        c.total_us = c.total_us.saturating_add(us);
        c.max_us = c.max_us.max(us);
    }
}

impl ServerInterceptor for Stats {
    fn after<'a>(&'a self, head: &'a RequestHead, outcome: &'a Outcome) -> BoxFuture<'a, ()> {
        self.record(head, outcome);
        Box::pin(async {})
    }

    fn function_stats(&self) -> Option<Vec<FunctionStats>> {
        Some(self.snapshot())
    }
}
