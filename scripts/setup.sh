#!/usr/bin/env bash
# Installs everything rotor's tests and demo need on a Debian machine with Rust:
# Debian packages that are missing (PostgreSQL, openssl, python3-venv, build tools) and a
# project-local Python virtualenv (.venv) with moto, cfn-lint, aws-sam-cli, cargo-lambda, and
# checkov in a virtualenv of its own (.venv/checkov).
#
#   scripts/setup.sh            what the tests and the demo need
#   scripts/setup.sh --cross    also zig (PyPI ziglang, ~400 MB), which cargo-lambda needs to
#                               cross-compile for arm64 (scripts/sam-build.sh asks for it)
#
# Safe to run again: it only installs what is missing or out of date. pip keeps no cache
# (--no-cache-dir): the wheels would double the space the tools take.
set -euo pipefail
cd "$(dirname "$0")/.."

cross=false
case "${1:-}" in
    "") ;;
    --cross) cross=true ;;
    *) printf 'setup: ERROR: unknown argument %s (expected --cross or nothing)\n' "$1" >&2; exit 2 ;;
esac

say() { printf 'setup: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"

SUDO=()
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null && SUDO=(sudo)
fi

packages=()
have_pg() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if ! have_pg; then
    say "PostgreSQL server binaries (initdb) not found: will install Debian's postgresql"
    packages+=(postgresql)
fi
command -v psql >/dev/null 2>&1 || packages+=(postgresql-client)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
command -v perl >/dev/null 2>&1 || packages+=(perl)
command -v make >/dev/null 2>&1 || packages+=(make)
command -v cc >/dev/null 2>&1 || packages+=(gcc)
command -v python3 >/dev/null 2>&1 || packages+=(python3)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    packages+=(python3-venv)
fi

if [ ${#packages[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${packages[*]} and no apt-get to install them"
    if [ "$(id -u)" != 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "missing ${packages[*]}; run as root or install sudo"
    fi
    say "installing Debian packages: ${packages[*]}"
    "${SUDO[@]}" apt-get update -qq || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null \
        || die "could not install ${packages[*]}"
    # Debian's package starts a cluster of its own; the tests start their own servers.
    if printf '%s\n' "${packages[@]}" | grep -qx postgresql; then
        "${SUDO[@]}" service postgresql stop >/dev/null 2>&1 || true
    fi
    have_pg || die "PostgreSQL was installed but initdb is still not found"
fi

VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
    say "creating Python virtualenv in $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed"
fi
pip_install() { "$1" -m pip install -q --disable-pip-version-check --no-cache-dir "${@:2}"; }

want=$(cat scripts/requirements.txt scripts/requirements-lambda.txt | sha256sum | cut -d' ' -f1)
have=$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    say "installing Python tools into $VENV (moto, cfn-lint, aws-sam-cli, cargo-lambda)"
    pip_install "$VENV/bin/python" --upgrade pip >/dev/null || die "could not upgrade pip"
    pip_install "$VENV/bin/python" -r scripts/requirements.txt \
        || die "pip could not install scripts/requirements.txt (is PyPI reachable?)"
    # cargo-lambda's one dependency is ziglang, used only to cross-compile (--cross below).
    pip_install "$VENV/bin/python" --no-deps -r scripts/requirements-lambda.txt \
        || die "pip could not install scripts/requirements-lambda.txt (is PyPI reachable?)"
    echo "$want" > "$VENV/.requirements.sha256"
fi
for tool in moto_server cfn-lint sam cargo-lambda; do
    [ -x "$VENV/bin/$tool" ] || die "$tool is missing from $VENV/bin after install"
done
if $cross; then
    want=$(sha256sum scripts/requirements-cross.txt | cut -d' ' -f1)
    have=$(cat "$VENV/.requirements-cross.sha256" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
        say "installing zig (PyPI ziglang) into $VENV for cross-compiling"
        pip_install "$VENV/bin/python" -r scripts/requirements-cross.txt \
            || die "pip could not install scripts/requirements-cross.txt (is PyPI reachable?)"
        echo "$want" > "$VENV/.requirements-cross.sha256"
    fi
    "$VENV/bin/python" -c 'import ziglang' 2>/dev/null || die "ziglang is missing from $VENV after install"
fi

# checkov pins versions of shared libraries that aws-sam-cli pins differently, so it lives in
# a virtualenv of its own.
CHECKOV_VENV=$VENV/checkov
if [ ! -x "$CHECKOV_VENV/bin/python" ]; then
    say "creating Python virtualenv in $CHECKOV_VENV"
    python3 -m venv "$CHECKOV_VENV" || die "python3 -m venv $CHECKOV_VENV failed"
fi
want=$(sha256sum scripts/requirements-checkov.txt | cut -d' ' -f1)
have=$(cat "$CHECKOV_VENV/.requirements.sha256" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    say "installing checkov into $CHECKOV_VENV"
    pip_install "$CHECKOV_VENV/bin/python" --upgrade pip >/dev/null \
        || die "could not upgrade pip in $CHECKOV_VENV"
    pip_install "$CHECKOV_VENV/bin/python" -r scripts/requirements-checkov.txt \
        || die "pip could not install scripts/requirements-checkov.txt (is PyPI reachable?)"
    echo "$want" > "$CHECKOV_VENV/.requirements.sha256"
fi
[ -x "$CHECKOV_VENV/bin/checkov" ] || die "checkov is missing from $CHECKOV_VENV/bin after install"
say "ready: $(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -1), $("$VENV/bin/python" -m pip show moto 2>/dev/null | grep ^Version | sed 's/Version: /moto /')"
