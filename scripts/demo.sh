#!/usr/bin/env bash
# rotor's main job, run locally: a real password rotation. Starts moto and a PostgreSQL
# server (scram-sha-256, TLS only), creates a database user and its secret, and runs the
# four rotation steps through the built rotor-rotate binary under cargo-lambda's Lambda
# emulator. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --quiet --locked -p rotor-rotate --bin rotor-rotate
exec cargo run --quiet --locked -p rotor-rotate --example demo -- "$@"
