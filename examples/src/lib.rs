//! Shared code of the examples.

pub mod cluster_api;
