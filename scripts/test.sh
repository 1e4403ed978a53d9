#!/usr/bin/env bash
# rotor's whole check, as CI runs it: set-up, formatting, lints, template checks (cfn-lint,
# sam validate --lint, checkov), and every test against a local moto server and a real
# PostgreSQL (scram-sha-256 + TLS).
set -euo pipefail
cd "$(dirname "$0")/.."

# A run from a fresh clone takes about 3.5 GB (target/ and .venv), 4 GB with cargo's
# downloads; say so up front when the disk is short, rather than leave a linker killed by
# SIGBUS to tell.
free_mb=$(df -Pm . | awk 'NR == 2 { print $4 }')
if [ "${free_mb:-0}" -lt 4096 ]; then
    printf 'test: WARNING: %s MB of disk free here; a fresh run needs about 4 GB\n' \
        "${free_mb:-?}" >&2
fi

./scripts/setup.sh

# One build, from scratch in CI: incremental compilation's caches would only add ~1.5 GB to
# target/ (the disk, not the CPU, is what a small CI machine runs out of).
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cfn-lint template.yaml"
.venv/bin/cfn-lint template.yaml

step "sam validate --lint"
SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint --region us-east-1 --template template.yaml

step "checkov -f template.yaml"
# Offline: --skip-download keeps checkov from fetching guidelines or policies from its vendor.
# Checks that do not apply are skipped in the template itself, each with its reason.
.venv/checkov/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

# Every test target, not the examples: clippy has checked that they compile, and linking
# them (each with the whole AWS SDK) would cost ~400 MB and a minute here. Doc tests after,
# on a whole run (cargo refuses --doc beside the target choices extra arguments may make).
step "cargo test"
cargo test --workspace --locked --lib --bins --tests "$@"
if [ $# -eq 0 ]; then
    cargo test --workspace --locked --doc
fi
