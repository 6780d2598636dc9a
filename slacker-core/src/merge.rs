//! Merging several servers' replies into one answer: which failures fail the call
//! (`grouping_exceptions`), how the successes are shaped (`grouping_results`), and the
//! client-wide defaults and hooks around it ([`MergePolicy`]). Previous hop: the caller's
//! [`Replies`](crate::Replies) (a generated stub through `__private`, or an untyped call through
//! [`Cluster::call_merged`](crate::cluster::Cluster::call_merged)); the merged value goes back to
//! the user.
//!
//! # Who wins
//! * `grouping_exceptions`: per call ([`CallOptions::exceptions`]) beats the method's
//!   attribute beats the client's [`MergePolicy::exceptions`] beats `All`.
//! * `grouping_results`: a typed method's shape is part of its signature (`-> T`,
//!   `Vec<T>`, a map, `()`), so it is the method's attribute. An untyped call
//!   (`call_merged`, the gateway) is shaped by [`CallOptions::results`], else the client's
//!   [`MergePolicy::results`] choice (which may look at the namespace, the function and the
//!   arguments), else `single`.
//! * [`MergePolicy::before_merge`] sees every reply (still encoded) before anything is decoded
//!   and may drop or reorder them (which reply a `single` method returns is the first left);
//!   [`MergePolicy::after_merge`] sees the outcome (who succeeded, who failed, the call's
//!   error). Both run for typed and untyped calls.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::{
    serialization, Call, CallOptions, Caller, ContentType, Error, ExceptionsPolicy, GroupOutcome,
    MethodInfo, Reply, Result, ResultsMode, ServerAddr,
};

/// What a results choice or a merge hook sees of a call.
#[derive(Debug, Clone, Copy)]
pub struct CallInfo<'a> {
    /// Namespace called.
    pub namespace: &'a str,
    /// Function called.
    pub function: &'a str,
    /// The method's description; `None` for an untyped call.
    pub method: Option<&'static MethodInfo>,
    /// Content type of `payload`.
    pub content_type: ContentType,
    /// The encoded argument tuple (see [`CallInfo::args`]).
    pub payload: &'a Bytes,
    /// The call's options.
    pub options: &'a CallOptions,
}

impl CallInfo<'_> {
    /// The call's arguments, decoded as the tuple `T` (e.g. `(String, u32)`).
    ///
    /// # Errors
    /// [`Error::Codec`] when the arguments are not a `T`.
    pub fn args<T: DeserializeOwned>(&self) -> Result<T> {
        serialization::decode(self.content_type, self.payload).map_err(|e| Error::Codec {
            server: None,
            message: format!("arguments of {}/{}: {e}", self.namespace, self.function).into(),
        })
    }
}

/// What [`MergePolicy::after_merge`] sees.
#[derive(Debug, Clone, Copy)]
pub struct MergeOutcome<'a> {
    /// Servers that answered, in target order.
    pub succeeded: &'a [ServerAddr],
    /// Servers that failed, with their errors.
    pub failed: &'a [(ServerAddr, Error)],
    /// The call's error, when the exceptions policy failed it.
    pub error: Option<&'a Error>,
}

/// Chooses the results shape of an untyped call.
pub type ResultsChoice = Arc<dyn Fn(&CallInfo<'_>) -> ResultsMode + Send + Sync>;
/// Runs on every reply before the merge; may drop or reorder them.
pub type BeforeMerge = Arc<dyn Fn(&CallInfo<'_>, &mut Vec<Reply>) + Send + Sync>;
/// Runs on the outcome of every merge.
pub type AfterMerge = Arc<dyn Fn(&CallInfo<'_>, &MergeOutcome<'_>) + Send + Sync>;

/// A cluster client's defaults for merging several servers' replies, and hooks around the
/// merge. The default sets nothing: `grouping_exceptions = all`, `single` results, no hooks.
///
/// ```
/// use slacker_core::merge::MergePolicy;
/// use slacker_core::{ExceptionsPolicy, ResultsMode};
///
/// let policy = MergePolicy::new()
///     // Methods that set no grouping_exceptions fail when any server fails.
///     .exceptions(ExceptionsPolicy::Any)
///     // Untyped calls of `stats.*` come back as a map by server; others as one value.
///     .results(|call| {
///         if call.namespace == "stats" { ResultsMode::Map } else { ResultsMode::Single }
///     })
///     // Prefer the replies of servers in zone a (the first left is a `single` call's result).
///     .before_merge(|_call, replies| replies.sort_by_key(|r| !r.server.as_str().starts_with("10.0.1.")));
/// # let _ = policy;
/// ```
#[derive(Clone, Default)]
pub struct MergePolicy {
    /// `grouping_exceptions` of methods and calls that set none (`All` when `None`).
    pub exceptions: Option<ExceptionsPolicy>,
    /// The results shape of untyped calls that set none (`single` when `None`).
    pub results: Option<ResultsChoice>,
    /// Runs before every merge.
    pub before_merge: Option<BeforeMerge>,
    /// Runs after every merge.
    pub after_merge: Option<AfterMerge>,
}

impl fmt::Debug for MergePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergePolicy")
            .field("exceptions", &self.exceptions)
            .field("results", &self.results.as_ref().map(|_| "fn"))
            .field("before_merge", &self.before_merge.as_ref().map(|_| "fn"))
            .field("after_merge", &self.after_merge.as_ref().map(|_| "fn"))
            .finish()
    }
}

impl MergePolicy {
    /// Nothing set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the default `grouping_exceptions`.
    pub fn exceptions(mut self, policy: ExceptionsPolicy) -> Self {
        self.exceptions = Some(policy);
        self
    }

    /// Sets the results choice of untyped calls.
    pub fn results(
        mut self,
        choice: impl Fn(&CallInfo<'_>) -> ResultsMode + Send + Sync + 'static,
    ) -> Self {
        self.results = Some(Arc::new(choice));
        self
    }

    /// Sets the hook run before every merge.
    pub fn before_merge(
        mut self,
        hook: impl Fn(&CallInfo<'_>, &mut Vec<Reply>) + Send + Sync + 'static,
    ) -> Self {
        self.before_merge = Some(Arc::new(hook));
        self
    }

    /// Sets the hook run after every merge.
    pub fn after_merge(
        mut self,
        hook: impl Fn(&CallInfo<'_>, &MergeOutcome<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.after_merge = Some(Arc::new(hook));
        self
    }

    fn is_empty(&self) -> bool {
        self.exceptions.is_none()
            && self.results.is_none()
            && self.before_merge.is_none()
            && self.after_merge.is_none()
    }
}

/// One merge: the call it is for and whose policy applies. Built before the call is sent.
#[derive(Debug)]
pub struct Merge<'a, C: Caller> {
    caller: &'a C,
    namespace: Cow<'static, str>,
    function: Cow<'static, str>,
    method: Option<&'static MethodInfo>,
    content_type: ContentType,
    /// The arguments, kept only when a policy may look at them.
    payload: Bytes,
    options: &'a CallOptions,
}

impl<'a, C: Caller> Merge<'a, C> {
    /// The merge of `call`'s replies, under `caller`'s policy; `options` are the ones `call`
    /// was built with (borrowed, since `call` itself is about to be sent).
    pub fn new(caller: &'a C, call: &Call, options: &'a CallOptions) -> Self {
        let policy = caller.merge_policy().filter(|p| !p.is_empty());
        Self {
            caller,
            namespace: call.namespace.clone(),
            function: call.function.clone(),
            method: call.method,
            content_type: call.content_type,
            payload: if policy.is_some() {
                call.payload.clone()
            } else {
                Bytes::new()
            },
            options,
        }
    }

    fn info(&self) -> CallInfo<'_> {
        CallInfo {
            namespace: &self.namespace,
            function: &self.function,
            method: self.method,
            content_type: self.content_type,
            payload: &self.payload,
            options: self.options,
        }
    }

    fn policy(&self) -> Option<&MergePolicy> {
        self.caller.merge_policy()
    }

    /// True when no hook sees this merge (no before- or after-merge hook): a lone reply can
    /// then be taken as it is, since [`Merge::settle`] of one reply is that reply.
    pub(crate) fn unobserved(&self) -> bool {
        self.policy()
            .is_none_or(|p| p.before_merge.is_none() && p.after_merge.is_none())
    }

    /// Runs the before-merge hook, if any, over `replies`.
    pub fn before(&self, replies: &mut Vec<Reply>) {
        if let Some(hook) = self.policy().and_then(|p| p.before_merge.as_ref()) {
            hook(&self.info(), replies);
        }
    }

    /// The results shape of an untyped call (see the module docs).
    pub fn results_mode(&self) -> ResultsMode {
        self.options
            .results
            .or_else(|| self.method.map(|m| m.results))
            .or_else(|| {
                self.policy()
                    .and_then(|p| p.results.as_ref())
                    .map(|choose| choose(&self.info()))
            })
            .unwrap_or(ResultsMode::Single)
    }

    fn exceptions(&self) -> ExceptionsPolicy {
        self.options
            .exceptions
            .or_else(|| self.method.and_then(|m| m.exceptions))
            .or_else(|| self.policy().and_then(|p| p.exceptions))
            .unwrap_or(ExceptionsPolicy::All)
    }

    /// Applies the exceptions policy and returns the successes in target order. A call that
    /// went to exactly one server fails with that server's own error.
    ///
    /// # Errors
    /// [`Error::Grouped`] when the policy says the call failed.
    pub fn settle<R>(&self, decoded: Vec<(ServerAddr, Result<R>)>) -> Result<Vec<(ServerAddr, R)>> {
        let attempted = decoded.len();
        let mut ok = Vec::with_capacity(attempted);
        let mut failed = Vec::new();
        for (server, r) in decoded {
            match r {
                Ok(v) => ok.push((server, v)),
                Err(e) => failed.push((server, e)),
            }
        }
        let after = self.policy().and_then(|p| p.after_merge.as_ref());
        let snapshot = after.map(|_| failed.clone());
        let outcome = self.judge(attempted, &ok, failed);
        if let (Some(hook), Some(failed)) = (after, &snapshot) {
            let succeeded: Vec<ServerAddr> = ok.iter().map(|(s, _)| s.clone()).collect();
            hook(
                &self.info(),
                &MergeOutcome {
                    succeeded: &succeeded,
                    failed,
                    error: outcome.as_ref().err(),
                },
            );
        }
        let failed = outcome?;
        if !failed.is_empty() {
            self.caller
                .partial_failure(&self.namespace, &self.function, &failed);
        }
        Ok(ok)
    }

    /// `Ok(partial failures)` or the call's error.
    fn judge<R>(
        &self,
        attempted: usize,
        ok: &[(ServerAddr, R)],
        mut failed: Vec<(ServerAddr, Error)>,
    ) -> Result<Vec<(ServerAddr, Error)>> {
        if failed.is_empty() {
            return Ok(failed);
        }
        if attempted == 1 {
            if let Some((_, e)) = failed.pop() {
                return Err(e);
            }
        }
        let fail = match self.exceptions() {
            ExceptionsPolicy::All => ok.is_empty(),
            ExceptionsPolicy::Any => true,
            ExceptionsPolicy::Custom(f) => {
                let succeeded: Vec<ServerAddr> = ok.iter().map(|(s, _)| s.clone()).collect();
                f(&GroupOutcome {
                    succeeded: &succeeded,
                    failed: &failed,
                })
                .is_err()
            }
        };
        if fail {
            return Err(Error::Grouped {
                attempted,
                failures: failed,
            });
        }
        Ok(failed)
    }

    /// The call's namespace (for `Unavailable`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}
