use slacker_core::remote;

#[remote(namespace = "words")]
trait Words {
    #[remote(grouping = "all")]
    async fn quoted(&self) -> u32;

    #[remote(grouping = rando)]
    async fn typo(&self) -> u32;

    #[remote(grouping = roundrobin)]
    async fn joined(&self) -> u32;

    #[remote(grouping_results = "map")]
    async fn quoted_results(&self) -> u32;
}

fn main() {}
