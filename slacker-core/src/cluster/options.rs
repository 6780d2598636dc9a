//! [`ClusterOptions`]: a [`Cluster`](super::Cluster)'s settings and their defaults (grouping
//! p2c, 10 s timeout, ejection after 5 failures, 20% retry budget, no merge policy).

use std::time::Duration;

use super::{OutlierEjection, RetryBudget};
use crate::merge::MergePolicy;
use crate::{ClientOptions, Grouping};

/// Settings of a [`Cluster`](super::Cluster). `Default` gives the documented defaults.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Grouping of methods and calls that set none. Default [`Grouping::PowerOfTwoChoices`].
    pub grouping: Grouping,
    /// Timeout of methods and calls that set none. Default 10 s. Also the per-server clients'
    /// timeout (overriding `client.timeout`).
    pub timeout: Duration,
    /// Options of each per-server [`Client`](crate::Client).
    pub client: ClientOptions,
    /// How many partial failures [`Cluster::partial_failures`](super::Cluster::partial_failures) subscribers may lag behind
    /// before they miss some. Default 1 024.
    pub partial_failure_capacity: usize,
    /// When a failing server is taken out of routing. Default: after 5 failures in a row, for
    /// 1 s doubling to 30 s.
    pub ejection: OutlierEjection,
    /// How much failover may add to the load. Default: retries up to 20% of calls, plus 10
    /// per second.
    pub retry_budget: RetryBudget,
    /// Defaults and hooks for merging several servers' replies ([`crate::merge`]). Default:
    /// none (`grouping_exceptions = all`, `single` results).
    pub merge: MergePolicy,
}

/// Builder methods, one per field (the struct is `#[non_exhaustive]`: start from `default()` /
/// `new(..)` and chain).
impl ClusterOptions {
    /// Sets [`ClusterOptions::grouping`](Self::grouping).
    pub fn grouping(mut self, grouping: Grouping) -> Self {
        self.grouping = grouping;
        self
    }

    /// Sets [`ClusterOptions::timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`ClusterOptions::client`](Self::client).
    pub fn client(mut self, client: ClientOptions) -> Self {
        self.client = client;
        self
    }

    /// Sets [`ClusterOptions::partial_failure_capacity`](Self::partial_failure_capacity).
    pub fn partial_failure_capacity(mut self, partial_failure_capacity: usize) -> Self {
        self.partial_failure_capacity = partial_failure_capacity;
        self
    }

    /// Sets [`ClusterOptions::ejection`](Self::ejection).
    pub fn ejection(mut self, ejection: OutlierEjection) -> Self {
        self.ejection = ejection;
        self
    }

    /// Sets [`ClusterOptions::retry_budget`](Self::retry_budget).
    pub fn retry_budget(mut self, retry_budget: RetryBudget) -> Self {
        self.retry_budget = retry_budget;
        self
    }

    /// Sets [`ClusterOptions::merge`](Self::merge).
    pub fn merge(mut self, merge: MergePolicy) -> Self {
        self.merge = merge;
        self
    }
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            grouping: Grouping::PowerOfTwoChoices,
            timeout: Duration::from_secs(10),
            client: ClientOptions::default(),
            partial_failure_capacity: 1024,
            ejection: OutlierEjection::default(),
            retry_budget: RetryBudget::default(),
            merge: MergePolicy::default(),
        }
    }
}
