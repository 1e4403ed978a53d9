#!/usr/bin/env bash
# Refreshes the Amazon RDS root CAs built into rotor (crates/core/rds-ca/) from the bundle
# AWS publishes for RDS clients. Keeps the self-signed roots that have not expired (RDS
# servers send their intermediate; the expired 2019 generation is of no use), each after
# a `# <common name>` line, sorted by name, and rewrites SHA256SUMS (the SHA-256 of each
# PEM block, then two spaces and the name), which rotor-core's unit tests check.
#
# Needs curl, openssl and access to the internet. Usage: ./scripts/refresh-rds-ca.sh
# (RDS_CA_BUNDLE_URL overrides the source, e.g. file:///path/global-bundle.pem.)
set -euo pipefail

url="${RDS_CA_BUNDLE_URL:-https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem}"
dest="$(cd "$(dirname "$0")/.." && pwd)/crates/core/rds-ca"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() {
    echo "refresh-rds-ca: $*" >&2
    exit 1
}

command -v openssl >/dev/null || fail "openssl is not installed"
if ! curl -fsSL --connect-timeout 15 --max-time 120 "$url" -o "$work/bundle.pem"; then
    fail "cannot download $url (is the internet reachable from here?); nothing was changed"
fi

# One file per certificate of the bundle.
awk -v dir="$work" '
    /-----BEGIN CERTIFICATE-----/ { n++; f = sprintf("%s/cert-%04d.pem", dir, n) }
    f { print > f }
    /-----END CERTIFICATE-----/ { close(f); f = "" }
' "$work/bundle.pem"
compgen -G "$work/cert-*.pem" >/dev/null || fail "$url holds no PEM certificate"

: >"$work/list"
for cert in "$work"/cert-*.pem; do
    subject="$(openssl x509 -in "$cert" -noout -subject -nameopt RFC2253)"
    issuer="$(openssl x509 -in "$cert" -noout -issuer -nameopt RFC2253)"
    [ "${subject#subject=}" = "${issuer#issuer=}" ] || continue # an intermediate
    openssl x509 -in "$cert" -noout -checkend 0 >/dev/null || continue # expired
    case "$subject" in
        *"OU=Amazon RDS"*) ;;
        *) fail "the bundle holds a root that is not an Amazon RDS CA: $subject" ;;
    esac
    cn="$(openssl x509 -in "$cert" -noout -subject -nameopt multiline |
        sed -n 's/^ *commonName *= *//p')"
    [ -n "$cn" ] || fail "a root in the bundle has no common name: $subject"
    # Re-encoded by openssl so every block has the same layout (64-column lines).
    openssl x509 -in "$cert" -outform PEM >"$cert.root"
    printf '%s\t%s\n' "$cn" "$cert.root" >>"$work/list"
done
[ -s "$work/list" ] || fail "no valid self-signed root in $url"

: >"$work/rds-root-cas.pem"
: >"$work/SHA256SUMS"
while IFS=$'\t' read -r cn file; do
    printf '# %s\n' "$cn" >>"$work/rds-root-cas.pem"
    cat "$file" >>"$work/rds-root-cas.pem"
    printf '%s  %s\n' "$(sha256sum <"$file" | cut -d' ' -f1)" "$cn" >>"$work/SHA256SUMS"
done < <(LC_ALL=C sort -t $'\t' -k1,1 -k2,2 "$work/list")

cp "$work/rds-root-cas.pem" "$work/SHA256SUMS" "$dest/"
echo "refresh-rds-ca: $(wc -l <"$work/SHA256SUMS") roots written to $dest"
echo "refresh-rds-ca: check with 'git diff --stat $dest' and 'cargo test -p rotor-core rds'"
