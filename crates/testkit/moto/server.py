"""moto's server as the test kit starts it: stock moto with one change, which makes Secrets
Manager keep a stored AWSPENDING value as AWS keeps it; and, with ROTOR_MOTO_AWS_PAGES=1,
SSM's DescribeParameters paged as AWS pages it (aws_pages.py, for benchmarks at scale).

PutSecretValue under a version id that already holds a value: AWS ignores the request when
the value is the same and refuses it when it differs, "because you can't modify a secret
version" (the ClientRequestToken parameter in the Secrets Manager API reference,
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html).
Stock moto (5.x) makes an exception for a version labelled AWSPENDING and overwrites it, so
a retried createSecret could replace the value an earlier attempt stored, which AWS never
allows. Here such a version is kept like any other, with moto's own answer for the other
versions (ResourceExistsException). The empty AWSPENDING version that RotateSecret creates
for the rotation function to fill still takes its first value.

Usage: python server.py [moto_server's arguments]
"""

import os
import sys

from moto.secretsmanager import models
from moto.secretsmanager.exceptions import ResourceExistsException

Backend = models.SecretsManagerBackend
_stock_check = Backend._check_with_existing_secrets_and_versions


def _check_with_existing_secrets_and_versions(
    self, secret_name, client_request_token, secret_string, secret_binary, on_create=False
):
    secret = self.secrets[secret_name] if secret_name in self.secrets.keys() else None
    versions = getattr(secret, "versions", None) or {}
    version = versions.get(client_request_token) if client_request_token else None
    holds_value = version is not None and (
        "secret_string" in version or "secret_binary" in version
    )
    if holds_value and "AWSPENDING" in version.get("version_stages", []):
        if (
            version.get("secret_string") == secret_string
            and version.get("secret_binary") == secret_binary
        ):
            return secret
        raise ResourceExistsException(
            f"You can't use ClientRequestToken {client_request_token} because that value "
            f"is already in use for a version of secret {secret.arn}."
        )
    return _stock_check(
        self, secret_name, client_request_token, secret_string, secret_binary, on_create
    )


def patch():
    Backend._check_with_existing_secrets_and_versions = _check_with_existing_secrets_and_versions


if __name__ == "__main__":
    patch()
    if os.environ.get("ROTOR_MOTO_AWS_PAGES") == "1":
        import aws_pages

        aws_pages.patch()
    from moto.server import main

    sys.exit(main())
