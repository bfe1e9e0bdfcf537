"""How to reach the things a plan backs up: one model per kind, built from a plan item plus its credentials.

The plan says where a database or an etcd cluster is and which Secrets
Manager secrets hold its credentials; the secrets are read at run time
(`smokejumper.secrets`). `resolve_target` turns the two into what a source
connects with:

- a database becomes a `sources.dsn.DatabaseTarget`, the same model a CLI
  `--dsn` parses into: host, port and database from the plan, user and
  password from the secret (RDS-style JSON: `username`, `password`), TLS from
  the plan (the CA bundle from a file or from a secret holding PEM text);
- an etcd cluster becomes an `EtcdTarget`: its client URLs and, for https,
  the secret with the CA and client certificate (JSON `ca`, `cert`, `key`,
  optionally `user`/`password`), or files given on the command line.

The names both the plan and the DSN code use live here, once: the TLS modes
(libpq's) and the engines' default ports. This module imports nothing heavy:
the plan imports it, and every command imports the plan.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from smokejumper.plan import Database, EtcdCluster
    from smokejumper.secrets import Secrets
    from smokejumper.sources.dsn import DatabaseTarget

SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[str, ...] = get_args(SslMode)
Engine = Literal["postgres", "mysql"]
DEFAULT_PORTS: dict[str, int] = {"postgres": 5432, "mysql": 3306}


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine: `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_http(url: str) -> bool:
    """An `http://` URL on this machine: a local or test etcd, the only place plaintext is allowed."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme == "http" and bool(parts.hostname) and is_loopback(parts.hostname or "")


@dataclass(frozen=True)
class EtcdTarget:
    """An etcd cluster to snapshot: its client URLs and how to authenticate to them.

    Credentials come either from `secret` (the parsed JSON of the plan's
    `tls_secret_arn`: PEM texts, written to private files only while the
    snapshot runs, since gRPC reads files) or from files (`ca_file`,
    `cert_file`, `key_file`, as the CLI takes them). Loopback `http://`
    endpoints need neither.
    """

    name: str
    endpoints: tuple[str, ...]
    secret: Mapping[str, Any] | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)

    def redacted(self) -> str:
        return ", ".join(self.endpoints)


def database_target(database: Database, secrets: Secrets) -> DatabaseTarget:
    """The plan's database with the user and password of its secret and the TLS the plan asks for."""
    from smokejumper.sources.dsn import DatabaseTarget, TlsOptions, credentials_from_secret

    user, password = credentials_from_secret(secrets.json(database.credentials_secret_arn), engine=database.engine)
    ca_data = secrets.text(database.tls.ca_bundle_secret_arn) if database.tls.ca_bundle_secret_arn else None
    tls = TlsOptions(mode=database.tls.mode, ca_file=database.tls.ca_bundle_path, ca_data=ca_data)
    return DatabaseTarget(
        engine=database.engine,
        host=database.host,
        port=database.port,
        user=user,
        password=password,
        database=database.database,
        tls=tls,
        password_from=f"secret {database.credentials_secret_arn}",
    )


def etcd_target(cluster: EtcdCluster, secrets: Secrets) -> EtcdTarget:
    """The plan's etcd cluster with its TLS secret (none for loopback http:// endpoints)."""
    secret = secrets.json(cluster.tls_secret_arn) if cluster.tls_secret_arn else None
    return EtcdTarget(name=cluster.name, endpoints=tuple(cluster.endpoints), secret=secret)
