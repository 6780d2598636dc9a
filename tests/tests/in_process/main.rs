//! The core's suites that need neither ZooKeeper nor a child process: servers and clients in
//! this process on loopback (`slacker_tests::lab`), and clusters fed by hand
//! (`slacker_tests::cluster_lab`). One test binary, so the workspace links it once.

mod cancel;
mod concurrency;
mod connection_loss;
mod decoder_fuzz;
mod errors;
mod group_failures;
mod grouping;
mod inspect;
mod merge;
mod round_trip;
mod shutdown;
mod tower_layers;
