use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    async fn add(&self, (a, b): (u32, u32)) -> u32;
    async fn ignore(&self, _: u32);
}

fn main() {}
