//! # slacker-zk
//!
//! slacker on ZooKeeper: server registration, live discovery, the cluster client, leader election
//! and the manager API.

pub mod local;
