pub trait Blobs: ::core::marker::Send + ::core::marker::Sync + 'static {
    fn put(
        &self,
        key: String,
        data: Vec<u8>,
    ) -> impl ::core::future::Future<
        Output = Result<u64, StoreError>,
    > + ::core::marker::Send;
    fn get(
        &self,
        key: String,
    ) -> impl ::core::future::Future<
        Output = Result<Vec<u8>, StoreError>,
    > + ::core::marker::Send;
    fn digest(
        &self,
        data: Vec<u8>,
    ) -> impl ::core::future::Future<Output = Vec<u8>> + ::core::marker::Send;
}
const _: () = ::slacker_core::__private::assert_wire::<String>();
const _: () = ::slacker_core::__private::assert_wire::<Vec<u8>>();
const _: () = ::slacker_core::__private::assert_wire::<u64>();
const _: () = ::slacker_core::__private::assert_wire::<StoreError>();
const _: () = ::slacker_core::__private::assert_wire::<String>();
const _: () = ::slacker_core::__private::assert_wire::<Vec<u8>>();
const _: () = ::slacker_core::__private::assert_wire::<StoreError>();
const _: () = ::slacker_core::__private::assert_wire::<Vec<u8>>();
const _: () = ::slacker_core::__private::assert_wire::<Vec<u8>>();
/// The `example.blobs` namespace: what [`Blobs`] offers remotely (names, arguments, options).
pub static BLOBS_NAMESPACE: ::slacker_core::NamespaceInfo = ::slacker_core::NamespaceInfo {
    name: "example.blobs",
    doc: "",
    methods: &__BLOBS_METHODS,
};
#[doc(hidden)]
static __BLOBS_METHODS: [::slacker_core::MethodInfo; 3] = [
    ::slacker_core::MethodInfo {
        namespace: "example.blobs",
        name: "put",
        args: &[
            ::slacker_core::ArgInfo {
                name: "key",
                ty: "String",
            },
            ::slacker_core::ArgInfo {
                name: "data",
                ty: "Vec<u8>",
            },
        ],
        returns: "Result<u64, StoreError>",
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
        namespace: "example.blobs",
        name: "get",
        args: &[
            ::slacker_core::ArgInfo {
                name: "key",
                ty: "String",
            },
        ],
        returns: "Result<Vec<u8>, StoreError>",
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
        namespace: "example.blobs",
        name: "digest",
        args: &[
            ::slacker_core::ArgInfo {
                name: "data",
                ty: "Vec<u8>",
            },
        ],
        returns: "Vec<u8>",
        doc: "",
        timeout: ::core::option::Option::None,
        grouping: ::core::option::Option::Some(::slacker_core::Grouping::All),
        results: ::slacker_core::ResultsMode::Vector,
        exceptions: ::core::option::Option::None,
        has_unavailable_value: false,
        returns_unit: false,
        retries: 0,
    },
];
/// Serves [`Blobs`] as the `example.blobs` namespace: give `BlobsServer::new(implementation)` to a slacker server.
pub struct BlobsServer<T> {
    implementation: ::slacker_core::__private::Arc<T>,
}
impl<T: Blobs> BlobsServer<T> {
    /// Wraps an implementation.
    pub fn new(implementation: T) -> Self {
        Self::from_arc(::slacker_core::__private::Arc::new(implementation))
    }
    /// Wraps an implementation that is shared with other code.
    pub fn from_arc(implementation: ::slacker_core::__private::Arc<T>) -> Self {
        Self { implementation }
    }
}
impl<T> ::core::clone::Clone for BlobsServer<T> {
    fn clone(&self) -> Self {
        Self {
            implementation: ::core::clone::Clone::clone(&self.implementation),
        }
    }
}
impl<T: Blobs> ::slacker_core::NamespaceService for BlobsServer<T> {
    fn info(&self) -> &'static ::slacker_core::NamespaceInfo {
        &BLOBS_NAMESPACE
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
            "put" => {
                let (key, data) = ::slacker_core::__private::decode_args::<
                    (String, ::slacker_core::__private::serde_bytes::ByteBuf),
                >(content_type, &payload, "key: String, data: Vec<u8>")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Blobs>::put(
                                &*implementation,
                                key,
                                data.into_vec(),
                            )
                            .await;
                        ::slacker_core::__private::output_result(content_type, &value)
                    }),
                )
            }
            "get" => {
                let (key,) = ::slacker_core::__private::decode_args::<
                    (String,),
                >(content_type, &payload, "key: String")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Blobs>::get(&*implementation, key).await;
                        ::slacker_core::__private::output_bytes_result(
                            content_type,
                            &value,
                        )
                    }),
                )
            }
            "digest" => {
                let (data,) = ::slacker_core::__private::decode_args::<
                    (::slacker_core::__private::serde_bytes::ByteBuf,),
                >(content_type, &payload, "data: Vec<u8>")?;
                let implementation = ::core::clone::Clone::clone(&self.implementation);
                ::core::result::Result::Ok(
                    ::slacker_core::__private::Box::pin(async move {
                        let value = <T as Blobs>::digest(
                                &*implementation,
                                data.into_vec(),
                            )
                            .await;
                        ::slacker_core::__private::output_bytes(content_type, &value)
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
/// Calls [`Blobs`] on remote servers (the `example.blobs` namespace) through a `Caller`: a point-to-point client, a cluster client or a test double.
pub struct BlobsClient<C> {
    caller: C,
    options: ::slacker_core::CallOptions,
}
impl<C: ::slacker_core::Caller> BlobsClient<C> {
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
    /// Calls `put` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn put(
        &self,
        key: String,
        data: Vec<u8>,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<Result<u64, StoreError>, ::slacker_core::Error>,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__BLOBS_METHODS[0];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &(key, ::slacker_core::__private::serde_bytes::ByteBuf::from(data)),
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
                ::slacker_core::__private::decode_result::<u64, StoreError>,
            )
        }
    }
    /// Calls `get` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn get(
        &self,
        key: String,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<
            Result<Vec<u8>, StoreError>,
            ::slacker_core::Error,
        >,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__BLOBS_METHODS[1];
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
            let replies = ::slacker_core::Caller::call(&self.caller, call).await?;
            ::slacker_core::__private::single(
                &merge,
                replies,
                ::slacker_core::__private::decode_bytes_result::<StoreError>,
            )
        }
    }
    /// Calls `digest` remotely.
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::manual_async_fn)]
    pub fn digest(
        &self,
        data: Vec<u8>,
    ) -> impl ::core::future::Future<
        Output = ::core::result::Result<
            ::slacker_core::__private::Vec<Vec<u8>>,
            ::slacker_core::Error,
        >,
    > + ::core::marker::Send + '_ {
        let method: &'static ::slacker_core::MethodInfo = &__BLOBS_METHODS[2];
        let call = ::slacker_core::__private::build_call(
            &self.caller,
            method,
            &(::slacker_core::__private::serde_bytes::ByteBuf::from(data),),
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
            ::slacker_core::__private::merge_vec(
                &merge,
                ::slacker_core::__private::decode_all(
                    &merge,
                    replies,
                    ::slacker_core::__private::decode_bytes,
                ),
            )
        }
    }
}
impl<C: ::slacker_core::Caller> ::core::clone::Clone for BlobsClient<C> {
    fn clone(&self) -> Self {
        Self {
            caller: ::core::clone::Clone::clone(&self.caller),
            options: ::core::clone::Clone::clone(&self.options),
        }
    }
}
