#!/usr/bin/env bash
# Installs what slacker's demo and tests need on a Debian machine that has only Rust, and only
# what is missing (a second run does nothing). Called by scripts/demo.sh, scripts/test.sh and
# .ci/run; run it by hand with the same arguments.
#
#   bash scripts/setup.sh           # everything the tests need
#   bash scripts/setup.sh --demo    # only what the demo needs (ZooKeeper and a Java runtime)
#
# What: ZooKeeper 3.8 (Debian `zookeeper`, started by the project itself, never as a service),
# kazoo (`python3-kazoo`, the independent ZooKeeper reader of the tests), Apache Curator 5.4
# (`libcurator-recipes-java`) and a JDK's `javac` (the Curator interop test compiles a small
# Java participant), Prometheus (`prometheus`: the server the observability test scrapes with,
# and `promtool`, which checks our /metrics), Chromium and chromedriver (`chromium`,
# `chromium-driver`: the console test drives a real headless browser), plus the rustfmt and
# clippy components.
#
# A machine without apt-get, or a user who is not root and has no password-less sudo, gets a
# message saying what to install, and exit status 1.
set -euo pipefail

demo_only=false
[ "${1:-}" = "--demo" ] && demo_only=true

say() { printf 'setup: %s\n' "$*" >&2; }

# slacker_zk::local runs Debian's jar with the system java.
have_zookeeper() {
  command -v java >/dev/null 2>&1 && [ -r /usr/share/java/zookeeper.jar ]
}

missing=()
have_zookeeper || missing+=(zookeeper)
if ! $demo_only; then
  /usr/bin/python3 -c 'import kazoo' 2>/dev/null || missing+=(python3-kazoo)
  [ -r /usr/share/java/curator-recipes.jar ] || missing+=(libcurator-recipes-java)
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
  { command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "missing: ${missing[*]} (Debian package names), and this machine has no apt-get."
    say "The demo and the tests start Debian's ZooKeeper 3.8 (/usr/share/java/zookeeper.jar) with java;"
    say "the tests also need kazoo, Curator 5.4, a JDK, Prometheus, Chromium and chromedriver. Install them, then run this again."
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      say "missing: ${missing[*]}; installing them needs root. Run as root, or first:"
      say "  sudo apt-get install -y ${missing[*]}"
      exit 1
    fi
  fi
  say "installing ${missing[*]} (apt-get; once)"
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null >/dev/null
fi

if ! $demo_only; then
  for component in rustfmt clippy; do
    probe=$component
    [ "$component" = rustfmt ] && probe=fmt
    if ! cargo "$probe" --version >/dev/null 2>&1; then
      say "adding rustup component $component"
      rustup component add "$component"
    fi
  done
fi
