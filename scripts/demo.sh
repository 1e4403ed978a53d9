#!/usr/bin/env bash
# rotor's main job, run locally: starts moto and a real PostgreSQL (scram-sha-256, TLS)
# and runs the demo against them. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec cargo run --quiet --locked -p rotor-testkit --example demo -- "$@"
