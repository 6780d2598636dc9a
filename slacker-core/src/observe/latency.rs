//! A latency histogram for hot call paths, exported as an ordinary Prometheus histogram.
//!
//! `prometheus::Histogram::observe` makes four atomic updates on memory every thread shares
//! (one of them a compare-and-swap loop on the `f64` sum); a cluster client's every attempt
//! observes one, and under load its worker threads fight over those cache lines (a tenth of
//! the cluster's routing cost, measured with `slacker-core/benches/fanout.rs`). Here each
//! thread counts into its own shard (a bucket counter and a sum of nanoseconds, two relaxed
//! additions) and a scrape adds the shards up.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto;

/// Shards per histogram: threads are spread over them round-robin as they first observe.
const SHARDS: usize = 4;

/// One thread's counts, on its own cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    /// Per bucket (the last one is `+Inf`), not cumulative.
    buckets: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

/// One labelled histogram.
pub(crate) struct Latency {
    bounds: Arc<[f64]>,
    shards: [Shard; SHARDS],
}

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latency").finish_non_exhaustive()
    }
}

impl Latency {
    fn new(bounds: Arc<[f64]>) -> Self {
        let shards = std::array::from_fn(|_| Shard {
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        });
        Self { bounds, shards }
    }

    /// Counts one observation.
    pub(crate) fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = self.bounds.partition_point(|b| *b < seconds);
        let shard = &self.shards[shard_of_this_thread()];
        if let Some(count) = shard.buckets.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The histogram as Prometheus encodes it (cumulative buckets, count and sum).
    fn snapshot(&self) -> proto::Histogram {
        let mut counts = vec![0u64; self.bounds.len() + 1];
        let mut sum_nanos = 0u64;
        for shard in &self.shards {
            for (total, count) in counts.iter_mut().zip(&shard.buckets) {
                *total += count.load(Ordering::Relaxed);
            }
            sum_nanos = sum_nanos.wrapping_add(shard.sum_nanos.load(Ordering::Relaxed));
        }
        let mut cumulative = 0;
        let mut buckets = Vec::with_capacity(self.bounds.len());
        for (bound, count) in self.bounds.iter().zip(&counts) {
            cumulative += count;
            let mut bucket = proto::Bucket::default();
            bucket.set_upper_bound(*bound);
            bucket.set_cumulative_count(cumulative);
            buckets.push(bucket);
        }
        let mut h = proto::Histogram::default();
        h.set_sample_count(counts.iter().sum());
        h.set_sample_sum(sum_nanos as f64 / 1e9);
        h.set_bucket(buckets);
        h
    }
}

/// The shard the current thread counts into.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

/// One histogram of a [`LatencyVec`] and its label value.
type Child = (String, Arc<Latency>);

/// A family of [`Latency`] histograms with one label, registered as a collector.
#[derive(Clone, Debug)]
pub(crate) struct LatencyVec {
    desc: Arc<Desc>,
    label: String,
    bounds: Arc<[f64]>,
    children: Arc<Mutex<Vec<Child>>>,
}

impl LatencyVec {
    /// `name` with `help`, one label called `label`, buckets at `bounds` (seconds, rising).
    pub(crate) fn new(
        name: &str,
        help: &str,
        label: &str,
        bounds: Vec<f64>,
    ) -> prometheus::Result<Self> {
        let desc = Desc::new(
            name.to_owned(),
            help.to_owned(),
            vec![label.to_owned()],
            Default::default(),
        )?;
        Ok(Self {
            desc: Arc::new(desc),
            label: label.to_owned(),
            bounds: bounds.into(),
            children: Arc::default(),
        })
    }

    /// The histogram for `value` of the label (made on first use; the same one after).
    pub(crate) fn with_label(&self, value: &str) -> Arc<Latency> {
        let mut children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, h)) = children.iter().find(|(v, _)| v == value) {
            return h.clone();
        }
        let h = Arc::new(Latency::new(self.bounds.clone()));
        children.push((value.to_owned(), h.clone()));
        h
    }
}

impl Collector for LatencyVec {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.desc]
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        let children = self.children.lock().unwrap_or_else(|e| e.into_inner());
        let mut metrics = Vec::with_capacity(children.len());
        for (value, h) in children.iter() {
            let mut label = proto::LabelPair::default();
            label.set_name(self.label.clone());
            label.set_value(value.clone());
            let mut m = proto::Metric::default();
            m.set_label(vec![label]);
            m.set_histogram(h.snapshot());
            metrics.push(m);
        }
        let mut family = proto::MetricFamily::default();
        family.set_name(self.desc.fq_name.clone());
        family.set_help(self.desc.help.clone());
        family.set_field_type(proto::MetricType::HISTOGRAM);
        family.set_metric(metrics);
        vec![family]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_to_one_cumulative_histogram() {
        let family = LatencyVec::new("t", "help", "server", vec![0.001, 0.01]).expect("desc");
        let h = family.with_label("a:1");
        assert!(Arc::ptr_eq(&h, &family.with_label("a:1")));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || {
                    h.observe(Duration::from_micros(500));
                    h.observe(Duration::from_millis(5));
                    h.observe(Duration::from_secs(1));
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let families = family.collect();
        let m = &families[0].get_metric()[0];
        assert_eq!(m.get_label()[0].value(), "a:1");
        let snapshot = m.get_histogram();
        assert_eq!(snapshot.get_sample_count(), 9);
        let cumulative: Vec<u64> = snapshot
            .get_bucket()
            .iter()
            .map(|b| b.cumulative_count())
            .collect();
        assert_eq!(cumulative, [3, 6]);
        assert!((snapshot.get_sample_sum() - 3.0 * 1.0055).abs() < 1e-9);
    }
}
