//! Harness shared by the integration tests: local ZooKeeper, a fault-injecting TCP proxy, child
//! processes.
