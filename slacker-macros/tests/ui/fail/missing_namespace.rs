use slacker_core::remote;

#[remote]
trait Service {
    async fn ping(&self) -> u32;
}

#[remote(name = "x")]
trait Other {
    async fn ping(&self) -> u32;
}

fn main() {}
