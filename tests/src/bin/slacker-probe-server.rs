//! A server hosting `slacker.probe` on 127.0.0.1, run as a child process by tests that measure
//! a server's memory and file descriptors from `/proc/<pid>`.
//!
//! Usage: `slacker-probe-server [--max-connections N] [--read-timeout-ms MS]`. Prints
//! `listening <addr>` once bound, then serves until killed.

use std::time::Duration;

use slacker_core::{Server, ServerOptions};
use slacker_tests::probe::{ProbeImpl, ProbeServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut options = ServerOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: u64 = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .parse()?;
        match flag.as_str() {
            "--max-connections" => options.max_connections = usize::try_from(value)?,
            "--read-timeout-ms" => options.read_timeout = Duration::from_millis(value),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    let server = Server::builder()
        .service(ProbeServer::new(ProbeImpl))
        .options(options)
        .bind("127.0.0.1:0")
        .await?;
    println!("listening {}", server.local_addr());
    std::future::pending::<()>().await;
    Ok(())
}
