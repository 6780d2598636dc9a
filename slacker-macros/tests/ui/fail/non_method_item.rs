use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    const LIMIT: u32;
    type Item;
    async fn ping(&self) -> u32;
}

fn main() {}
