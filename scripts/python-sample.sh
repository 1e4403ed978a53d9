#!/usr/bin/env bash
# Prepares AWS's Python single-user PostgreSQL rotation sample for the side-by-side figure
# of rotor-rotate's benchmark: downloads the sample at a pinned commit (checked against its
# SHA-256) and a virtualenv with boto3 and PyGreSQL, all under target/python-sample.
# Needs the internet once; where GitHub cannot be reached, give a copy of the file:
#   SAMPLE_FILE=path/to/lambda_function.py ./scripts/python-sample.sh
# The benchmark (crates/rotate/examples/rotate_bench.rs) runs the sample once this is done.
set -euo pipefail
cd "$(dirname "$0")/.."

COMMIT=b4b8eca63e1f61bbcfb18c291b640f4fc3b0deb8
SHA256=a2e44db80dafbf059ce82202e49931f10d1761ce22faf88c50c98b4016959152
URL="https://raw.githubusercontent.com/aws-samples/aws-secrets-manager-rotation-lambdas/$COMMIT/SecretsManagerRDSPostgreSQLRotationSingleUser/lambda_function.py"
DIR=target/python-sample

mkdir -p "$DIR"
if ! echo "$SHA256  $DIR/lambda_function.py" | sha256sum -c --status 2>/dev/null; then
    if [ -n "${SAMPLE_FILE:-}" ]; then
        cp "$SAMPLE_FILE" "$DIR/lambda_function.py.part"
    else
        curl -fsSL "$URL" -o "$DIR/lambda_function.py.part" \
            || { echo "python-sample: cannot download $URL; set SAMPLE_FILE to a copy" >&2; exit 1; }
    fi
    echo "$SHA256  $DIR/lambda_function.py.part" | sha256sum -c --status \
        || { echo "python-sample: the downloaded sample does not match its pinned SHA-256" >&2; exit 1; }
    mv "$DIR/lambda_function.py.part" "$DIR/lambda_function.py"
fi
if [ ! -x "$DIR/venv/bin/python" ]; then
    python3 -m venv "$DIR/venv"
fi
"$DIR/venv/bin/pip" install -q --disable-pip-version-check boto3 PyGreSQL
echo "python-sample: ready in $DIR"
