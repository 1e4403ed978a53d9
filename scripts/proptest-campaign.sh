#!/usr/bin/env bash
# A long property-test campaign (not part of the test command): every property of the
# five crates' `tests/properties.rs`, each with many cases, in a release build, one after
# the other. Prints, per property and in total, the cases run, the time and the cases per
# second; exits non-zero when a property failed (its output is in the log named).
#
#   ./scripts/proptest-campaign.sh [cases per property]     # default 1,000,000
#
# The README's test command runs the same properties with a few thousand cases each.
# The libpq / dj-database-url sample is a fixed sample, not a property: set
# ROTOR_PSQL_SAMPLE (e.g. 500) to run it here as well.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-1000000}"

# The release profile as deployed minus what only matters to a deployed binary: no LTO
# and 16 codegen units (the test binaries link in seconds, not minutes) and unwinding
# (the test harness needs it; with `abort` Cargo would build every dependency twice).
export CARGO_PROFILE_RELEASE_LTO=false
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
export CARGO_PROFILE_RELEASE_PANIC=unwind

crates=(rotor-core rotor-rotate rotor-sync-url rotor-replicate rotor-audit)
packages=()
for crate in "${crates[@]}"; do packages+=(-p "$crate"); done
# One build of the five (built one by one, each would unify its dependencies' features
# differently and rebuild them); Cargo's JSON messages say which binary is whose.
cargo test --release --locked --no-run "${packages[@]}" --test properties >&2
mapfile -t found < <(
    cargo test --release --locked --no-run "${packages[@]}" --test properties \
        --message-format=json 2>/dev/null |
        python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") \
            and m["target"]["name"] == "properties":
        print(m["package_id"], m["executable"])
'
)
binaries=()
for crate in "${crates[@]}"; do
    binary=""
    for line in "${found[@]}"; do
        # package ids read `path+file:///…/crates/<dir>#<name>@<version>` (or `<name> <version> (…)`).
        case "$line" in
            *"#$crate@"* | "$crate "*) binary="${line##* }" ;;
        esac
    done
    binaries+=("$binary")
done

log_dir="$(mktemp -d "${TMPDIR:-/tmp}/rotor-proptest-campaign.XXXXXX")"
export PROPTEST_CASES="$cases"
total_cases=0
total_ns=0
failed=()
printf '\n%-16s %-84s %12s %9s %12s\n' crate property cases seconds "cases/s"
for i in "${!binaries[@]}"; do
    binary="${binaries[$i]}"
    crate="${crates[$i]}"
    [ -x "$binary" ] || { echo "no property test binary for $crate" >&2; exit 1; }
    mapfile -t tests < <("$binary" --list 2>/dev/null | sed -n 's/: test$//p')
    for test in "${tests[@]}"; do
        n="$cases"
        if [[ "$test" == *sample_of_generated_urls* ]]; then
            [ -n "${ROTOR_PSQL_SAMPLE:-}" ] || continue
            n="$ROTOR_PSQL_SAMPLE"
        fi
        log="$log_dir/$crate.$test.log"
        start=$(date +%s%N)
        if "$binary" --exact "$test" --test-threads 1 >"$log" 2>&1; then
            status=""
        else
            status="  FAILED (see $log)"
            failed+=("$crate::$test")
        fi
        ns=$(( $(date +%s%N) - start ))
        total_cases=$(( total_cases + n ))
        total_ns=$(( total_ns + ns ))
        awk -v c="$crate" -v t="$test" -v n="$n" -v ns="$ns" -v s="$status" \
            'BEGIN { printf "%-16s %-84s %12d %9.1f %12.0f%s\n", c, t, n, ns / 1e9, n / (ns / 1e9), s }'
    done
done
awk -v n="$total_cases" -v ns="$total_ns" \
    'BEGIN { printf "%-16s %-84s %12d %9.1f %12.0f\n", "total", "", n, ns / 1e9, n / (ns / 1e9) }'
echo "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ); logs in $log_dir"
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
