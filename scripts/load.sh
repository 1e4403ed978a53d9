#!/usr/bin/env bash
# Load runs (not tests), against the local moto server and PostgreSQL the tests use: one
# warm rotor-rotate instance rotating 500 secrets back to back, rotor-replicate syncing its
# benchmark set of 1,000 parameters again and again and then following 200 events, and
# rotor-audit auditing 2,000 secrets ten times. Each prints its memory after every run or
# batch (flat means no growth from run to run) and the p50 / p99 of each step.
#
#   ./scripts/load.sh [rotations]     # default 500
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
rotations="${1:-500}"

# Release code without what only matters to a deployed binary (LTO, one codegen unit),
# and with the same settings as scripts/proptest-campaign.sh so the two share one build.
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
export CARGO_PROFILE_RELEASE_PANIC=unwind

# The five crates in one build, as scripts/proptest-campaign.sh builds them: built one by
# one, each would unify its dependencies' features differently and rebuild them.
cargo build --release --locked -p rotor-core -p rotor-rotate -p rotor-sync-url \
    -p rotor-replicate -p rotor-audit \
    --example rotate_load --example replicate_load --example audit_load
examples="${CARGO_TARGET_DIR:-target}/release/examples"

step() { printf '\n==> %s\n' "$*"; }
step "rotor-rotate: $rotations rotations by one warm instance"
"$examples/rotate_load" "$rotations" 50
step "rotor-replicate: 1,000 parameters, 10 no-change syncs, 200 events"
"$examples/replicate_load" 1000 10 200
step "rotor-audit: 2,000 secrets, 10 audits"
"$examples/audit_load" 2000 10
echo
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d)"
