#!/usr/bin/env bash
# The cluster demo on a fresh Debian machine with Rust: installs ZooKeeper if it is missing,
# then runs the demo, which starts its own private ZooKeeper on a free loopback port, 3 servers
# and a client, and stops them all at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
exec cargo run -q -p slacker-examples --bin demo -- "$@"
