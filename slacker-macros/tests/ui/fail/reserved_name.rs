use slacker_core::remote;

#[remote(namespace = "ui")]
trait Factory {
    async fn new(&self) -> u32;
    async fn with_options(&self) -> u32;
    async fn clone(&self) -> u32;
}

fn main() {}
