use slacker_core::remote;

#[remote(namespace = "ui")]
trait Service {
    fn ping(&self) -> u32;
}

fn main() {}
