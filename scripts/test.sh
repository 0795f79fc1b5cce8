#!/usr/bin/env bash
# The one command that runs every check on a fresh Debian machine:
#   installs the test peers (BIND, Knot, moto, Prism), then fmt, clippy and all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
