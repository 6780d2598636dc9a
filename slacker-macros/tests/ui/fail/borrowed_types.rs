use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    async fn greet(&self, name: &str) -> String;
    async fn sum(&self, values: impl IntoIterator<Item = u32>) -> u32;
    async fn name(&self) -> &'static str;
    async fn any(&self) -> impl serde::Serialize;
}

fn main() {}
