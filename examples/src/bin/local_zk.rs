//! Runs a private ZooKeeper (Debian's `zookeeper` package) on a free loopback port until Ctrl-C,
//! for trying the cluster examples by hand. `--ensemble` starts three nodes instead of one.
//!
//! ```sh
//! cargo run -p slacker-examples --bin local_zk            # prints: ZK 127.0.0.1:PORT, and an export line
//! cargo run -p slacker-examples --bin local_zk -- --ensemble
//! ```

use clap::Parser;
use slacker_zk::local::LocalZooKeeper;

/// Runs a throwaway ZooKeeper until interrupted.
#[derive(Parser)]
struct Args {
    /// Start a 3-node ensemble instead of a standalone server.
    #[arg(long)]
    ensemble: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    slacker_examples::report("local_zk", run().await)
}

async fn run() -> Result<(), slacker_examples::MainError> {
    let args = Args::parse();
    // Both kinds stop their JVMs and delete their data when dropped at the end of `main`.
    if args.ensemble {
        let zk = LocalZooKeeper::ensemble(3).await?;
        println!("ZK {}", zk.connect_string());
        println!("export SLACKER_ZK={}", zk.connect_string());
        tokio::signal::ctrl_c().await?;
    } else {
        let zk = LocalZooKeeper::start().await?;
        println!("ZK {}", zk.connect_string());
        println!("export SLACKER_ZK={}", zk.connect_string());
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
