/// Arithmetic over the wire.
#[remote(namespace = "example.calc")]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn version(&self) -> String;
    async fn reset(&self);
}
