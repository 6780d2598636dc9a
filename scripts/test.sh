#!/usr/bin/env bash
# Runs every check: formatting, lints, docs and all tests (real ZooKeeper included), after
# installing what they need (scripts/setup.sh: only what is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

step() {
  local start=$SECONDS
  printf '\n--- %s\n' "$*"
  "$@"
  printf -- '--- %s: %d s\n' "$1 ${2:-}" "$((SECONDS - start))"
}

step cargo fmt --all --check
step cargo clippy --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" step cargo doc --workspace --no-deps
# The suites run example binaries and the `slacker` command as child processes; building them
# here (with the workspace's other targets) keeps that build out of the first test that needs
# one.
step cargo build --workspace --bins
step cargo test --workspace --no-fail-fast

# Every LocalZooKeeper JVM must be gone once its test ends (they run with a zoo.cfg in a
# slacker-zk-* temp dir). On a shared machine this also lists other test runs in progress.
if leftover=$(pgrep -af 'java .*/slacker-zk-[^ /]*/n[0-9]+/zoo\.cfg'); then
  printf '\nWARNING: ZooKeeper JVMs from slacker tests still running:\n%s\n' "$leftover"
fi
