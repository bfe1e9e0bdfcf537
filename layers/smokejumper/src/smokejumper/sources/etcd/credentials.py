"""etcd client credentials from a Secrets Manager secret, as the Lambda gets them.

The secret (the plan's `tls_secret_arn`, read by `smokejumper.secrets`) is JSON: `ca` (PEM of the CA that
signed the members' certificates), `cert` and `key` (PEM of the client
certificate and its unencrypted key), and optionally `user`/`password` for
etcd password auth (a user with the root role, when auth is on). gRPC wants them as files, so they are written to a
private directory (0700, files 0600: the key opens the whole cluster's
state) that the caller removes when done; `EtcdEndpoint`s for each client
URL point at them. Values never appear in messages.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from smokejumper.errors import UsageError
from smokejumper.sources.etcd.client import EtcdEndpoint

__all__ = ["SECRET_KEYS", "endpoints_from_secret"]

SECRET_KEYS = ("ca", "cert", "key")
SECRET_HINT = 'the etcd secret is JSON: {"ca": "-----BEGIN CERTIFICATE-----…", "cert": "…", "key": "…"}'  # noqa: S105


def _check(secret: Mapping[str, Any]) -> None:
    missing = [key for key in SECRET_KEYS if not isinstance(secret.get(key), str) or not secret[key].strip()]
    if missing:
        raise UsageError(f"the etcd secret has no {', '.join(missing)}", hint=SECRET_HINT)
    for key, marker in (("ca", "CERTIFICATE"), ("cert", "CERTIFICATE"), ("key", "PRIVATE KEY")):
        if f"-----BEGIN {marker}" not in secret[key] and not (key == "key" and "PRIVATE KEY-----" in secret[key]):
            raise UsageError(f"the etcd secret's {key!r} is not a PEM {marker.lower()}", hint=SECRET_HINT)
    if "ENCRYPTED" in secret["key"]:
        raise UsageError("the etcd secret's key is encrypted", hint="store the client key unencrypted in the secret")


@contextmanager
def endpoints_from_secret(
    urls: Sequence[str], secret: Mapping[str, Any], *, timeout: float | None = None
) -> Iterator[list[EtcdEndpoint]]:
    """Endpoints for `urls` using the secret's certificates, written to private files for the block's time."""
    _check(secret)
    directory = Path(tempfile.mkdtemp(prefix="smokejumper-etcd-tls-"))  # mkdtemp makes it 0700
    try:
        paths = {}
        for key in SECRET_KEYS:
            path = directory / f"{key}.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secret[key])
            paths[key] = str(path)
        extra: dict[str, Any] = {"timeout": timeout} if timeout else {}
        user, password = secret.get("user"), secret.get("password")
        yield [
            EtcdEndpoint(
                url,
                ca_file=paths["ca"],
                cert_file=paths["cert"],
                key_file=paths["key"],
                user=str(user) if user else None,
                password=str(password) if password else None,
                **extra,
            )
            for url in urls
        ]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
