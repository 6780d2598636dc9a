use slacker_core::remote;

pub struct Point {
    pub x: i32,
}

pub struct Shape;

#[remote(namespace = "ui")]
trait Geometry {
    async fn norm(&self, p: Point) -> u64;
    async fn make(&self, sides: u32) -> Shape;
}

fn main() {}
