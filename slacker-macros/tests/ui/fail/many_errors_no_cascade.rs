// Every problem is reported once, and code using the trait sees it unchanged: no cascade of
// secondary errors from the impl below.
use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    fn sync_method(&self) -> u32;
    #[remote(retries = 1, retries = 2)]
    async fn by_value(self) -> u32;
}

struct Impl;

impl Service for Impl {
    fn sync_method(&self) -> u32 {
        1
    }
    async fn by_value(self) -> u32 {
        2
    }
}

fn main() {}
