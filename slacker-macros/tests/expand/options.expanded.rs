pub(crate) trait Stats: ::core::marker::Send + ::core::marker::Sync + 'static {
    fn load(
        &self,
        window: u32,
    ) -> impl ::core::future::Future<Output = f64> + ::core::marker::Send;
    fn load_by_server(
        &self,
    ) -> impl ::core::future::Future<Output = f64> + ::core::marker::Send;
    fn peak(
        &self,
        key: String,
    ) -> impl ::core::future::Future<Output = f64> + ::core::marker::Send;
    fn flush(&self) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send;
}
const _: () = ::slacker_core::__private::assert_wire::<u32>();
const _: () = ::slacker_core::__private::assert_wire::<f64>();
const _: () = ::slacker_core::__private::assert_wire::<f64>();
const _: () = ::slacker_core::__private::assert_wire::<String>();
const _: () = ::slacker_core::__private::assert_wire::<f64>();
const _: () = ::slacker_core::__private::assert_wire::<()>();
/// The `example.stats` namespace: what [`Stats`] offers remotely (names, arguments, options).
pub(crate) static STATS_NAMESPACE: ::slacker_core::NamespaceInfo = ::slacker_core::NamespaceInfo {
    name: "example.stats",
    doc: "",
    methods: &__STATS_METHODS,
};
#[doc(hidden)]
static __STATS_METHODS: [::slacker_core::MethodInfo; 4] = [
    ::slacker_core::MethodInfo {
        namespace: "example.stats",
        name: "load-avg",
        args: &[
            ::slacker_core::ArgInfo {
                name: "window",
                ty: "u32",
            },
        ],
        returns: "f64",
        doc: "",
        timeout: ::core::option::Option::Some(::std::time::Duration::from_millis(250)),
        grouping: ::core::option::Option::None,
        results: ::slacker_core::ResultsMode::Single,
        exceptions: ::core::option::Option::None,
        has_unavailable_value: false,
        returns_unit: false,
        retries: 2,
    },
    ::slacker_core::MethodInfo {
        namespace: "example.stats",
        name: "load_by_server",
        args: &[],
        returns: "f64",
        doc: "",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::Some(::slacker_core::Grouping::All),
        results: ::slacker_core::ResultsMode::Map,
        exceptions: ::core::option::Option::Some(::slacker_core::ExceptionsPolicy::Any),
        has_unavailable_value: false,
        returns_unit: false,
        retries: 0,
    },
    ::slacker_core::MethodInfo {
        namespace: "example.stats",
        name: "peak",
        args: &[
            ::slacker_core::ArgInfo {
                name: "key",
                ty: "String",
            },
        ],
        returns: "f64",
        doc: "",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::Some(
            ::slacker_core::Grouping::Custom(
                ::slacker_core::GroupingFn::from_fn(policy::by_key),
            ),
        ),
        results: ::slacker_core::ResultsMode::Custom,
        exceptions: ::core::option::Option::Some(
            ::slacker_core::ExceptionsPolicy::Custom(quorum),
        ),
        has_unavailable_value: true,
        returns_unit: false,
        retries: 3,
    },
    ::slacker_core::MethodInfo {
        namespace: "example.stats",
        name: "flush",
        args: &[],
        returns: "()",
        doc: "",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::Some(::slacker_core::Grouping::Leader),
        results: ::slacker_core::ResultsMode::Nil,
        exceptions: ::core::option::Option::None,
        has_unavailable_value: false,
        returns_unit: true,
        retries: 0,
    },
];
/// Serves [`Stats`] as the `example.stats` namespace: give `StatsServer::new(implementation)` to a slacker server.
pub(crate) struct StatsServer<T> {
    implementation: ::slacker_core::__private::Arc<T>,
}
impl<T: Stats> StatsServer<T> {
    /// Wraps an implementation.
    pub fn new(implementation: T) -> Self {
        Self::from_arc(::slacker_core::__private::Arc::new(implementation))
    }
    /// Wraps an implementation that is shared with other code.
    pub fn from_arc(implementation: ::slacker_core::__private::Arc<T>) -> Self {
        Self { implementation }
    }
}
impl<T> ::core::clone::Clone for StatsServer<T> {
    fn clone(&self) -> Self {
        Self {
            implementation: ::core::clone::Clone::clone(&self.implementation),
        }
    }
}
impl<T: Stats> ::slacker_core::NamespaceService for StatsServer<T> {
    fn info(&self) -> &'static ::slacker_core::NamespaceInfo {
        &STATS_NAMESPACE
    }
    fn dispatch(
        &self,
        function: &::core::primitive::str,
        content_type: ::slacker_core::ContentType,
        payload: ::slacker_core::__private::bytes::Bytes,
    ) -> ::core::result::Result<
        ::slacker_core::HandlerFuture,
        ::slacker_core::DispatchError,
    > {
        match function {
            "load-avg" => {
                let (window,) = ::slacker_core::__private::decode_args::<
                    (u32,),
                >(content_type, &payload, "window: u32")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Stats>::load(&*implementation, window).await;
                        ::slacker_core::__private::output_value(content_type, &value)
                    }),
                )
            }
            "load_by_server" => {
                let ::slacker_core::__private::NoArgs = ::slacker_core::__private::decode_args::<
                    ::slacker_core::__private::NoArgs,
                >(content_type, &payload, "")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Stats>::load_by_server(&*implementation).await;
                        ::slacker_core::__private::output_value(content_type, &value)
                    }),
                )
            }
            "peak" => {
                let (key,) = ::slacker_core::__private::decode_args::<
                    (String,),
                >(content_type, &payload, "key: String")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Stats>::peak(&*implementation, key).await;
                        ::slacker_core::__private::output_value(content_type, &value)
                    }),
                )
            }
            "flush" => {
                let ::slacker_core::__private::NoArgs = ::slacker_core::__private::decode_args::<
                    ::slacker_core::__private::NoArgs,
                >(content_type, &payload, "")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Stats>::flush(&*implementation).await;
                        ::slacker_core::__private::output_value(content_type, &value)
                    }),
                )
            }
            _ => {
                ::core::result::Result::Err(
                    ::slacker_core::DispatchError::UnknownFunction,
                )
            }
        }
    }
}
/// Calls [`Stats`] on remote servers (the `example.stats` namespace) through a `Caller`: a point-to-point client, a cluster client or a test double.
pub(crate) struct StatsClient<C> {
    caller: C,
    options: ::slacker_core::CallOptions,
}
impl<C: ::slacker_core::Caller> StatsClient<C> {
    /// A client calling through `caller` with default options.
    pub fn new(caller: C) -> Self {
        Self {
            caller,
            options: ::slacker_core::CallOptions::new(),
        }
    }
    /// The same client with `options` applied to every call (they override each
    /// method's own timeout and grouping).
    pub fn with_options(self, options: ::slacker_core::CallOptions) -> Self {
        Self {
            caller: self.caller,
            options,
        }
    }
    /// The caller this client sends through.
    pub fn caller(&self) -> &C {
        &self.caller
    }
    /// Calls `load-avg` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn load(
        &self,
        window: u32,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<f64, ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__STATS_METHODS[0];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &(window,),
            &self.options,
        );
        async move {
            let call = call?;
            let merge = ::slacker_core::__private::Merge::new(
                &self.caller,
                &call,
                &self.options,
            );
            let replies = ::slacker_core::Caller::call(&self.caller, call).await?;
            ::slacker_core::__private::single(
                &merge,
                replies,
                ::slacker_core::__private::decode_plain::<f64>,
            )
        }
    }
    /// Calls `load_by_server` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn load_by_server(
        &self,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<
            ::slacker_core::__private::Map<::std::string::String, f64>,
            ::slacker_core::Error,
        >,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__STATS_METHODS[1];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &::slacker_core::__private::NoArgs,
            &self.options,
        );
        async move {
            let call = call?;
            let merge = ::slacker_core::__private::Merge::new(
                &self.caller,
                &call,
                &self.options,
            );
            let replies = ::slacker_core::Caller::call(&self.caller, call).await?;
            ::slacker_core::__private::merge_map(
                &merge,
                ::slacker_core::__private::decode_all(
                    &merge,
                    replies,
                    ::slacker_core::__private::decode_plain::<f64>,
                ),
            )
        }
    }
    /// Calls `peak` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn peak(
        &self,
        key: String,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<f64, ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__STATS_METHODS[2];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &(key,),
            &self.options,
        );
        async move {
            let call = call?;
            let merge = ::slacker_core::__private::Merge::new(
                &self.caller,
                &call,
                &self.options,
            );
            let replies = match ::slacker_core::Caller::call(&self.caller, call).await {
                ::core::result::Result::Ok(replies) => replies,
                ::core::result::Result::Err(
                    error,
                ) if ::slacker_core::__private::is_unavailable(&error) => {
                    return ::core::result::Result::<f64, ::slacker_core::Error>::Ok(0.0);
                }
                ::core::result::Result::Err(error) => {
                    return ::core::result::Result::Err(error);
                }
            };
            ::slacker_core::__private::merge_custom(
                &merge,
                ::slacker_core::__private::decode_all(
                    &merge,
                    replies,
                    ::slacker_core::__private::decode_plain::<f64>,
                ),
                merge::max,
            )
        }
    }
    /// Calls `flush` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn flush(
        &self,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<(), ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__STATS_METHODS[3];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &::slacker_core::__private::NoArgs,
            &self.options,
        );
        async move {
            let call = call?;
            let merge = ::slacker_core::__private::Merge::new(
                &self.caller,
                &call,
                &self.options,
            );
            let replies = ::slacker_core::Caller::call(&self.caller, call).await?;
            ::slacker_core::__private::merge_nil(
                &merge,
                ::slacker_core::__private::decode_all(
                    &merge,
                    replies,
                    ::slacker_core::__private::decode_plain::<()>,
                ),
            )
        }
    }
}
impl<C: ::slacker_core::Caller> ::core::clone::Clone for StatsClient<C> {
    fn clone(&self) -> Self {
        Self {
            caller: ::core::clone::Clone::clone(&self.caller),
            options: ::core::clone::Clone::clone(&self.options),
        }
    }
}
