"""Errors a user can act on.

Every error the CLI shows is a SmokejumperError: a message that says what was
wrong and where, and a hint that says how to fix it. Anything else reaching the
top is a bug and is shown as one.
"""

from __future__ import annotations

from datetime import UTC, datetime


class SmokejumperError(Exception):
    """An error with a message for people and an optional fix hint."""

    exit_code = 1
    # The stable name a workflow matches (smokejumper.failures); None: judged by the class.
    error_type: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(SmokejumperError):
    """Bad input from the user: a URL, a flag, a path."""

    exit_code = 2


class StoreError(SmokejumperError):
    """An artifact store could not read or write."""


class NotFoundError(StoreError):
    """A key, run or artifact does not exist."""


class ObjectLockedError(StoreError):
    """S3 Object Lock still protects an object, so it was not deleted.

    `until` is when its retention ends (None if only a legal hold protects it);
    `legal_hold` is whether a legal hold is on.
    """

    def __init__(self, where: str, *, until: datetime | None, legal_hold: bool) -> None:
        self.where = where
        self.until = until
        self.legal_hold = legal_hold
        reasons = []
        if until is not None:
            reasons.append(f"retention until {until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        if legal_hold:
            reasons.append("a legal hold")
        lifted = []
        if until is not None:
            lifted.append("its retention expires")
        if legal_hold:
            lifted.append("the legal hold is removed")
        super().__init__(
            f"cannot delete {where}: S3 Object Lock protects it ({' and '.join(reasons)})",
            hint=f"the run is kept until {' and '.join(lifted)}; retention will delete it on a later sweep",
        )


class IntegrityError(SmokejumperError):
    """Stored bytes do not match what their record says: corruption or tampering."""

    exit_code = 3
