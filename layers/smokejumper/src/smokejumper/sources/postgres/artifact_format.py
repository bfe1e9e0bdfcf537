"""The names of a PostgreSQL artifact's format, shared by the dump that writes it and the restore that reads it.

An artifact directory holds `dump.sql.zst` (zstd frames: `header`, `pre-data`,
one per table or part of one, `post-data`, then with privileges `owners`,
`privileges` and `post-privileges`) and `artifact.json` (see smokejumper.catalog).
"""

from __future__ import annotations

DUMP_FILE = "dump.sql.zst"
COPY_TERMINATOR = b"\\.\n\n"
# Matches pg_dump's preamble: the restore must not depend on the restoring
# session's settings, and sees every name schema-qualified.
HEADER = """\
--
-- PostgreSQL database dump written by smokejumper.
-- Restore: zstd -dc dump.sql.zst | psql -X -v ON_ERROR_STOP=1 -d EMPTY_DATABASE
--
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

"""
