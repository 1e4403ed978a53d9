#!/usr/bin/env bash
# Builds the SAM application as Lambda runs it (provided.al2023, arm64): `sam build` compiles
# each function with cargo-lambda, cross-compiling with zig, into .aws-sam/build/<Function>/
# bootstrap. Then it checks that every bootstrap is an aarch64 ELF executable and prints its
# size.
#
#   scripts/sam-build.sh                       all four functions
#   scripts/sam-build.sh RotateFunction ...    only these (template logical ids)
#   BUILD_DIR=/tmp/build scripts/sam-build.sh  another build directory
#
# Slow on a small machine: the first build compiles every dependency for aarch64 in release
# mode with LTO (several minutes per core); later builds reuse target/.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'sam-build: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

./scripts/setup.sh --cross

# sam, cargo-lambda and the ziglang package (cargo-lambda runs `python3 -m ziglang` when no
# `zig` is on PATH) all come from the project's virtualenv.
export PATH="$PWD/.venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
command -v cargo-lambda >/dev/null || die "cargo-lambda is missing from .venv (run ./scripts/setup.sh)"
python3 -c 'import ziglang' 2>/dev/null || die "the ziglang package is missing from .venv (run ./scripts/setup.sh --cross)"

TARGET=aarch64-unknown-linux-gnu
if command -v rustup >/dev/null; then
    if ! rustup target list --installed | grep -qx "$TARGET"; then
        say "adding the Rust standard library for $TARGET"
        rustup target add "$TARGET" || die "rustup could not add $TARGET"
    fi
fi

build_dir=${BUILD_DIR:-.aws-sam/build}
all=(RotateFunction SyncUrlFunction ReplicateFunction AuditFunction)
functions=("$@")
for fn in "${functions[@]}"; do
    [[ " ${all[*]} " == *" $fn "* ]] || die "unknown function $fn (expected one of ${all[*]})"
done

start=$SECONDS
if [ ${#functions[@]} -eq 0 ]; then
    functions=("${all[@]}")
    say "sam build (all functions) into $build_dir"
    sam build --template template.yaml --build-dir "$build_dir"
else
    for fn in "${functions[@]}"; do
        say "sam build $fn into $build_dir"
        sam build --template template.yaml --build-dir "$build_dir" "$fn"
    done
fi
elapsed=$((SECONDS - start))

# ELF header: magic, class 2 (64-bit), data 1 (little-endian), type 2 (executable) or 3
# (position-independent executable), machine 183 (EM_AARCH64).
elf_problem() {
    local f=$1 header
    header=$(od -An -v -tu1 -N20 "$f" | tr -s ' \n' ' ')
    read -r m0 m1 m2 m3 class data _ _ _ _ _ _ _ _ _ _ t0 t1 mc0 mc1 <<<"$header"
    [ "$m0 $m1 $m2 $m3" = "127 69 76 70" ] || { echo "not an ELF file"; return; }
    [ "$class" = 2 ] || { echo "not a 64-bit ELF"; return; }
    [ "$data" = 1 ] || { echo "not little-endian"; return; }
    [ $((t0 + 256 * t1)) = 2 ] || [ $((t0 + 256 * t1)) = 3 ] || { echo "not an executable (e_type $((t0 + 256 * t1)))"; return; }
    [ $((mc0 + 256 * mc1)) = 183 ] || { echo "built for machine $((mc0 + 256 * mc1)), not aarch64 (183)"; return; }
}

failed=0
printf '\n%-18s %-42s %12s %9s\n' function binary bytes MiB
for fn in "${functions[@]}"; do
    f=$build_dir/$fn/bootstrap
    if [ ! -f "$f" ]; then
        printf '%-18s %-42s %s\n' "$fn" "$f" "MISSING"
        failed=1
        continue
    fi
    problem=$(elf_problem "$f")
    [ -x "$f" ] || problem=${problem:-"not executable (mode $(stat -c %a "$f"))"}
    bytes=$(stat -c %s "$f")
    printf '%-18s %-42s %12d %9s' "$fn" "$f" "$bytes" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')"
    if [ -n "$problem" ]; then
        printf '  BAD: %s\n' "$problem"
        failed=1
    else
        printf '  aarch64 ELF\n'
    fi
done
printf '\nsam build took %dm%02ds\n' $((elapsed / 60)) $((elapsed % 60))
[ "$failed" = 0 ] || die "some functions did not build as aarch64 executables"
