"""Stable names for why an item failed: what a manifest records and a workflow's Retry/Catch matches.

A Lambda handler that fails raises an error whose `errorType` (the class
name Lambda reports) is one of these, so the state machine can retry what
may pass (a database restarting) and give up at once on what will not (a
wrong password). The CLI's `backup run` records the same names in the
manifest. The list is documented in the README; change a name only with a
new major version, since users' alarms and runbooks match on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from smokejumper.errors import IntegrityError, NotFoundError, SmokejumperError, StoreError, UsageError


@dataclass(frozen=True)
class ErrorType:
    name: str
    transient: bool  # worth retrying with backoff
    meaning: str


ERROR_TYPES: dict[str, ErrorType] = {
    error.name: error
    for error in (
        ErrorType("SourceUnreachable", True, "the database or etcd did not answer (refused, timed out, DNS, reset)"),
        ErrorType("AuthenticationFailed", False, "the source refused the credentials (password, pg_hba, etcd auth)"),
        ErrorType("TlsVerificationFailed", False, "a certificate did not verify (CA, host name, client certificate)"),
        ErrorType("LockTimeout", True, "a concurrent DROP/ALTER/REINDEX held a table the dump must lock"),
        ErrorType("BackupFailed", True, "the source failed part-way (a server error, a dropped connection)"),
        ErrorType("IntegrityError", True, "bytes did not match their checksum (etcd's trailer, a stored object)"),
        ErrorType("StoreUnavailable", True, "the bucket (or directory) could not be read or written"),
        ErrorType("WouldExceedTimeLimit", False, "the item cannot finish within the Lambda's time limit"),
        ErrorType("SnapshotFailed", False, "an EBS snapshot was refused (quota, throttling) or ended in error"),
        ErrorType("BackupInProgress", False, "every item asked for is being backed up by another run, named"),
        ErrorType("RestoreFailed", False, "a restore refused its target (not empty, no clean) or failed in it"),
        ErrorType("InvalidRestoreInput", False, "a restore's input cannot be carried out; every problem is listed"),
        ErrorType("InvalidInput", False, "the plan, the request or a secret is wrong; the message says where"),
        ErrorType("InternalError", False, "a bug in smokejumper: please report it with the log"),
    )
}

# etcd connection causes (sources.etcd.client.EtcdConnectionError.cause) that no retry will fix.
_ETCD_AUTH = {"auth-required", "auth-not-root", "auth-failed", "auth-not-enabled"}
_ETCD_TLS = {
    "plaintext-to-tls",
    "tls-to-plaintext",
    "server-name-mismatch",
    "unknown-ca",
    "server-cert-invalid",
    "client-cert-required",
    "client-cert-no-client-auth",
    "client-cert-untrusted",
    "client-cert-expired",
    "client-cert-rejected",
}


class BackupInProgress(SmokejumperError):
    """Another run holds every item a start asked for (locks.py)."""

    error_type = "BackupInProgress"


class WouldExceedTimeLimit(SmokejumperError):
    """The work stopped before the time limit ran out; nothing was kept."""

    error_type = "WouldExceedTimeLimit"


def error_type_of(exc: BaseException) -> str:
    """The stable name of `exc`'s kind (one of ERROR_TYPES)."""
    named = getattr(exc, "error_type", None)
    if isinstance(named, str) and named in ERROR_TYPES:
        return named
    cause = getattr(exc, "cause", None)
    if isinstance(cause, str):  # an etcd connection error
        if cause in _ETCD_AUTH:
            return "AuthenticationFailed"
        if cause in _ETCD_TLS:
            return "TlsVerificationFailed"
        return "SourceUnreachable"
    if isinstance(exc, IntegrityError):
        return "IntegrityError"
    if isinstance(exc, NotFoundError | StoreError):
        return "StoreUnavailable"
    if isinstance(exc, UsageError):
        return "InvalidInput"
    if isinstance(exc, SmokejumperError):
        return "BackupFailed"
    return "InternalError"


def describe(exc: BaseException) -> str:
    """One line for a person: the message (and hint) of our errors, the exception's repr for a bug."""
    if isinstance(exc, SmokejumperError):
        return str(exc).replace("\n  hint: ", "; hint: ")
    # Only the type: a foreign exception's text may quote anything it was given, a password included.
    return f"internal error ({type(exc).__name__}): a bug in smokejumper; the traceback is in the log"
