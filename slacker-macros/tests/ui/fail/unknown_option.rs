use slacker_core::remote;

#[remote(namespace = "ui", version = 2)]
trait Service {
    #[remote(timeout = 100, idempotent)]
    async fn ping(&self) -> u32;
}

fn main() {}
