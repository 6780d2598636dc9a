//! Untyped calls through a [`Cluster`]: by name with JSON arguments, answered per server
//! ([`Cluster::call_by_name`]) or merged like a stub's ([`Cluster::call_merged`]). Next hop:
//! the cluster's `Caller::call`, as for a typed stub.

use std::borrow::Cow;

use serde_json::Value;

use super::Cluster;
use crate::merge::Merge;
use crate::{__private, client, Call, CallOptions, Caller, Error, Result, ResultsMode, ServerAddr};

impl Cluster {
    /// The call of `namespace/function` with JSON `args` encoded in the cluster's content type.
    fn untyped(
        &self,
        namespace: &str,
        function: &str,
        args: Value,
        options: CallOptions,
    ) -> Result<Call> {
        let content_type = self.content_type();
        Ok(Call {
            namespace: Cow::Owned(namespace.to_owned()),
            function: Cow::Owned(function.to_owned()),
            method: None,
            content_type,
            payload: client::encode_json_args(content_type, args)?,
            options,
        })
    }

    /// Calls `namespace/function` with dynamic arguments (a JSON array, or `null` for none) on
    /// the servers `options.grouping` (else the cluster's default) chooses, and returns each
    /// server's JSON result in target order. No merging: the caller sees every server.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when no server offers the namespace; [`Error::Config`] for
    /// arguments that are not an array; [`Error::Closed`] after [`Cluster::close`]. Per-server
    /// failures (an application error arrives as [`Error::Remote`] with code
    /// `ApplicationError`) are in the returned list.
    ///
    /// # Cancel safety
    /// Dropping the future cancels the calls on every server.
    pub async fn call_by_name(
        &self,
        namespace: &str,
        function: &str,
        args: Value,
        options: CallOptions,
    ) -> Result<Vec<(ServerAddr, Result<Value>)>> {
        let call = self.untyped(namespace, function, args, options)?;
        let replies = self.call(call).await?;
        Ok(replies
            .into_vec()
            .into_iter()
            .map(|r| {
                let value = r
                    .result
                    .and_then(|resp| client::decode_json_response(&r.server, resp));
                (r.server, value)
            })
            .collect())
    }

    /// Calls `namespace/function` with dynamic arguments like [`Cluster::call_by_name`], then
    /// merges the servers' answers into one JSON value as a typed stub would (the same
    /// `__private` merge functions): the exceptions policy decides whether the call failed,
    /// and the results shape is `options.results`, else the cluster's
    /// [`MergePolicy::results`](crate::merge::MergePolicy::results) choice, else `single`
    /// (`vector`: an array in target order, `map`: an object keyed by server, `nil`: `null`).
    /// The merge hooks run.
    ///
    /// # Errors
    /// As [`Cluster::call_by_name`]; [`Error::Grouped`] when the exceptions policy fails the
    /// call; the server's own error when only one was called; [`Error::Config`], before
    /// anything is sent, for `ResultsMode::Custom` (a merge function needs a typed method).
    pub async fn call_merged(
        &self,
        namespace: &str,
        function: &str,
        args: Value,
        options: CallOptions,
    ) -> Result<Value> {
        let call = self.untyped(namespace, function, args, options.clone())?;
        let merge = Merge::new(self, &call, &options);
        let mode = merge.results_mode();
        if !matches!(
            mode,
            ResultsMode::Single | ResultsMode::Vector | ResultsMode::Map | ResultsMode::Nil
        ) {
            return Err(Error::Config(format!(
                "{namespace}/{function}: a custom results function needs a typed method; \
                 an untyped call can be single, vector, map or nil"
            )));
        }
        let replies = self.call(call).await?;
        let decoded = __private::decode_all(&merge, replies, client::decode_json_response);
        Ok(match mode {
            ResultsMode::Vector => Value::Array(__private::merge_vec(&merge, decoded)?),
            ResultsMode::Map => {
                Value::Object(__private::merge_map(&merge, decoded)?.into_iter().collect())
            }
            ResultsMode::Nil => {
                __private::merge_nil(&merge, decoded)?;
                Value::Null
            }
            _ => __private::merge_single(&merge, decoded)?,
        })
    }
}
