use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    async fn consume(self) -> u32;
    async fn mutate(&mut self) -> u32;
    async fn free(a: u32) -> u32;
    async fn boxed(self: Box<Self>) -> u32;
}

fn main() {}
