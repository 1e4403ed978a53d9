#!/usr/bin/env bash
# Release artifacts for people who deploy rotor without building Rust: the four arm64
# Lambda packages, each a zip holding one `bootstrap`, and their SHA-256 checksums.
#
#   scripts/release.sh            build with sam build (scripts/sam-build.sh), then package
#   BUILD_DIR=/tmp/b scripts/release.sh   another build directory
#
# Writes, for the workspace version V in Cargo.toml:
#   dist/rotor-rotate-V-arm64.zip     dist/rotor-sync-url-V-arm64.zip
#   dist/rotor-replicate-V-arm64.zip  dist/rotor-audit-V-arm64.zip
#   dist/SHA256SUMS                   (check with: cd dist && sha256sum -c SHA256SUMS)
#
# The zips are reproducible: fixed timestamps and modes, so the same bootstrap gives the same
# checksum. Each one can be uploaded as a function's code (runtime provided.al2023,
# architecture arm64, handler ignored). The build takes minutes (every dependency is compiled
# for aarch64 in release mode with LTO); see scripts/sam-build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'release: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# The version of [workspace.package] in Cargo.toml.
version=$(awk -F'"' '
    /^\[/ { in_pkg = ($0 == "[workspace.package]") }
    in_pkg && /^version *=/ { print $2; exit }
' Cargo.toml)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+].*)?$ ]] \
    || die "no semantic version in [workspace.package] of Cargo.toml (found '${version}')"

# The Serverless Application Repository metadata must publish the same version.
template_version=$(sed -n 's/^    SemanticVersion: *\([^ #]*\).*/\1/p' template.yaml | head -n 1)
[ "$template_version" = "$version" ] \
    || die "template.yaml's SemanticVersion is '${template_version}', Cargo.toml's version is ${version}: make them equal"

build_dir=${BUILD_DIR:-.aws-sam/build}
say "rotor ${version}: building the four arm64 functions into ${build_dir}"
BUILD_DIR="$build_dir" ./scripts/sam-build.sh

# Template logical id -> binary (package) name.
functions=(
    RotateFunction:rotor-rotate
    SyncUrlFunction:rotor-sync-url
    ReplicateFunction:rotor-replicate
    AuditFunction:rotor-audit
)

rm -rf dist
mkdir -p dist
for entry in "${functions[@]}"; do
    logical_id=${entry%%:*}
    name=${entry#*:}
    bootstrap=$build_dir/$logical_id/bootstrap
    [ -f "$bootstrap" ] || die "$bootstrap is missing after the build"
    zip_path=dist/$name-$version-arm64.zip
    # zip(1) stores the file's own timestamp; Python's zipfile lets the entry be fixed
    # (1980-01-01, mode 0755), so the checksum depends on the binary alone.
    python3 - "$bootstrap" "$zip_path" <<'PY'
import sys
import zipfile

source, target = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.create_system = 3
info.compress_type = zipfile.ZIP_DEFLATED
with open(source, "rb") as f, zipfile.ZipFile(target, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
PY
    say "$zip_path ($(stat -c %s "$zip_path") bytes)"
done

(cd dist && sha256sum -- *.zip >SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
say "dist/SHA256SUMS:"
cat dist/SHA256SUMS
