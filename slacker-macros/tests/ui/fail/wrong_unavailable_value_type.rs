use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    #[remote(unavailable_value = "none")]
    async fn count(&self) -> u32;
}

fn main() {}
