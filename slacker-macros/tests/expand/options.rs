#[remote(namespace = "example.stats")]
pub(crate) trait Stats {
    #[remote(name = "load-avg", timeout_ms = 250, idempotent)]
    async fn load(&self, window: u32) -> f64;

    #[remote(grouping = all, grouping_results = map, grouping_exceptions = any)]
    async fn load_by_server(&self) -> f64;

    #[remote(grouping = policy::by_key, grouping_results = merge::max, retries = 3)]
    #[remote(grouping_exceptions = quorum, unavailable_value = 0.0)]
    async fn peak(&self, key: String) -> f64;

    #[remote(grouping = leader, grouping_results = nil)]
    async fn flush(&self);
}
