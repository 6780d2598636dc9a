// Custom grouping, merge and exceptions functions are type-checked against the signatures the
// runtime calls, with the error on the path the user wrote.
use slacker_core::remote;

fn merge(values: Vec<u32>) -> u32 {
    values.into_iter().sum()
}

fn choose(_servers: &[slacker_core::ServerAddr]) -> slacker_core::Selection {
    slacker_core::Selection::Many(Vec::new())
}

#[remote(namespace = "ui")]
trait Service {
    #[remote(grouping_results = merge)]
    async fn count(&self) -> u32;

    #[remote(grouping = choose)]
    async fn pick(&self) -> u32;

    #[remote(grouping_exceptions = no_such_policy)]
    async fn strict(&self) -> u32;
}

fn main() {}
