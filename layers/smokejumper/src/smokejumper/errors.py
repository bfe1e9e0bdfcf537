"""Errors a user can act on.

Every error the CLI shows is a SmokejumperError: a message that says what was
wrong and where, and a hint that says how to fix it. Anything else reaching the
top is a bug and is shown as one.
"""

from __future__ import annotations


class SmokejumperError(Exception):
    """An error with a message for people and an optional fix hint."""

    exit_code = 1

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


class IntegrityError(SmokejumperError):
    """Stored bytes do not match what their record says: corruption or tampering."""

    exit_code = 3
