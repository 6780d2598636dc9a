//! Shared code of the examples.

pub mod cluster_api;

/// A `main`'s error, for one line on stderr.
pub type MainError = Box<dyn std::error::Error>;

/// Ends an example: `Ok` exits 0; an error prints `name: <error>` (its `Display`, one line,
/// never a `Debug` dump) and exits 1.
pub fn report(name: &str, result: Result<(), MainError>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {}", e.to_string().replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

/// What to say when ZooKeeper cannot be reached at `zk`.
pub fn zk_hint(zk: &str, e: impl std::fmt::Display) -> MainError {
    format!(
        "cannot use ZooKeeper at {zk}: {e} (is it running? `cargo run -p slacker-examples --bin local_zk` starts one and prints its address)"
    )
    .into()
}
