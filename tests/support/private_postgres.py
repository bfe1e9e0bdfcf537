"""A private PostgreSQL server for tests that need what the shared one lacks.

The shared server at 127.0.0.1:5432 trusts everyone and speaks no TLS, so it
cannot show a wrong password, an untrusted certificate or a server that only
accepts TLS. This one is made in a second or two (initdb --no-sync,
fsync=off) on a free loopback port, with:

- scram-sha-256 password authentication for the role `smokejumper`
  (the bootstrap superuser) with a password full of URL-special characters;
- optionally TLS: a throw-away CA signs a server certificate for
  DNS:localhost and IP:127.0.0.1 only; a second, unrelated CA is written for
  "unknown CA" tests;
- pg_hba lines of type `host` (TLS optional) or `hostssl` (TLS required);
- a second listening address, 127.0.0.2, that the certificate does not name,
  for hostname-mismatch tests.

PostgreSQL refuses to run as root, so when the tests run as root the server
binaries run as the `postgres` system user (runuser), and the data directory
lives in a directory that user owns, outside pytest's root-only tmp tree.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.services import free_port

PG_BIN = Path(os.environ.get("SMOKEJUMPER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"  # the system account that runs the server when we are root
HOST = "127.0.0.1"
OTHER_HOST = "127.0.0.2"  # also listened on; not in the server certificate
ROLE = "smokejumper"


@dataclass(frozen=True)
class PrivatePostgres:
    """Where the private server is and what a client needs to reach it."""

    host: str
    other_host: str
    port: int
    user: str
    password: str
    database: str
    tls: bool
    hba: str
    data_dir: Path
    ca_file: Path | None
    wrong_ca_file: Path | None

    def dsn(self, *, host: str | None = None, password: bool = True, database: str | None = None, **params: str) -> str:
        """A postgresql:// URL for this server; `params` become the query string."""
        auth = quote(self.user, safe="")
        if password:
            auth += ":" + quote(self.password, safe="")
        query = "&".join(f"{key}={quote(str(value), safe='/')}" for key, value in params.items())
        url = f"postgresql://{auth}@{host or self.host}:{self.port}/{quote(database or self.database, safe='')}"
        return f"{url}?{query}" if query else url


# --- certificates -----------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def make_ca(directory: Path, name: str) -> tuple[Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA: returns its PEM path, certificate and key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert, key


def make_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    cert_path: Path,
    key_path: Path,
    *,
    dns_names: tuple[str, ...] = ("localhost",),
    ip_addresses: tuple[str, ...] = (HOST,),
) -> None:
    """A server certificate signed by the CA, valid for exactly the given names."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns_names[0] if dns_names else "server"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)


# --- the server -------------------------------------------------------------


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def _chown_to_server_user(path: Path) -> None:
    if os.geteuid() != 0:
        return
    account = pwd.getpwnam(SERVER_USER)
    for root, dirs, files in os.walk(path):
        for entry in (root, *(os.path.join(root, name) for name in dirs + files)):
            os.chown(entry, account.pw_uid, account.pw_gid)


def _run(command: list[str], what: str, *, log: Path | None = None) -> None:
    done = subprocess.run([*_as_server_user(), *command], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        server_log = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
        pytest.fail(f"{what} failed ({done.returncode}): {done.stdout}{done.stderr}{server_log}", pytrace=False)


def _hba(connection_type: str) -> str:
    return (
        "# written by tests/support/private_postgres.py\n"
        "local all all trust\n"
        f"{connection_type} all all 127.0.0.0/8 scram-sha-256\n"
        f"{connection_type} all all ::1/128 scram-sha-256\n"
    )


@contextmanager
def private_postgres(
    client_dir: Path,
    *,
    tls: bool,
    hba: Literal["host", "hostssl"] = "host",
    max_connections: int = 20,
) -> Iterator[PrivatePostgres]:
    """Run a private PostgreSQL 15 for the duration of the `with` block.

    `client_dir` receives what a client needs (the CA files); the server's own
    files live in a temporary directory owned by the server user, removed after.
    """
    if not (PG_BIN / "initdb").is_file():
        pytest.fail(f"PostgreSQL binaries not found in {PG_BIN} (set SMOKEJUMPER_TEST_PG_BIN)", pytrace=False)
    if hba == "hostssl" and not tls:
        raise ValueError("a hostssl-only server without TLS would accept no TCP connection at all")
    client_dir.mkdir(parents=True, exist_ok=True)
    # Characters that must be percent-encoded in a URL, so DSN tests exercise decoding.
    password = f"p@ss:w/rd?#%{secrets.token_hex(6)}"
    server_dir = Path(tempfile.mkdtemp(prefix="smokejumper-pg-"))
    data_dir = server_dir / "data"
    pwfile = server_dir / "pwfile"
    pwfile.write_text(password + "\n")
    _chown_to_server_user(server_dir)
    port = free_port()
    ca_file = wrong_ca_file = None
    log = server_dir / "server.log"
    try:
        _run(
            [
                str(PG_BIN / "initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                ROLE,
                "--pwfile",
                str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            "initdb",
        )
        pwfile.unlink()
        settings = [
            f"listen_addresses = '{HOST},{OTHER_HOST}'",
            f"port = {port}",
            f"unix_socket_directories = '{server_dir}'",
            f"max_connections = {max_connections}",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "shared_buffers = 16MB",
            "password_encryption = 'scram-sha-256'",
            "log_min_messages = warning",
        ]
        if tls:
            ca_file, ca_cert, ca_key = make_ca(client_dir, "test-ca")
            wrong_ca_file, _, _ = make_ca(client_dir, "untrusted-ca")
            make_server_cert(ca_cert, ca_key, data_dir / "server.crt", data_dir / "server.key")
            settings += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        with (data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/support/private_postgres.py\n" + "\n".join(settings) + "\n")
        (data_dir / "pg_hba.conf").write_text(_hba(hba))
        _chown_to_server_user(data_dir)
        _run(
            [
                str(PG_BIN / "pg_ctl"),
                "--pgdata",
                str(data_dir),
                "--log",
                str(log),
                "--wait",
                "--timeout=30",
                "--silent",
                "start",
            ],
            "pg_ctl start",
            log=log,
        )
        yield PrivatePostgres(
            host=HOST,
            other_host=OTHER_HOST,
            port=port,
            user=ROLE,
            password=password,
            database="postgres",
            tls=tls,
            hba=hba,
            data_dir=data_dir,
            ca_file=ca_file,
            wrong_ca_file=wrong_ca_file,
        )
    finally:
        if (data_dir / "postmaster.pid").exists():
            _run(
                [str(PG_BIN / "pg_ctl"), "--pgdata", str(data_dir), "--mode=immediate", "--wait", "--silent", "stop"],
                "pg_ctl stop",
            )
        shutil.rmtree(server_dir, ignore_errors=True)
