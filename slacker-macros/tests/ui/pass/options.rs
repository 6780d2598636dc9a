use std::collections::BTreeMap;

use slacker_core::{remote, Caller, Error, GroupOutcome, GroupingInput, Selection, ServerAddr};

mod policy {
    pub fn shard(input: &slacker_core::GroupingInput<'_>) -> slacker_core::Selection {
        slacker_core::Selection::Many(input.servers.iter().map(|s| s.addr.clone()).collect())
    }
}

fn sum(values: Vec<(ServerAddr, u64)>) -> u64 {
    values.into_iter().map(|(_, v)| v).sum()
}

fn quorum(outcome: &GroupOutcome<'_>) -> Result<(), Error> {
    if outcome.succeeded.len() > outcome.failed.len() {
        Ok(())
    } else {
        Err(Error::Config("no quorum".into()))
    }
}

// Named like a keyword: reach it by a path with more than one segment.
fn first(input: &GroupingInput<'_>) -> Selection {
    match input.servers.first() {
        Some(s) => Selection::One(s.addr.clone()),
        None => Selection::Many(Vec::new()),
    }
}

#[remote(namespace = "ui.options")]
pub trait Counter {
    #[remote(name = "get", timeout_ms = 1500, idempotent)]
    async fn get_count(&self, key: String) -> u64;

    #[remote(grouping = all, grouping_results = map, grouping_exceptions = any)]
    async fn per_server(&self) -> u64;

    #[remote(grouping = policy::shard, grouping_results = sum, grouping_exceptions = quorum)]
    async fn total(&self) -> u64;

    #[remote(grouping = self::first, grouping_results = vector, retries = 3)]
    async fn firsts(&self) -> u64;

    #[remote(grouping = all, grouping_results = nil)]
    #[remote(unavailable_value = ())]
    async fn broadcast(&self, message: String);

    #[remote(unavailable_value = Vec::new())]
    #[remote(grouping = leader, grouping_results = vector)]
    async fn leaders(&self) -> u64;

    #[remote(grouping = round_robin)]
    async fn rr(&self) -> u64;
}

async fn typed<C: Caller>(c: CounterClient<C>) -> Result<(), Error> {
    let _: u64 = c.get_count("k".into()).await?;
    let _: BTreeMap<String, u64> = c.per_server().await?;
    let _: u64 = c.total().await?;
    let _: Vec<u64> = c.firsts().await?;
    let _: () = c.broadcast("m".into()).await?;
    let _: Vec<u64> = c.leaders().await?;
    let _: u64 = c.rr().await?;
    Ok(())
}

#[derive(Clone)]
struct Never;

impl Caller for Never {
    async fn call(&self, _call: slacker_core::Call) -> slacker_core::Result<slacker_core::Replies> {
        Err(Error::Closed)
    }
}

fn main() {
    let _ = typed::<Never>;
}
