use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    async fn echo<T: serde::Serialize>(&self, value: T) -> T;
    async fn first<'a>(&self, values: Vec<String>) -> String;
    async fn bounded(&self, value: u32) -> u32 where u32: Copy;
}

fn main() {}
