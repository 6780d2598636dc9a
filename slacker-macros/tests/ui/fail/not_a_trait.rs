use slacker_core::remote;

#[remote(namespace = "ui")]
struct Service;

fn main() {}
