"""What a database restore reports, the same for every engine (the CLI prints it one way)."""

from __future__ import annotations

from dataclasses import dataclass, field

from smokejumper.sources.base import Progress

__all__ = ["Progress", "RestoreSummary", "TableResult"]


@dataclass
class TableResult:
    name: str
    rows: int
    bytes: int
    created: bool = False  # the target lacked the table: --table created it


@dataclass
class RestoreSummary:
    database: str
    tables: list[TableResult] = field(default_factory=list)
    seconds: float = 0.0
    verified_bytes: int = 0
    # What the restore left out on purpose (e.g. foreign keys to tables the target lacks).
    warnings: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables)

    @property
    def bytes(self) -> int:
        return sum(table.bytes for table in self.tables)
