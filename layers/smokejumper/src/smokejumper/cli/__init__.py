"""The `smokejumper` command line.

Results go to stdout (as text, or JSON with --json for scripts); progress,
warnings and errors go to stderr. Exit codes: 0 ok, 1 operation failed,
2 bad input (plan, URL, flags), 3 integrity problem (verify found damage),
70 internal error (a bug: please report it).

One module per group of commands; `console` holds what they share, and
`app` puts them together. Every engine's backup and restore goes through the
same source protocol (`smokejumper.sources.base`), so there is one backup
flow and one restore flow here, whatever the engine.
"""

from __future__ import annotations

from smokejumper.cli.app import INTERNAL_ERROR, cli, main

__all__ = ["INTERNAL_ERROR", "cli", "main"]
