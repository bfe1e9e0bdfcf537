"""Where a source database is, who we are to it, and how TLS protects the way there.

Shared by the PostgreSQL and MySQL sources: a DSN (or an RDS-style Secrets
Manager secret) becomes a `DatabaseTarget`; its `TlsOptions` build the
`ssl.SSLContext` the driver uses.

DSN forms::

    postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=...&sslrootcert=...&sslcert=...&sslkey=...]
    mysql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?ssl-mode=...&ssl-ca=...&ssl-cert=...&ssl-key=...]

`postgres://` is accepted for `postgresql://`. User, password and database are
percent-decoded; a `/`, `?`, `#` or `@` in them must be written `%2F`, `%3F`,
`%23`, `%40`. IPv6 hosts go in brackets (`[::1]`). Query values are
percent-decoded too (`+` stays a plus sign, as in libpq). `application_name`
is accepted and ignored for PostgreSQL (smokejumper names its own sessions);
any other unknown parameter is an error that lists the known ones.

TLS modes are libpq's: `disable`, `prefer` (TLS without certificate checks if
the server offers it, else plain: what libpq and psql do by default),
`require` (TLS, no certificate check), `verify-ca` (the server certificate
must chain to the CA file, or to the system CAs when none is given),
`verify-full` (verify-ca plus the host name in the DSN must be in the
certificate). MySQL's names map onto them: DISABLED, PREFERRED, REQUIRED,
VERIFY_CA, VERIFY_IDENTITY. TLS is at least version 1.2.

Default mode when the DSN names none -- the rule a backup tool should have:

- a CA file is given (`sslrootcert` / `ssl-ca`): `verify-full` -- naming a CA
  means you want it checked, host name included;
- the host is loopback (`localhost`, 127.0.0.0/8, `::1`): `prefer`, as libpq
  -- traffic that never leaves the machine gains nothing from TLS, and port
  forwards/tunnels to a real server keep working;
- anything else: `verify-full` against the system CAs. Credentials and whole
  databases cross that network; a silent downgrade or an unchecked
  certificate would hand both to whoever sits in between. A server whose CA
  is private (Amazon RDS, a company CA) then fails with a hint to pass its CA
  file; an operator who truly wants less must write it (`sslmode=require`).

Two more rules: a CA file with `require` upgrades to `verify-ca` (libpq does
the same: a CA you named is checked), and a CA or client certificate with
`disable` -- or a CA with `prefer` -- is a contradiction and an error rather
than silently ignored. libpq's `sslrootcert=system` (PostgreSQL 16) means
the system CAs and implies `verify-full`.

Passwords are taken from, in order: the `password` argument, the DSN, the
engine's own variable (`PGPASSWORD` / `MYSQL_PWD`), `SMOKEJUMPER_DB_PASSWORD`.
An empty value counts as none. A password never appears in a repr, in
`DatabaseTarget.redacted()`, or in any error message raised here.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, unquote, urlsplit

from smokejumper.errors import SmokejumperError, UsageError
from smokejumper.targets import DEFAULT_PORTS, SSL_MODES, Engine, SslMode, is_loopback

__all__ = [
    "DatabaseTarget",
    "Engine",
    "SourceConnectionError",
    "SslMode",
    "TlsOptions",
    "credentials_from_secret",
    "is_loopback",
    "parse_dsn",
]

PASSWORD_VARIABLES: dict[str, str] = {"postgres": "PGPASSWORD", "mysql": "MYSQL_PWD"}
SHARED_PASSWORD_VARIABLE = "SMOKEJUMPER_DB_PASSWORD"  # noqa: S105  # a variable name, not a secret

SCHEMES: dict[str, Engine] = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql"}
DSN_FORMS: dict[str, str] = {
    "postgres": "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME?sslmode=verify-full&sslrootcert=/path/ca.pem",
    "mysql": "mysql://USER[:PASSWORD]@HOST[:PORT]/DBNAME?ssl-mode=VERIFY_IDENTITY&ssl-ca=/path/ca.pem",
}
ANY_FORM = f"{DSN_FORMS['postgres']} or {DSN_FORMS['mysql']}"

# Query parameter names per engine, by meaning.
_TLS_PARAMETERS: dict[str, dict[str, str]] = {
    "postgres": {"mode": "sslmode", "ca_file": "sslrootcert", "cert_file": "sslcert", "key_file": "sslkey"},
    "mysql": {"mode": "ssl-mode", "ca_file": "ssl-ca", "cert_file": "ssl-cert", "key_file": "ssl-key"},
}
_IGNORED_PARAMETERS: dict[str, frozenset[str]] = {
    "postgres": frozenset({"application_name"}),
    "mysql": frozenset(),
}
_MYSQL_MODES: dict[str, SslMode] = {
    "DISABLED": "disable",
    "PREFERRED": "prefer",
    "REQUIRED": "require",
    "VERIFY_CA": "verify-ca",
    "VERIFY_IDENTITY": "verify-full",
}
# RDS secrets' `engine` values, by engine family.
_SECRET_ENGINES: dict[str, Engine] = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "aurora-postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "aurora": "mysql",
    "aurora-mysql": "mysql",
}
_MODE_NAMES: dict[str, dict[SslMode, str]] = {
    "postgres": {mode: mode for mode in _MYSQL_MODES.values()},
    "mysql": {mode: name for name, mode in _MYSQL_MODES.items()},
}


class SourceConnectionError(SmokejumperError):
    """A source database could not be reached or refused us; the message is one line naming the cause.

    `error_type` is the stable name a workflow's Retry/Catch matches (see smokejumper.failures):
    SourceUnreachable (may pass: retry), AuthenticationFailed or TlsVerificationFailed (will not).
    """

    def __init__(self, message: str, *, hint: str | None = None, error_type: str = "SourceUnreachable") -> None:
        super().__init__(message, hint=hint)
        self.error_type = error_type


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class TlsOptions:
    """How to protect the connection: a libpq-style mode and optional PEM files.

    Built directly (for a plan or a secret) or by `parse_dsn`. A CA file with
    `require` becomes `verify-ca`; files that the mode would never use are an
    error. The default is the strictest mode, against the system CAs.
    """

    mode: SslMode = "verify-full"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # The CA bundle as PEM text (from a Secrets Manager secret): no file is written for it.
    ca_data: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in SSL_MODES:
            raise UsageError(f"unknown TLS mode {self.mode!r}", hint=f"use one of: {', '.join(SSL_MODES)}")
        if self.ca_file and self.ca_data:
            raise UsageError("a CA bundle is given both as a file and as PEM text", hint="give one of them")
        if self.key_file and not self.cert_file:
            raise UsageError(
                "a TLS client key is given without its certificate",
                hint="give the client certificate too (sslcert / ssl-cert), or drop the key",
            )
        if self.mode == "disable" and (self.ca_file or self.ca_data or self.cert_file):
            raise UsageError(
                "TLS is disabled but TLS files are given",
                hint="drop the CA/certificate options, or choose a TLS mode (verify-full is the safe one)",
            )
        if self.mode == "prefer" and (self.ca_file or self.ca_data):
            raise UsageError(
                "TLS mode prefer never checks certificates, yet a CA file is given",
                hint="use verify-full (or verify-ca) to have the server certificate checked against that CA",
            )
        if self.mode == "require" and (self.ca_file or self.ca_data):
            object.__setattr__(self, "mode", "verify-ca")

    @property
    def attempts_tls(self) -> bool:
        """Whether TLS is tried at all."""
        return self.mode != "disable"

    @property
    def allows_plaintext(self) -> bool:
        """Whether an unencrypted connection is acceptable (disable, or prefer when the server has no TLS)."""
        return self.mode in ("disable", "prefer")

    @property
    def verifies_certificate(self) -> bool:
        return self.mode in ("verify-ca", "verify-full")

    @property
    def verifies_hostname(self) -> bool:
        return self.mode == "verify-full"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context for the driver, or None for `disable`.

        `prefer` and `require` get a context that encrypts without checking
        the certificate; falling back to plain for `prefer` is the driver's
        side (see `allows_plaintext`). Unreadable or wrong files raise
        UsageError naming the file, before any connection is tried.
        """
        if self.mode == "disable":
            return None
        if self.verifies_certificate:
            try:
                # create_default_context carries the running Python's idea of secure defaults.
                context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file, cadata=self.ca_data)
            except (OSError, ssl.SSLError) as exc:
                if self.ca_data:
                    raise UsageError(
                        "the CA bundle from the secret is not usable PEM",
                        hint="the secret must hold the CA certificates as PEM text (-----BEGIN CERTIFICATE-----)",
                    ) from None
                raise _file_error("CA", self.ca_file or "", exc) from exc
            context.check_hostname = self.verifies_hostname
        else:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file:
            try:
                context.load_cert_chain(self.cert_file, self.key_file, password=_refuse_key_password)
            except _EncryptedKeyError as exc:
                raise UsageError(
                    f"TLS client key {self.key_file or self.cert_file} is encrypted",
                    hint="store the client key unencrypted (mode 0600), e.g. openssl pkey -in KEY -out KEY.plain",
                ) from exc
            except (OSError, ssl.SSLError) as exc:
                raise _file_error("client certificate/key", self.cert_file, exc, key_file=self.key_file) from exc
        return context


class _EncryptedKeyError(Exception):
    pass


def _refuse_key_password() -> str:
    # Without a callback OpenSSL would prompt on the terminal (or hang a Lambda).
    raise _EncryptedKeyError


def _file_error(kind: str, path: str, exc: BaseException, *, key_file: str | None = None) -> UsageError:
    if isinstance(exc, FileNotFoundError):
        missing = exc.filename or path
        return UsageError(f"TLS {kind} file {missing} does not exist", hint="check the path in the DSN or the plan")
    if isinstance(exc, PermissionError):
        return UsageError(f"TLS {kind} file {exc.filename or path} is not readable", hint="check its permissions")
    if isinstance(exc, ssl.SSLError) and "KEY_VALUES_MISMATCH" in str(exc):
        return UsageError(
            f"TLS client certificate {path} and key {key_file or path} do not belong together",
            hint="give the key that was issued with this certificate",
        )
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    if kind != "CA" and key_file is None:
        return UsageError(
            f"TLS client certificate {path} is not usable or holds no private key ({reason})",
            hint="give the client key as well (sslkey / ssl-key), both in PEM form",
        )
    files = path if key_file is None else f"{path} / {key_file}"
    return UsageError(
        f"TLS {kind} file {files} is not usable ({reason})",
        hint="it must hold PEM data (-----BEGIN CERTIFICATE----- / -----BEGIN PRIVATE KEY-----)",
    )


@dataclass(frozen=True)
class DatabaseTarget:
    """One database to back up or restore into. Its repr and `redacted()` never show the password."""

    engine: Engine
    host: str
    port: int
    user: str
    password: str | None = field(repr=False)
    database: str
    tls: TlsOptions
    # Where the password came from, for hints ("check $PGPASSWORD"); never the password itself.
    password_from: str | None = field(default=None, compare=False)

    @property
    def address(self) -> str:
        """`host:port`, with IPv6 hosts bracketed: how messages name the server."""
        return f"{_bracketed(self.host)}:{self.port}"

    def redacted(self) -> str:
        """The DSN with the password shown as `***`, TLS settings explicit: safe to log."""
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":***"
        names = _TLS_PARAMETERS[self.engine]
        params = [f"{names['mode']}={_MODE_NAMES[self.engine][self.tls.mode]}"]
        for key in ("ca_file", "cert_file", "key_file"):
            value = getattr(self.tls, key)
            if value:
                params.append(f"{names[key]}={quote(value, safe='/')}")
        scheme = "postgresql" if self.engine == "postgres" else "mysql"
        database = quote(self.database, safe="")
        return f"{scheme}://{auth}@{self.address}/{database}?{'&'.join(params)}"

    def __str__(self) -> str:
        return self.redacted()

    def scrub(self, text: str) -> str:
        """`text` with this target's password replaced by `***`, for messages built from foreign text."""
        if self.password:
            text = text.replace(self.password, "***")
        return text


def parse_dsn(url: str, *, password: str | None = None, environ: Mapping[str, str] = os.environ) -> DatabaseTarget:
    """The database a `postgresql://` or `mysql://` URL names; see the module docstring for the rules."""
    scheme, separator, rest = url.strip().partition("://")
    if not separator:
        # The text may be anything, a password included: never echo it.
        raise UsageError("the DSN is not a database URL", hint=f"use {ANY_FORM}")
    engine = SCHEMES.get(scheme.lower())
    if engine is None:
        shown = f" {scheme!r}" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,19}", scheme) else ""
        raise UsageError(f"unknown DSN scheme{shown}", hint=f"use {ANY_FORM}")
    form = DSN_FORMS[engine]

    # An '@' after the first '/', '?' or '#' means a password (or user) holds one
    # of those unencoded: any split would be a guess, and might echo the secret.
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    if rest.rfind("@") > authority_end:
        raise UsageError(
            "the DSN has an '@' after the host part: a user name or password holding '/', '?', '#' "
            "or '@' must be percent-encoded",
            hint="write / ? # @ as %2F %3F %23 %40 (in Python: urllib.parse.quote(password, safe=''))",
        )
    if "#" in rest:
        raise UsageError("the DSN has a '#' fragment", hint=f"remove it; the form is {form}")
    try:
        parts = urlsplit(f"{scheme.lower()}://{rest}")
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise UsageError(
            "the DSN is not a valid URL (host or port unreadable)",
            hint=f"the form is {form}; IPv6 hosts go in brackets, the port is a number",
        ) from None
    if not host:
        raise UsageError("the DSN names no host", hint=f"the form is {form}")
    if port is None:
        port = DEFAULT_PORTS[engine]
    if not 1 <= port <= 65535:
        raise UsageError("the DSN's port is out of range (1-65535)", hint=f"the form is {form}")
    user = unquote(parts.username or "")
    if not user:
        raise UsageError("the DSN names no user", hint=f"the form is {form}")
    database = unquote(parts.path[1:]) if parts.path.startswith("/") else ""
    if not database:
        raise UsageError("the DSN names no database", hint=f"the form is {form}")
    if "/" in parts.path[1:]:
        raise UsageError(
            f"the DSN's path {parts.path!r} is not a single database name",
            hint="write a '/' inside the database name as %2F",
        )

    tls = _tls_from_query(engine, parts.query, host)
    chosen, source = _password(engine, password, parts.password, environ)
    return DatabaseTarget(
        engine=engine,
        host=host,
        port=port,
        user=user,
        password=chosen,
        database=database,
        tls=tls,
        password_from=source,
    )


def _password(
    engine: str, given: str | None, in_url: str | None, environ: Mapping[str, str]
) -> tuple[str | None, str | None]:
    if given:
        return given, "the given password"
    if in_url:
        return unquote(in_url), "the DSN"
    for variable in (PASSWORD_VARIABLES[engine], SHARED_PASSWORD_VARIABLE):
        value = environ.get(variable)
        if value:
            return value, f"${variable}"
    return None, None


def _query_parameters(engine: str, query: str) -> dict[str, str]:
    names = _TLS_PARAMETERS[engine]
    known = sorted({*names.values(), *_IGNORED_PARAMETERS[engine]})
    found: dict[str, str] = {}
    for item in query.split("&") if query else ():
        if not item:
            continue
        raw_name, equals, raw_value = item.partition("=")
        name = unquote(raw_name)
        if name not in known:
            raise UsageError(f"unknown DSN parameter {name!r}", hint=f"known parameters: {', '.join(known)}")
        if not equals or not raw_value:
            raise UsageError(f"DSN parameter {name!r} has no value", hint=f"write {name}=VALUE, or leave it out")
        if name in found:
            raise UsageError(f"DSN parameter {name!r} is given twice", hint="keep one")
        found[name] = unquote(raw_value)
    return found


def _tls_from_query(engine: Engine, query: str, host: str) -> TlsOptions:
    names = _TLS_PARAMETERS[engine]
    params = _query_parameters(engine, query)
    mode_name = names["mode"]
    mode: SslMode | None = None
    if mode_name in params:
        mode = _mode(engine, params[mode_name])
    ca_file = params.get(names["ca_file"])
    if engine == "postgres" and ca_file == "system":
        # libpq 16: the system CAs, and only with full verification.
        if mode not in (None, "verify-full"):
            raise UsageError(
                f"sslrootcert=system needs sslmode=verify-full, not {mode}",
                hint="drop sslmode (verify-full is then implied) or set sslmode=verify-full",
            )
        ca_file, mode = None, "verify-full"
    if mode is None:
        mode = "verify-full" if ca_file or not is_loopback(host) else "prefer"
    return TlsOptions(
        mode=mode,
        ca_file=ca_file,
        cert_file=params.get(names["cert_file"]),
        key_file=params.get(names["key_file"]),
    )


def _mode(engine: str, value: str) -> SslMode:
    if engine == "mysql":
        mode = _MYSQL_MODES.get(value.upper())
        if mode is None:
            raise UsageError(f"unknown ssl-mode {value!r}", hint=f"use one of: {', '.join(_MYSQL_MODES)}")
        return mode
    if value in SSL_MODES:
        return cast("SslMode", value)
    hint = f"use one of: {', '.join(SSL_MODES)}"
    if value == "allow":
        hint = "allow (plain first, TLS only if the server insists) is not supported: use verify-full, or prefer"
    raise UsageError(f"unknown sslmode {value!r}", hint=hint)


def credentials_from_secret(secret_json: Mapping[str, Any], *, engine: Engine) -> tuple[str, str]:
    """The user name and password of an RDS-style Secrets Manager secret (`username`, `password`).

    Where the database is comes from the plan, not the secret (an RDS secret
    names an instance while the plan may name a cluster endpoint). A secret
    whose `engine` names the other engine family is refused: the plan points
    at the wrong secret. Values are never echoed in errors.
    """
    if engine not in DEFAULT_PORTS:
        raise UsageError(f"unknown database engine {engine!r}", hint="use postgres or mysql")
    secret_engine = str(secret_json.get("engine") or "").lower()
    family = _SECRET_ENGINES.get(secret_engine)  # an engine name we do not know: no opinion
    if family is not None and family != engine:
        raise UsageError(
            f"the secret is for engine {secret_engine!r}, not {engine}",
            hint="check which secret the plan names for this database",
        )
    username = secret_json.get("username")
    missing = [] if isinstance(username, str) and username else ["username"]
    if "password" not in secret_json:
        missing.append("password")
    if missing:
        raise UsageError(
            f"the database secret has no {', '.join(missing)}",
            hint='the secret is JSON with "username" and "password" (an RDS-managed secret has both)',
        )
    # An empty password is a password too: a server with trust auth on loopback asks for none.
    return str(username), str(secret_json["password"] or "")
