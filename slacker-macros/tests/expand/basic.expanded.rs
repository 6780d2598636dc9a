/// Arithmetic over the wire.
pub trait Calc: ::core::marker::Send + ::core::marker::Sync + 'static {
    /// Adds two numbers.
    fn add(
        &self,
        a: i64,
        b: i64,
    ) -> impl ::core::future::Future<Output = i64> + ::core::marker::Send;
    fn version(
        &self,
    ) -> impl ::core::future::Future<Output = String> + ::core::marker::Send;
    fn reset(&self) -> impl ::core::future::Future<Output = ()> + ::core::marker::Send;
}
const _: () = ::slacker_core::__private::assert_wire::<i64>();
const _: () = ::slacker_core::__private::assert_wire::<i64>();
const _: () = ::slacker_core::__private::assert_wire::<i64>();
const _: () = ::slacker_core::__private::assert_wire::<String>();
const _: () = ::slacker_core::__private::assert_wire::<()>();
/// The `example.calc` namespace: what [`Calc`] offers remotely (names, arguments, options).
pub static CALC_NAMESPACE: ::slacker_core::NamespaceInfo = ::slacker_core::NamespaceInfo {
    name: "example.calc",
    doc: "Arithmetic over the wire.",
    methods: &__CALC_METHODS,
};
#[doc(hidden)]
static __CALC_METHODS: [::slacker_core::MethodInfo; 3] = [
    ::slacker_core::MethodInfo {
        namespace: "example.calc",
        name: "add",
        args: &[
            ::slacker_core::ArgInfo {
                name: "a",
                ty: "i64",
            },
            ::slacker_core::ArgInfo {
                name: "b",
                ty: "i64",
            },
        ],
        returns: "i64",
        doc: "Adds two numbers.",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::None,
        results: ::slacker_core::ResultsMode::Single,
        exceptions: ::core::option::Option::None,
        has_unavailable_value: false,
        returns_unit: false,
        retries: 0,
    },
    ::slacker_core::MethodInfo {
        namespace: "example.calc",
        name: "version",
        args: &[],
        returns: "String",
        doc: "",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::None,
        results: ::slacker_core::ResultsMode::Single,
        exceptions: ::core::option::Option::None,
        has_unavailable_value: false,
        returns_unit: false,
        retries: 0,
    },
    ::slacker_core::MethodInfo {
        namespace: "example.calc",
        name: "reset",
        args: &[],
        returns: "()",
        doc: "",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::None,
        results: ::slacker_core::ResultsMode::Single,
        exceptions: ::core::option::Option::None,
        has_unavailable_value: false,
        returns_unit: true,
        retries: 0,
    },
];
/// Serves [`Calc`] as the `example.calc` namespace: give `CalcServer::new(implementation)` to a slacker server.
pub struct CalcServer<T> {
    implementation: ::slacker_core::__private::Arc<T>,
}
impl<T: Calc> CalcServer<T> {
    /// Wraps an implementation.
    pub fn new(implementation: T) -> Self {
        Self::from_arc(::slacker_core::__private::Arc::new(implementation))
    }
    /// Wraps an implementation that is shared with other code.
    pub fn from_arc(implementation: ::slacker_core::__private::Arc<T>) -> Self {
        Self { implementation }
    }
}
impl<T> ::core::clone::Clone for CalcServer<T> {
    fn clone(&self) -> Self {
        Self {
            implementation: ::core::clone::Clone::clone(&self.implementation),
        }
    }
}
impl<T: Calc> ::slacker_core::NamespaceService for CalcServer<T> {
    fn info(&self) -> &'static ::slacker_core::NamespaceInfo {
        &CALC_NAMESPACE
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
            "add" => {
                let (a, b) = ::slacker_core::__private::decode_args::<
                    (i64, i64),
                >(content_type, &payload, "a: i64, b: i64")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Calc>::add(&*implementation, a, b).await;
                        ::slacker_core::__private::output_value(content_type, &value)
                    }),
                )
            }
            "version" => {
                let ::slacker_core::__private::NoArgs = ::slacker_core::__private::decode_args::<
                    ::slacker_core::__private::NoArgs,
                >(content_type, &payload, "")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Calc>::version(&*implementation).await;
                        ::slacker_core::__private::output_value(content_type, &value)
                    }),
                )
            }
            "reset" => {
                let ::slacker_core::__private::NoArgs = ::slacker_core::__private::decode_args::<
                    ::slacker_core::__private::NoArgs,
                >(content_type, &payload, "")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Calc>::reset(&*implementation).await;
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
/// Calls [`Calc`] on remote servers (the `example.calc` namespace) through a `Caller`: a point-to-point client, a cluster client or a test double.
pub struct CalcClient<C> {
    caller: C,
    options: ::slacker_core::CallOptions,
}
impl<C: ::slacker_core::Caller> CalcClient<C> {
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
    /// Adds two numbers.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn add(
        &self,
        a: i64,
        b: i64,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<i64, ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__CALC_METHODS[0];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &(a, b),
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
                ::slacker_core::__private::decode_plain::<i64>,
            )
        }
    }
    /// Calls `version` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn version(
        &self,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<String, ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__CALC_METHODS[1];
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
            ::slacker_core::__private::single(
                &merge,
                replies,
                ::slacker_core::__private::decode_plain::<String>,
            )
        }
    }
    /// Calls `reset` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn reset(
        &self,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<(), ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__CALC_METHODS[2];
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
            ::slacker_core::__private::single(
                &merge,
                replies,
                ::slacker_core::__private::decode_plain::<()>,
            )
        }
    }
}
impl<C: ::slacker_core::Caller> ::core::clone::Clone for CalcClient<C> {
    fn clone(&self) -> Self {
        Self {
            caller: ::core::clone::Clone::clone(&self.caller),
            options: ::core::clone::Clone::clone(&self.options),
        }
    }
}
