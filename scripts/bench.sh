#!/usr/bin/env bash
# Benchmarks (not tests): builds the four functions in release mode and prints, per
# function, binary size, start-up time, warm invocation time and peak memory, plus the
# time of a full rotation, all under cargo-lambda's emulator against moto and PostgreSQL.
# With --arm64, first builds the arm64 binaries with `sam build` (slow: see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ "${1:-}" = "--arm64" ]; then
    ./scripts/sam-build.sh
fi
cargo build --release --locked -p rotor-rotate -p rotor-sync-url -p rotor-replicate -p rotor-audit
# The runner itself is an ordinary (debug) build; only the functions are release builds.
cargo run --quiet --locked -p rotor-e2e --example bench
echo
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)"
