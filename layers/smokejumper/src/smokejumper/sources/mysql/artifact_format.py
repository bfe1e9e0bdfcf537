"""The names of a MySQL artifact's format, shared by the dump that writes it and the restore that reads it.

An artifact directory holds `dump.sql.zst` (zstd frames: the session header,
one frame of DDL per object with each statement's length in its index entry,
one frame per table's rows, the footer) and `artifact.json`.
"""

from __future__ import annotations

from typing import Any

DUMP_FILE = "dump.sql.zst"
# A DDL frame sets the mysql client's delimiter to `;;`, so bodies of routines and triggers pass whole.
DELIMITER_START = b"DELIMITER ;;\n"
STATEMENT_END = b"\n;;\n"
DELIMITER_END = b"DELIMITER ;\n"


def ddl_frame(statements: list[bytes]) -> tuple[bytes, dict[str, Any]]:
    """A DDL frame's text, and the index entries our restore splits it with: each statement's
    length, so that a body holding a line `;;` (which the mysql client would cut) is still exact."""
    data = DELIMITER_START + b"".join(statement + STATEMENT_END for statement in statements) + DELIMITER_END
    return data, {"statements": len(statements), "lengths": [len(statement) for statement in statements]}


def split_ddl_frame(data: bytes, lengths: list[int]) -> list[bytes]:
    """The statements of a DDL frame (the inverse of `ddl_frame`), cut at the recorded lengths."""
    if not data.startswith(DELIMITER_START) or not data.endswith(DELIMITER_END):
        raise ValueError("not a DDL frame")
    statements, position = [], len(DELIMITER_START)
    for length in lengths:
        end = position + length
        if data[end : end + len(STATEMENT_END)] != STATEMENT_END:
            raise ValueError(f"statement {len(statements) + 1} does not end where the index says")
        statements.append(data[position:end])
        position = end + len(STATEMENT_END)
    if position != len(data) - len(DELIMITER_END):
        raise ValueError("the DDL frame holds more than its index lists")
    return statements
