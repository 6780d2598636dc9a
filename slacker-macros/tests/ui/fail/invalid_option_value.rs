use slacker_core::remote;

#[remote(namespace = "")]
trait Service {
    #[remote(timeout_ms = 0)]
    async fn a(&self) -> u32;

    #[remote(timeout_ms = "fast")]
    async fn b(&self) -> u32;

    #[remote(grouping = "all")]
    async fn c(&self) -> u32;

    #[remote(grouping_results = 3, retries = -1)]
    async fn d(&self) -> u32;

    #[remote(name = "a/b", idempotent = true)]
    async fn e(&self) -> u32;

    #[remote(namespace = "x", timeout_ms = 1.5)]
    async fn f(&self) -> u32;
}

fn main() {}
