use slacker_core::remote;

#[remote(namespace = "ui", namespace = "again")]
trait Service {
    #[remote(timeout_ms = 100, timeout_ms = 200)]
    async fn ping(&self) -> u32;

    #[remote(idempotent, grouping = all)]
    #[remote(idempotent, grouping = first)]
    async fn pong(&self) -> u32;
}

fn main() {}
