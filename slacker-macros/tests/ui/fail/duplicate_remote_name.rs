use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    async fn get(&self) -> u32;

    #[remote(name = "get")]
    async fn get_v2(&self) -> u32;
}

fn main() {}
