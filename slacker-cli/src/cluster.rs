//! Cluster-wide commands, through ZooKeeper. (Waiting for slacker-zk's discovery.)

use serde_json::Value;

use crate::{Ctx, Fail, GroupingArg, ResultsArg};

pub async fn ls(ctx: &Ctx, _json: bool) -> Result<(), Fail> {
    ctx.cluster()?;
    Err("not yet".into())
}

pub async fn watch(ctx: &Ctx) -> Result<(), Fail> {
    ctx.cluster()?;
    Err("not yet".into())
}

pub async fn call(
    ctx: &Ctx,
    _ns: &str,
    _function: &str,
    _args: Value,
    _grouping: Option<GroupingArg>,
    _results: Option<ResultsArg>,
) -> Result<Value, Fail> {
    ctx.cluster()?;
    Err("not yet".into())
}
