//! # slacker-zk
//!
//! slacker on ZooKeeper: server registration, live discovery, the cluster client, leader election
//! and the manager API.
#![warn(missing_docs)]

pub mod election;
pub mod local;
