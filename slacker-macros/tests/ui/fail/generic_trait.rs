use slacker_core::remote;

#[remote(namespace = "ui")]
trait Store<T> {
    async fn get(&self) -> u32;
}

fn main() {}
