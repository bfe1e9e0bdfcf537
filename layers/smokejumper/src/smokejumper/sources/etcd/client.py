"""The one module that talks to etcd: endpoints, TLS, member status, the snapshot stream.

Only this module imports `etcd3` (python3-etcd3, a one-maintainer fork that
works with today's protobuf) and `grpc`, so both can be swapped for stubs
generated from etcd's own protos without touching the rest. We use the
library for its channel and authentication handling and its generated
stubs, and call the RPCs (Status, Alarm, MemberList, Range, Snapshot)
directly: its convenience methods drop the response headers we record and
turn every gRPC failure into a bare "connection failed".

Why a connection failed
-----------------------
gRPC reports every transport problem as UNAVAILABLE with a text that names
the last error of its connection attempt. Measured with grpcio 1.85 against
etcd 3.5 (each case is a test in tests/integration/test_etcd_snapshot.py):

=============================  =====================================================================
situation                      what grpc says (details)
=============================  =====================================================================
nothing listens                ``Failed to connect to remote host: Connection refused``
name does not resolve          ``errors resolving HOST:PORT ... Domain name not found``
no answer (filtered, hung)     DEADLINE_EXCEEDED ``Deadline Exceeded``
http:// to a TLS port          ``Socket closed``
https:// to a plaintext port   ``Handshake read failed (Socket closed)``
server cert lacks the SAN      ``Custom verification check failed ... Hostname Verification Check failed.``
server cert from unknown CA    ``CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate``
client cert missing, without   ``SSLV3_ALERT_BAD_CERTIFICATE`` -- the same alert for all three: Go's TLS
clientAuth, or from a CA the   server answers every client-certificate failure with "bad certificate"
server does not trust
=============================  =====================================================================

The texts that name one cause are used as they are. The ambiguous ones are
settled by a second look, only after a failure (the happy path costs
nothing): for "Socket closed"-like failures, a TLS handshake with Python's
`ssl` (did the port answer in TLS?) or a plaintext Status call (does it speak
plain gRPC?); for a rejected client certificate, a TLS handshake *in memory*
between our certificate and a server that trusts our CA file, which tells
"lacks clientAuth" (X509 error 26), "not signed by that CA" and "expired"
apart; for a name mismatch, the names the server certificate does hold.

Auth (etcd with `auth enable`): Range needs read permission and Snapshot
the root role; Status and Alarm work for anyone on etcd 3.5 (newer releases
want the root role for Status too: the same causes then show up earlier). etcd answers with UNKNOWN or
INVALID_ARGUMENT and a text: ``auth: user name is empty`` (no user: no
password given and no client certificate CN), ``auth: permission denied``,
``authentication failed, invalid user ID or password``.
With `--client-cert-auth`, the client certificate's CN is the user name.

Which member
------------
`pick_healthy` asks each endpoint, in the order given, for its status and
takes the first healthy *follower*; the leader is used only when no
follower is healthy. A snapshot reads the whole database and sends it over
the network: on the leader that competes with the work every write waits
for, while a follower's data is just as complete (it lags by at most a few
milliseconds of applied entries, which a snapshot taken "now" cannot tell
from a snapshot taken a moment earlier). Healthy means: Status answers, the
member knows a leader (a member cut off from its quorum may hold stale data,
and is refused), and no CORRUPT alarm is raised against it. NOSPACE alarms
do not disqualify: a cluster that has gone read-only is exactly one to back
up. The price of preferring followers is that, when the first endpoint is
the leader, the next one is asked too.

gRPC's own INFO lines ("Handshake failed with error ...") would repeat every
TLS failure in the logs; unless GRPC_VERBOSITY is set, it is set to ERROR
before grpc is imported.
"""

from __future__ import annotations

import os

# Before `import grpc`, which reads it once.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import re
import socket
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit

import etcd3
import grpc
from etcd3 import etcdrpc

from smokejumper.errors import SmokejumperError, UsageError

__all__ = [
    "DEFAULT_PORT",
    "EtcdClient",
    "EtcdConnectionError",
    "EtcdEndpoint",
    "EtcdSnapshotError",
    "MemberStatus",
    "SnapshotChunk",
    "open_client",
    "pick_healthy",
]

DEFAULT_PORT = 2379
DEFAULT_TIMEOUT = 10.0

# Keepalive pings notice a member that vanished mid-stream (no FIN, no RST) in
# about 40 s. etcd refuses pings more frequent than every 5 s
# (--grpc-keepalive-min-time), answering with GOAWAY "too_many_pings".
_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
]

_ALARMS = {0: "NONE", 1: "NOSPACE", 2: "CORRUPT"}

# OpenSSL X509_V_ERR_* codes, as ssl.SSLCertVerificationError.verify_code reports them.
_UNKNOWN_ISSUER = {2, 18, 19, 20, 21}
_NOT_YET_VALID = 9
_EXPIRED = 10
_INVALID_PURPOSE = 26

URL_HINT = "write https://HOST:PORT (or http://HOST:PORT for a plaintext etcd), e.g. https://10.0.1.10:2379"


class EtcdConnectionError(SmokejumperError):
    """An etcd endpoint could not be used; the message is one line naming the cause.

    `cause` is a short stable code for programs and tests: unreachable,
    timeout, dns, plaintext-to-tls, tls-to-plaintext, server-name-mismatch,
    unknown-ca, server-cert-invalid, client-cert-required,
    client-cert-no-client-auth, client-cert-untrusted, client-cert-expired,
    client-cert-rejected, auth-required, auth-not-root, auth-failed,
    auth-not-enabled, no-leader, corrupt, no-healthy-member, rpc-error,
    connection-failed.
    """

    def __init__(self, message: str, *, hint: str | None = None, cause: str) -> None:
        super().__init__(message, hint=hint)
        self.cause = cause


class EtcdSnapshotError(SmokejumperError):
    """The snapshot stream failed or ended early: nothing of it may be kept."""


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _error(message: str, hint: str, cause: str) -> EtcdConnectionError:
    return EtcdConnectionError(_one_line(message), hint=hint, cause=cause)


# --- endpoints ----------------------------------------------------------------


@dataclass(frozen=True)
class EtcdEndpoint:
    """One etcd client URL and how to reach it.

    `ca_file` verifies the server (default for https: gRPC's bundled public
    roots, which never hold a cluster's private CA); `cert_file`/`key_file`
    are the client certificate for `--client-cert-auth`. `user`/`password`
    are for password auth (rare with certificates: the certificate's CN is
    the user). `timeout` bounds connecting and each short call; the snapshot
    stream has its own deadline (see `EtcdClient.snapshot`).
    """

    url: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    host: str = field(init=False, repr=False, compare=False)
    port: int = field(init=False, repr=False, compare=False)
    secure: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            parts = urlsplit(self.url.strip())
            port = parts.port
        except ValueError as exc:
            raise UsageError(f"etcd endpoint {self.url!r} is not a valid URL ({exc})", hint=URL_HINT) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"etcd endpoint {self.url!r} is not an http(s)://HOST:PORT URL", hint=URL_HINT)
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise UsageError(f"etcd endpoint {self.url!r} must be just SCHEME://HOST:PORT", hint=URL_HINT)
        secure = parts.scheme == "https"
        if not secure and (self.ca_file or self.cert_file or self.key_file):
            raise UsageError(
                f"etcd endpoint {self.url} is plaintext (http://) but TLS files are given",
                hint="use https:// to talk TLS with these files, or drop them",
            )
        if bool(self.cert_file) != bool(self.key_file):
            raise UsageError(
                "an etcd client certificate needs both its certificate and its key file",
                hint="give --cert and --key together",
            )
        if bool(self.user) != bool(self.password):
            raise UsageError("etcd password auth needs both a user and a password", hint="give both, or neither")
        if not self.timeout > 0:
            raise UsageError(f"etcd timeout must be positive, got {self.timeout}")
        object.__setattr__(self, "host", parts.hostname)
        object.__setattr__(self, "port", port or DEFAULT_PORT)
        object.__setattr__(self, "secure", secure)

    @property
    def address(self) -> str:
        """`host:port`, IPv6 hosts bracketed: the gRPC target."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.address}"


def _check_tls_files(endpoint: EtcdEndpoint) -> None:
    """Reject unreadable or wrong PEM files before any connection, naming the file."""
    if endpoint.ca_file:
        try:
            ssl.create_default_context(cafile=endpoint.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise _file_error("CA", endpoint.ca_file, exc) from exc
    if endpoint.cert_file:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file, password=_refuse_key_password)
        except _EncryptedKeyError as exc:
            raise UsageError(
                f"etcd client key {endpoint.key_file} is encrypted",
                hint="store the key unencrypted (mode 0600), e.g. openssl pkey -in KEY -out KEY.plain",
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise _file_error("client certificate/key", endpoint.cert_file, exc, key_file=endpoint.key_file) from exc


class _EncryptedKeyError(Exception):
    pass


def _refuse_key_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal (or hang a Lambda).
    raise _EncryptedKeyError


def _file_error(kind: str, path: str, exc: BaseException, *, key_file: str | None = None) -> UsageError:
    if isinstance(exc, FileNotFoundError):
        return UsageError(f"etcd TLS {kind} file {exc.filename or path} does not exist", hint="check the path")
    if isinstance(exc, PermissionError):
        return UsageError(f"etcd TLS {kind} file {exc.filename or path} is not readable", hint="check its permissions")
    if isinstance(exc, ssl.SSLError) and "KEY_VALUES_MISMATCH" in str(exc):
        return UsageError(
            f"etcd client certificate {path} and key {key_file} do not belong together",
            hint="give the key that was issued with this certificate",
        )
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    files = path if key_file is None else f"{path} / {key_file}"
    return UsageError(
        f"etcd TLS {kind} file {files} is not usable ({reason})",
        hint="it must hold PEM data (-----BEGIN CERTIFICATE----- / -----BEGIN PRIVATE KEY-----)",
    )


def _credentials(endpoint: EtcdEndpoint) -> grpc.ChannelCredentials:
    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(endpoint.ca_file),
        private_key=read(endpoint.key_file),
        certificate_chain=read(endpoint.cert_file),
    )


# --- status -------------------------------------------------------------------


def _hex(value: int) -> str:
    # etcdctl shows ids in hex; uint64 ids also exceed what JSON readers keep exact (2**53).
    return f"{value:x}"


@dataclass(frozen=True)
class MemberStatus:
    """What one member says about itself (Maintenance.Status), plus the cluster's alarms."""

    endpoint: str
    cluster_id: int
    member_id: int
    leader_id: int
    server_version: str
    revision: int
    raft_term: int
    raft_index: int
    db_size: int
    alarms: tuple[str, ...] = ()

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader_id

    def record(self) -> dict[str, Any]:
        """The identity fields for artifact.json; ids in hex as etcdctl prints them."""
        return {
            "endpoint": self.endpoint,
            "cluster_id": _hex(self.cluster_id),
            "member_id": _hex(self.member_id),
            "leader_id": _hex(self.leader_id),
            "is_leader": self.is_leader,
            "server_version": self.server_version,
            "db_size": self.db_size,
            "alarms": list(self.alarms),
        }


class SnapshotChunk(NamedTuple):
    """One message of the Snapshot stream: data, and how many database bytes are still to come."""

    blob: bytes
    remaining_bytes: int


# --- the client ---------------------------------------------------------------


class EtcdClient:
    """A connection to one etcd member. Every failure is an EtcdConnectionError or EtcdSnapshotError."""

    def __init__(self, endpoint: EtcdEndpoint, client: etcd3.MultiEndpointEtcd3Client) -> None:
        self.endpoint = endpoint
        self._client = client
        self._metadata = client.metadata  # the auth token, when password auth is used

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.endpoint.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise explain(exc, self.endpoint) from exc

    def status(self) -> MemberStatus:
        response = self._call(self._client.maintenancestub.Status, etcdrpc.StatusRequest())
        return MemberStatus(
            endpoint=str(self.endpoint),
            cluster_id=response.header.cluster_id,
            member_id=response.header.member_id,
            leader_id=response.leader,
            server_version=response.version,
            revision=response.header.revision,
            raft_term=response.raftTerm,
            raft_index=response.raftIndex,
            db_size=response.dbSize,
        )

    def alarms(self) -> list[tuple[int, str]]:
        """(member id, alarm name) for every raised alarm in the cluster (goes through raft: needs a quorum)."""
        request = etcdrpc.AlarmRequest(action=etcdrpc.AlarmRequest.GET)
        response = self._call(self._client.maintenancestub.Alarm, request)
        return [(alarm.memberID, _ALARMS.get(alarm.alarm, str(alarm.alarm))) for alarm in response.alarms]

    def members(self) -> list[dict[str, Any]]:
        response = self._call(self._client.clusterstub.MemberList, etcdrpc.MemberListRequest())
        return [
            {
                "id": _hex(member.ID),
                "name": member.name,
                "peer_urls": list(member.peerURLs),
                "client_urls": list(member.clientURLs),
            }
            for member in response.members
        ]

    def count_keys(self, revision: int | None = None) -> int:
        """How many keys exist at `revision` (default: now): a count-only Range over the whole keyspace."""
        request = etcdrpc.RangeRequest(key=b"\0", range_end=b"\0", count_only=True, revision=revision or 0)
        return int(self._call(self._client.kvstub.Range, request).count)

    def put(self, key: bytes, value: bytes) -> int:
        """Write one key; returns the new revision (the demo loads its sample keys with it)."""
        response = self._call(self._client.kvstub.Put, etcdrpc.PutRequest(key=key, value=value))
        return int(response.header.revision)

    def delete(self, key: bytes) -> int:
        """Delete one key; returns how many were deleted."""
        response = self._call(self._client.kvstub.DeleteRange, etcdrpc.DeleteRangeRequest(key=key))
        return int(response.deleted)

    def snapshot(self, *, timeout: float | None = None) -> Iterator[SnapshotChunk]:
        """The Maintenance.Snapshot stream: the database in ~32 KiB pieces, then its 32-byte sha256.

        `timeout` is a deadline for the whole stream (None: none; keepalive
        pings still notice a vanished member). Closing the iterator early
        cancels the call, so the member stops sending.
        """
        try:
            call = self._client.maintenancestub.Snapshot(
                etcdrpc.SnapshotRequest(), timeout=timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise explain(exc, self.endpoint) from exc
        received = 0
        try:
            for response in call:
                blob = response.blob
                received += len(blob)
                yield SnapshotChunk(blob, response.remaining_bytes)
        except grpc.RpcError as exc:
            raise self._stream_error(exc, received, timeout) from exc
        finally:
            call.cancel()  # a no-op once the stream has ended

    def _stream_error(self, exc: grpc.RpcError, received: int, timeout: float | None) -> SmokejumperError:
        if received == 0 and exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            return explain(exc, self.endpoint)  # refused before any data: auth, TLS, unreachable
        where = str(self.endpoint)
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return EtcdSnapshotError(
                f"snapshot from etcd at {where} did not finish within {timeout:g} s ({received} bytes received)",
                hint="raise the snapshot timeout, or check the member's load and the network in between",
            )
        return EtcdSnapshotError(
            _one_line(f"snapshot stream from etcd at {where} broke after {received} bytes: {_details(exc)}"),
            hint="the member went away or the connection was cut; nothing was stored: retry "
            "(with several endpoints, another member is chosen)",
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_client(endpoint: EtcdEndpoint) -> EtcdClient:
    """A client for `endpoint`. Bad TLS files raise UsageError; with password auth, a failed login raises here.

    Without password auth nothing is sent yet: the first call connects.
    """
    credentials = None
    if endpoint.secure:
        _check_tls_files(endpoint)
        credentials = _credentials(endpoint)
    try:
        channel_endpoint = etcd3.Endpoint(
            f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host,
            endpoint.port,
            secure=endpoint.secure,
            creds=credentials,
            opts=_CHANNEL_OPTIONS,  # pairs, as grpc wants them (etcd3's annotation says dict)
        )
        client = etcd3.MultiEndpointEtcd3Client(
            endpoints=[channel_endpoint],
            timeout=endpoint.timeout,
            user=endpoint.user,
            password=endpoint.password,
        )
    except grpc.RpcError as exc:  # only password auth calls the server here
        raise explain(exc, endpoint) from exc
    return EtcdClient(endpoint, client)


def pick_healthy(endpoints: Sequence[EtcdEndpoint]) -> tuple[EtcdClient, MemberStatus]:
    """The first healthy follower among `endpoints` (the leader only if no follower is healthy).

    See the module docstring for what healthy means and why followers come
    first. Raises the endpoint's own EtcdConnectionError when one endpoint is
    given, else one naming every endpoint's cause.
    """
    if not endpoints:
        raise UsageError("no etcd endpoint given", hint="give at least one --endpoint https://HOST:2379")
    failures: list[EtcdConnectionError] = []
    leader: tuple[EtcdClient, MemberStatus] | None = None
    for endpoint in endpoints:
        try:
            client = open_client(endpoint)
        except EtcdConnectionError as exc:
            failures.append(exc)
            continue
        try:
            status = _healthy_status(client)
        except EtcdConnectionError as exc:
            client.close()
            failures.append(exc)
            continue
        if not status.is_leader:
            if leader is not None:
                leader[0].close()
            return client, status
        if leader is None:
            leader = (client, status)
        else:
            client.close()  # two URLs for the same leader
    if leader is not None:
        return leader
    if len(failures) == 1:
        raise failures[0]
    causes = {failure.cause for failure in failures}
    hints = {failure.hint for failure in failures}
    raise EtcdConnectionError(
        f"no healthy etcd member among {len(failures)} endpoints: " + "; ".join(f.message for f in failures),
        hint=hints.pop() if len(hints) == 1 else "see each endpoint's cause",
        cause=causes.pop() if len(causes) == 1 else "no-healthy-member",
    )


def _healthy_status(client: EtcdClient) -> MemberStatus:
    status = client.status()
    where = str(client.endpoint)
    if not status.leader_id:
        raise _error(
            f"etcd member {_hex(status.member_id)} at {where} has no leader (lost its quorum?)",
            "a member cut off from its quorum may hold stale data; bring the quorum back, or snapshot a "
            "member that has a leader (etcdctl endpoint status -w table)",
            "no-leader",
        )
    alarms = client.alarms()
    if any(member == status.member_id and alarm == "CORRUPT" for member, alarm in alarms):
        raise _error(
            f"etcd member {_hex(status.member_id)} at {where} has a CORRUPT alarm",
            "its data disagrees with the other members: snapshot another member",
            "corrupt",
        )
    return replace(status, alarms=tuple(f"{alarm}@{_hex(member)}" for member, alarm in alarms))


# --- explaining failures ------------------------------------------------------


def _details(exc: grpc.RpcError) -> str:
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return _one_line(details or str(exc.code()))


def explain(exc: grpc.RpcError, endpoint: EtcdEndpoint) -> EtcdConnectionError:
    """One line naming why a call to `endpoint` failed (see the module docstring)."""
    details = _details(exc)
    code = exc.code()
    where = str(endpoint)
    lowered = details.lower()
    if "user name is empty" in lowered:
        return _error(
            f"etcd at {where} has auth enabled and no user was given",
            "a snapshot needs a user with the root role: a client certificate whose CN is root "
            "(etcd --client-cert-auth), or the root user's password",
            "auth-required",
        )
    if "permission denied" in lowered:
        who = f"user {endpoint.user!r}" if endpoint.user else "the user of this client certificate (its CN)"
        return _error(
            f"etcd at {where} denied {who} permission: a snapshot needs the root role",
            "use root's credentials (a client certificate with CN=root), or: etcdctl user grant-role USER root",
            "auth-not-root",
        )
    if "authentication failed" in lowered or "invalid auth token" in lowered or "invalid user" in lowered:
        return _error(
            f"etcd at {where} refused the login of user {endpoint.user!r}: {details}",
            "check the user name and password",
            "auth-failed",
        )
    if "authentication is not enabled" in lowered:
        return _error(
            f"etcd at {where} does not have auth enabled, yet a user and password were given",
            "drop the user and password (the client certificate, if any, is what etcd checks)",
            "auth-not-enabled",
        )
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return _transport(details, code, endpoint)
    return _error(f"etcd at {where} answered {code.name}: {details}", "see the etcd member's log", "rpc-error")


def _transport(details: str, code: grpc.StatusCode, endpoint: EtcdEndpoint) -> EtcdConnectionError:
    where = str(endpoint)
    if "Connection refused" in details:
        return _refused(endpoint)
    if "resolving" in details or "Domain name not found" in details or "DNS resolution failed" in details:
        return _error(
            f"cannot resolve the host name of etcd at {where}",
            "check the host in the endpoint URL; from a Lambda, the name must resolve inside its VPC",
            "dns",
        )
    if re.search(r"Hostname Verification Check failed|Hostname mismatch|IP address mismatch|Peer name", details):
        return _name_mismatch(endpoint)
    verify = re.search(r"CERTIFICATE_VERIFY_FAILED:?\s*([^:]*)", details)
    if verify:
        return _server_cert_rejected(endpoint, verify.group(1).strip())
    if "_ALERT_" in details or "CERTIFICATE_REQUIRED" in details:
        alert = re.search(r"ALERT_([A-Z_]+)", details)
        return _client_cert_rejected(endpoint, alert.group(1).lower().replace("_", " ") if alert else details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return _no_answer(endpoint)
    protocol = _protocol_mismatch(endpoint)
    if protocol is not None:
        return protocol
    return _error(
        f"cannot connect to etcd at {where}: {details}",
        "check the URL (https:// for TLS), the port (etcd's client port, usually 2379) and the member's log",
        "connection-failed",
    )


def _refused(endpoint: EtcdEndpoint) -> EtcdConnectionError:
    return _error(
        f"cannot reach etcd at {endpoint}: connection refused",
        "nothing listens there: check host and port (etcd's --listen-client-urls) and that etcd runs",
        "unreachable",
    )


def _no_answer(endpoint: EtcdEndpoint) -> EtcdConnectionError:
    where, timeout = str(endpoint), endpoint.timeout
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=min(timeout, 5)):
            pass
    except ConnectionRefusedError:
        return _refused(endpoint)
    except OSError:
        return _error(
            f"cannot reach etcd at {where}: no answer within {timeout:g} s",
            "a firewall or security group is probably dropping the packets; a Lambda must run in subnets "
            "that can reach etcd's client port",
            "timeout",
        )
    protocol = _protocol_mismatch(endpoint)
    if protocol is not None:
        return protocol
    return _error(
        f"etcd at {where} accepts TCP connections but did not answer within {timeout:g} s",
        "is this etcd's client port (usually 2379)? the member may be overloaded or stuck: see its log",
        "timeout",
    )


def _protocol_mismatch(endpoint: EtcdEndpoint) -> EtcdConnectionError | None:
    """Plaintext to a TLS port, or TLS to a plaintext one; None if neither is evident."""
    where = str(endpoint)
    if not endpoint.secure and _answers_tls(endpoint):
        return _error(
            f"etcd at {where} speaks TLS, but the endpoint says http://",
            f"use https://{endpoint.address} with the cluster's CA file (and a client certificate if required)",
            "plaintext-to-tls",
        )
    if endpoint.secure and _answers_plaintext(endpoint):
        return _error(
            f"etcd at {where} does not speak TLS: it serves plaintext gRPC",
            "configure etcd with --cert-file/--key-file (and --client-cert-auth); on a trusted loopback only, "
            f"use http://{endpoint.address}",
            "tls-to-plaintext",
        )
    return None


def _answers_tls(endpoint: EtcdEndpoint) -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((endpoint.host, endpoint.port), timeout=min(endpoint.timeout, 5)) as sock,
            context.wrap_socket(sock),
        ):
            return True
    except ssl.SSLError as exc:
        # An alert (e.g. "certificate required") is an answer in TLS too.
        return "ALERT" in str(exc).upper()
    except OSError:
        return False


def _answers_plaintext(endpoint: EtcdEndpoint) -> bool:
    with grpc.insecure_channel(endpoint.address, options=_CHANNEL_OPTIONS) as channel:
        try:
            etcdrpc.MaintenanceStub(channel).Status(etcdrpc.StatusRequest(), timeout=min(endpoint.timeout, 5))
        except grpc.RpcError:
            return False
    return True


def _name_mismatch(endpoint: EtcdEndpoint) -> EtcdConnectionError:
    names = _server_names(endpoint)
    holds = f" (it names {names})" if names else ""
    return _error(
        f"TLS certificate of etcd at {endpoint} does not name {endpoint.host!r}, the host connected to{holds}",
        "connect with a name the certificate lists, or reissue the server certificate (etcd --cert-file) "
        f"with {endpoint.host} in its subjectAltName",
        "server-name-mismatch",
    )


def _server_names(endpoint: EtcdEndpoint) -> str:
    """The subjectAltNames of the server's certificate, e.g. 'DNS:localhost', or '' if unknown."""
    try:
        context = ssl.create_default_context(cafile=endpoint.ca_file)
        context.check_hostname = False
        if endpoint.cert_file:
            context.load_cert_chain(endpoint.cert_file, endpoint.key_file)
        with (
            socket.create_connection((endpoint.host, endpoint.port), timeout=min(endpoint.timeout, 5)) as sock,
            context.wrap_socket(sock) as tls,
        ):
            certificate = tls.getpeercert() or {}
    except (OSError, ValueError):
        return ""
    names = certificate.get("subjectAltName", ())
    return ", ".join(f"{kind}:{value}" for kind, value in names) if names else "no subjectAltName at all"


def _server_cert_rejected(endpoint: EtcdEndpoint, reason: str) -> EtcdConnectionError:
    where = str(endpoint)
    if "expired" in reason:
        return _error(
            f"TLS certificate of etcd at {where} has expired",
            "renew the server certificate (or check this machine's clock)",
            "server-cert-invalid",
        )
    if "not yet valid" in reason:
        return _error(
            f"TLS certificate of etcd at {where} is not valid yet",
            "check the clocks of this machine and the etcd member",
            "server-cert-invalid",
        )
    if "issuer" in reason or "self signed" in reason or "self-signed" in reason:
        if endpoint.ca_file:
            hint = f"the server certificate was not issued by the CA in {endpoint.ca_file}: give the CA that did"
        else:
            hint = "no CA file was given and the public roots do not know the cluster's CA: give it (--cacert)"
        return _error(
            f"TLS certificate of etcd at {where} is not signed by a trusted CA ({reason})", hint, "unknown-ca"
        )
    return _error(
        f"TLS certificate of etcd at {where} was rejected: {reason or 'verification failed'}",
        "check the server certificate and the CA file",
        "server-cert-invalid",
    )


def _client_cert_rejected(endpoint: EtcdEndpoint, alert: str) -> EtcdConnectionError:
    where = str(endpoint)
    if not endpoint.cert_file:
        return _error(
            f"etcd at {where} requires a TLS client certificate (it runs with --client-cert-auth)",
            "give --cert and --key: a certificate issued by the cluster's CA with the clientAuth usage",
            "client-cert-required",
        )
    cert = endpoint.cert_file
    code, message = _local_client_check(endpoint) if endpoint.ca_file else (None, "")
    if code == _INVALID_PURPOSE:
        return _error(
            f"etcd at {where} rejected client certificate {cert}: it lacks the clientAuth extended key usage",
            "reissue it with extendedKeyUsage = clientAuth (a server-only certificate cannot log in)",
            "client-cert-no-client-auth",
        )
    if code in _UNKNOWN_ISSUER:
        return _error(
            f"etcd at {where} rejected client certificate {cert}: it is not signed by the CA in {endpoint.ca_file} "
            f"({message})",
            "use a client certificate issued by the CA etcd trusts (its --trusted-ca-file)",
            "client-cert-untrusted",
        )
    if code == _EXPIRED:
        return _error(
            f"etcd at {where} rejected client certificate {cert}: it has expired",
            "renew the client certificate (or check this machine's clock)",
            "client-cert-expired",
        )
    detail = f": {message}" if message else ""
    return _error(
        f"etcd at {where} rejected client certificate {cert} (TLS alert: {alert}){detail}",
        "the certificate chains to our CA file and may log in, so etcd probably trusts another CA "
        "(--trusted-ca-file) or the certificate is revoked: see the member's log",
        "client-cert-rejected",
    )


def _local_client_check(endpoint: EtcdEndpoint) -> tuple[int | None, str]:
    """Would a TLS server trusting our CA file accept our client certificate? (OpenSSL error code, message).

    A handshake in memory: our certificate as the client's, and (any
    certificate will do) as the server's own. OpenSSL checks the chain, the
    validity dates and the clientAuth purpose as a server would.
    """
    assert endpoint.cert_file
    try:
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=endpoint.ca_file)
        server.verify_mode = ssl.CERT_REQUIRED
        server.load_cert_chain(endpoint.cert_file, endpoint.key_file)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.load_cert_chain(endpoint.cert_file, endpoint.key_file)
    except (OSError, ssl.SSLError) as exc:
        return None, str(exc)
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, from_client, server_side=False)
    server_side = server.wrap_bio(to_server, from_server, server_side=True)
    client_done = server_done = False
    for _ in range(8):
        if not client_done:
            try:
                client_side.do_handshake()
                client_done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as exc:
                return None, str(exc)
        to_server.write(from_client.read())
        if not server_done:
            try:
                server_side.do_handshake()
                server_done = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as exc:
                return exc.verify_code, str(exc.verify_message)
            except ssl.SSLError as exc:
                return None, str(exc)
        to_client.write(from_server.read())
        if client_done and server_done:
            return 0, ""
    return None, ""
