"""Owners and grants: kept by default, applied or left out by the restore (as pg_restore's flags).

A database whose objects belong to a role of our own, with grants to
another role (column grants, grant options, a grant made by a grantee, a
grant on the public schema, default privileges), is dumped with the
default options, then restored:
- plainly, by our restore and by `zstd -dc | psql`: `pg_dump --schema-only`
  WITH owners and privileges, data and sequences, all equal the source's;
- `no_owner`: everything belongs to the restoring role, the grants are
  there (judged by `pg_dump --no-owner` of the source, and by what
  `pg_restore --no-owner` makes of pg_dump's own archive);
- `no_privileges`: owners as in the source, no ACL anywhere (judged by
  `pg_dump --no-privileges`); a materialized view owned by a role that may
  read its table only by a grant is still refreshed (pg_restore
  --no-privileges fails there, hence no pg_restore reference);
- both (and pg_restore --no-owner --no-privileges);
- `tables`: a table created alone gets its owner and grants the same way;
- into a server lacking a role: refused before anything changes, naming
  the role, the hint naming the flag that does without it.
Besides, the public schema with another owner and its grants changed (the
case that was lost before) under each of those, against pg_restore.
The roles are cluster-wide: unique names, dropped after the databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pg8000.native
import pytest
import zstandard
from smokejumper.artifact import ArtifactWriter
from smokejumper.catalog import ArtifactRecord
from smokejumper.sources.postgres import restore as restore_module
from smokejumper.sources.postgres.dump import dump_database
from smokejumper.sources.postgres.restore import RestoreError, restore_database
from smokejumper.store import Store, open_store

from tests.support.pg_oracle import (
    assert_same_database,
    normalize_schema_dump,
    object_acls,
    object_owners,
    pg_dump,
    pg_restore_round_trip,
    psql_restore,
    schema_diff,
    schema_dump,
    sequence_states,
    table_checksums,
)
from tests.support.services import HOST, PG_PORT, PostgresDatabase, fresh_postgres_database, unique_name

pytestmark = pytest.mark.integration

# {o} owns, {r} is granted to. Run as the test's superuser.
SCHEMA = r"""
GRANT CREATE ON SCHEMA public TO {r};

CREATE SCHEMA app;
ALTER SCHEMA app OWNER TO {o};
GRANT USAGE ON SCHEMA app TO {r};

CREATE TYPE app.mood AS ENUM ('ok', 'meh');
ALTER TYPE app.mood OWNER TO {o};
REVOKE USAGE ON TYPE app.mood FROM PUBLIC;
GRANT USAGE ON TYPE app.mood TO {r};

CREATE SEQUENCE app.tickets START WITH 7;
ALTER SEQUENCE app.tickets OWNER TO {o};
GRANT USAGE ON SEQUENCE app.tickets TO {r};
SELECT nextval('app.tickets');

CREATE TABLE app.items (id serial PRIMARY KEY, name text NOT NULL, mood app.mood, secret text);
ALTER TABLE app.items OWNER TO {o};
GRANT SELECT (id, name), UPDATE (name) ON app.items TO {r};
GRANT INSERT ON app.items TO {r} WITH GRANT OPTION;
GRANT USAGE ON SEQUENCE app.items_id_seq TO {r};
INSERT INTO app.items (name, mood, secret) VALUES ('a', 'ok', 's1'), ('b', 'meh', 's2'), ('c', NULL, NULL);
-- A grant made by a grantee (grantor other than the owner).
SET ROLE {r};
GRANT INSERT ON app.items TO PUBLIC;
RESET ROLE;

CREATE VIEW app.names AS SELECT id, name FROM app.items;
ALTER VIEW app.names OWNER TO {o};
GRANT SELECT ON app.names TO {r};

CREATE FUNCTION app.twice(integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';
ALTER FUNCTION app.twice(integer) OWNER TO {o};
REVOKE EXECUTE ON FUNCTION app.twice(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.twice(integer) TO {r};

-- {r} owns a materialized view over a table it may read only by its grant.
CREATE TABLE app.scores (item integer, score integer);
ALTER TABLE app.scores OWNER TO {o};
GRANT SELECT ON app.scores TO {r};
INSERT INTO app.scores VALUES (1, 10), (2, 30);
CREATE MATERIALIZED VIEW app.best AS SELECT max(score) AS best FROM app.scores;
ALTER MATERIALIZED VIEW app.best OWNER TO {r};

-- In public, for restoring it alone: an identity column, table, column and sequence grants.
CREATE TABLE public.notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);
ALTER TABLE public.notes OWNER TO {o};
GRANT SELECT, INSERT ON public.notes TO {r};
GRANT UPDATE (body) ON public.notes TO {r};
GRANT USAGE ON SEQUENCE public.notes_id_seq TO {r};
INSERT INTO public.notes (body) VALUES ('x'), ('y');

ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA app GRANT SELECT ON TABLES TO {r};
ALTER DEFAULT PRIVILEGES FOR ROLE {o} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
"""

OWNER_LINE = re.compile(r"\bOWNER TO\b")
ACL_LINE = re.compile(r"^(GRANT|REVOKE|ALTER DEFAULT PRIVILEGES|(RE)?SET SESSION AUTHORIZATION)\b")


@dataclass
class Source:
    database: PostgresDatabase
    store: Store
    record: ArtifactRecord
    dump_file: Path
    owner: str  # {o}
    grantee: str  # {r}


def _admin() -> pg8000.native.Connection:
    return pg8000.native.Connection("postgres", host=HOST, port=PG_PORT, database="postgres", timeout=10)


def _drop_roles(names: list[str]) -> None:
    """Drop the roles; the databases holding their objects are gone by now (DROP OWNED covers the rest)."""
    admin = _admin()
    try:
        for name in names:
            if admin.run("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :name", name=name):
                admin.run(f"DROP OWNED BY {name}")
                admin.run(f"DROP ROLE {name}")
    finally:
        admin.close()


def _create_roles(names: list[str]) -> None:
    admin = _admin()
    try:
        for name in names:
            admin.run(f"CREATE ROLE {name} NOLOGIN")
    finally:
        admin.close()


def _dump(database: PostgresDatabase, store: Store) -> ArtifactRecord:
    connection = database.connect()
    try:
        return dump_database(connection, ArtifactWriter(store, "db", engine="postgres", name="db"))
    finally:
        connection.close()


def _restore(store: Store, database: PostgresDatabase, **kwargs):
    connection = database.connect()
    try:
        return restore_database(store, connection, artifact_dir="db", **kwargs)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Iterator[Source]:
    """The database above, dumped with the default options (module-wide: the tests only read it)."""
    owner, grantee = unique_name("sj_owner"), unique_name("sj_reader")
    _create_roles([owner, grantee])
    try:
        with fresh_postgres_database() as database:
            psql_restore(SCHEMA.format(o=owner, r=grantee), database)
            path = tmp_path_factory.mktemp("privileges")
            store = open_store(str(path))
            record = _dump(database, store)
            yield Source(database, store, record, path / "db" / "dump.sql.zst", owner, grantee)
    finally:
        _drop_roles([owner, grantee])


def _frame_text(source: Source, kind: str) -> str:
    """The SQL of the dump's frame of that kind, read with zstd from the file."""
    [frame] = [frame for frame in source.record.files[0].frames if frame.meta.get("kind") == kind]
    with source.dump_file.open("rb") as file:
        file.seek(frame.offset)
        return zstandard.ZstdDecompressor().decompressobj().decompress(file.read(frame.length)).decode()


def _statement_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_default_dump_keeps_owners_and_grants_in_frames_of_their_own(source):
    frames = source.record.files[0].frames
    kinds = [frame.meta.get("kind") for frame in frames]
    # Everything psql must run after the data, in the order it must: ACLs last, refreshes after them.
    assert kinds[-4:] == ["post-data", "owners", "privileges", "post-privileges"]
    assert [frame.name for frame in frames[-4:]] == kinds[-4:]
    owners, privileges = frames[-3].meta, frames[-2].meta
    assert source.owner in owners["roles"]
    assert source.grantee in owners["roles"]
    # {o} is named by ALTER DEFAULT PRIVILEGES FOR ROLE, {r} as grantee and grantor.
    assert {source.owner, source.grantee} <= set(privileges["roles"])

    post_data = _statement_lines(_frame_text(source, "post-data"))
    assert not [line for line in post_data if OWNER_LINE.search(line) or ACL_LINE.search(line)]
    owner_lines = _statement_lines(_frame_text(source, "owners"))
    assert owner_lines
    assert all(OWNER_LINE.search(line) for line in owner_lines)
    assert f"ALTER TABLE app.items OWNER TO {source.owner};" in owner_lines
    acl_lines = _statement_lines(_frame_text(source, "privileges"))
    assert acl_lines
    assert all(ACL_LINE.match(line) for line in acl_lines)
    assert (
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {source.owner} IN SCHEMA app GRANT SELECT ON TABLES TO {source.grantee};"
        in acl_lines
    )
    assert _statement_lines(_frame_text(source, "post-privileges")) == ["REFRESH MATERIALIZED VIEW app.best;"]

    # The table's own DDL carries its owner and grants too (restore --table).
    [notes] = [frame for frame in frames if frame.name == "public.notes"]
    ddl = notes.meta["ddl"]
    assert ddl["owners"] == [f"ALTER TABLE public.notes OWNER TO {source.owner};"]
    assert any("ON SEQUENCE public.notes_id_seq" in line for line in ddl["privileges"])
    assert any("UPDATE(body)" in line for line in ddl["privileges"])
    assert ddl["roles"] == {"owners": [source.owner], "privileges": [source.grantee]}


def test_plain_restore_keeps_owners_and_grants(source):
    with fresh_postgres_database() as target:
        _restore(source.store, target)
        assert_same_database(source.database, target, owners=True, privileges=True)
        assert object_owners(target) == object_owners(source.database)
        assert object_acls(target) == object_acls(source.database)


def test_psql_restore_of_the_file_keeps_owners_and_grants(source):
    with fresh_postgres_database() as target:
        psql_restore(source.dump_file, target)
        assert_same_database(source.database, target, owners=True, privileges=True)
        assert object_acls(target) == object_acls(source.database)


def test_no_owner_gives_everything_to_the_restoring_role_and_keeps_the_grants(source):
    with fresh_postgres_database() as target, fresh_postgres_database() as reference:
        _restore(source.store, target, no_owner=True)
        assert_same_database(source.database, target, privileges=True)
        # What pg_restore --no-owner makes of pg_dump's archive, owners and grants included.
        pg_restore_round_trip(source.database, reference, "--no-owner")
        assert_same_database(reference, target, owners=True, privileges=True)
        owners = object_owners(target)
        assert owners.pop("schema public") == "pg_database_owner"
        assert set(owners.values()) == {target.user}
        assert len(owners) == len(object_owners(source.database)) - 1
        # What names the restoring role instead of the owner differs; the rest is the source's.
        acls = object_acls(target)
        assert acls.keys() == object_acls(source.database).keys()
        assert f"{source.grantee}=r/{target.user}" in acls["relation r app.scores"]


def test_no_privileges_keeps_the_owners_and_no_acl(source):
    with fresh_postgres_database() as target:
        before = object_acls(target)  # a new database's public schema has its ACL from CREATE DATABASE
        _restore(source.store, target, no_privileges=True)
        # Judged with owners: the refresh of app.best (whose owner may read
        # app.scores only by the grant left out) ran, its rows are there.
        assert_same_database(source.database, target, owners=True)
        assert object_owners(target) == object_owners(source.database)
        assert object_acls(target) == before
        assert table_checksums(target)["app.best"] == table_checksums(source.database)["app.best"]


def test_no_owner_and_no_privileges(source):
    with fresh_postgres_database() as target, fresh_postgres_database() as reference:
        before = object_acls(target)
        _restore(source.store, target, no_owner=True, no_privileges=True)
        assert_same_database(source.database, target)
        pg_restore_round_trip(source.database, reference, "--no-owner", "--no-privileges")
        assert_same_database(reference, target, owners=True, privileges=True)
        owners = object_owners(target)
        assert owners.pop("schema public") == "pg_database_owner"
        assert set(owners.values()) == {target.user}
        assert object_acls(target) == before


PUBLIC_SCHEMA = r"""
ALTER SCHEMA public OWNER TO {o};
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {r};
CREATE TABLE public.t (id integer PRIMARY KEY);
INSERT INTO public.t VALUES (1), (2);
"""


def test_public_schema_owner_and_grants_survive(source, tmp_path):
    """The sample schema's case: its public schema's owner and grants changed, restored as pg_dump/pg_restore do."""
    store = open_store(str(tmp_path))
    with fresh_postgres_database() as database:
        psql_restore(PUBLIC_SCHEMA.format(o=source.owner, r=source.grantee), database)
        _dump(database, store)
        for how in ("ours", "psql"):
            with fresh_postgres_database() as target:
                if how == "ours":
                    _restore(store, target)
                else:
                    psql_restore(tmp_path / "db" / "dump.sql.zst", target)
                assert_same_database(database, target, owners=True, privileges=True)
                assert object_acls(target)["schema public"] == object_acls(database)["schema public"]
        for flags in (("--no-owner",), ("--no-owner", "--no-privileges"), ("--no-privileges",)):
            options = {"no_owner": "--no-owner" in flags, "no_privileges": "--no-privileges" in flags}
            with fresh_postgres_database() as target, fresh_postgres_database() as reference:
                _restore(store, target, **options)
                pg_restore_round_trip(database, reference, *flags)
                assert_same_database(reference, target, owners=True, privileges=True)
                assert object_acls(target) == object_acls(reference)
                assert object_owners(target) == object_owners(reference)


def _table_schema(database: PostgresDatabase, table: str, *flags: str) -> str:
    return normalize_schema_dump(pg_dump(database, "--schema-only", *flags, "-t", table).decode())


@pytest.mark.parametrize(
    ("options", "pg_dump_flags"),
    [
        ({}, ()),
        ({"no_owner": True}, ("--no-owner",)),
        ({"no_privileges": True}, ("--no-privileges",)),
        ({"no_owner": True, "no_privileges": True}, ("--no-owner", "--no-privileges")),
    ],
    ids=["plain", "no_owner", "no_privileges", "both"],
)
def test_table_created_alone_gets_its_owner_and_grants_as_asked(source, options, pg_dump_flags):
    with fresh_postgres_database() as target:
        summary = _restore(source.store, target, tables=["public.notes"], **options)
        assert [(table.name, table.created) for table in summary.tables] == [("public.notes", True)]
        # pg_dump -t: the table, its identity sequence, their owner and grants (as the flags say).
        expected = _table_schema(source.database, "public.notes", *pg_dump_flags)
        assert schema_diff(expected, _table_schema(target, "public.notes", *pg_dump_flags)) == ""
        owner = object_owners(target)["relation r public.notes"]
        assert owner == (target.user if options.get("no_owner") else source.owner)
        acls = object_acls(target)
        assert ("relation r public.notes" in acls) is not options.get("no_privileges", False)
        assert table_checksums(target)["public.notes"] == table_checksums(source.database)["public.notes"]
        want = {name: state for name, state in sequence_states(source.database).items() if name.startswith("public.")}
        assert sequence_states(target) == want


def test_missing_role_refuses_before_touching_anything(tmp_path):
    owner, grantee = unique_name("sj_owner"), unique_name("sj_reader")
    _create_roles([owner, grantee])
    try:
        store = open_store(str(tmp_path))
        with fresh_postgres_database() as database:
            psql_restore(SCHEMA.format(o=owner, r=grantee), database)
            _dump(database, store)
            expected = schema_dump(database)
            data = table_checksums(database)
        # The source is gone: nothing of the owner's is left, the role can go.
        _drop_roles([owner])
        with fresh_postgres_database() as target:
            empty = schema_dump(target, owners=True, privileges=True)

            with pytest.raises(RestoreError) as refused:
                _restore(store, target)
            assert owner in refused.value.message
            assert "nothing was changed" in refused.value.message
            assert "--no-owner" in refused.value.hint
            # ALTER DEFAULT PRIVILEGES FOR ROLE {o} is an ACL: --no-privileges too.
            assert "--no-privileges" in refused.value.hint

            # As pg_restore: --no-owner alone still runs the default privileges FOR ROLE {o}.
            with pytest.raises(RestoreError) as refused:
                _restore(store, target, no_owner=True)
            assert owner in refused.value.message
            assert "--no-privileges" in refused.value.hint
            assert "--no-owner" not in refused.value.hint

            with pytest.raises(RestoreError) as refused:
                _restore(store, target, no_privileges=True)
            assert "--no-owner" in refused.value.hint
            assert "--no-privileges" not in refused.value.hint

            # A table created alone names the owner too.
            with pytest.raises(RestoreError) as refused:
                _restore(store, target, tables=["public.notes"])
            assert owner in refused.value.message
            assert "--no-owner" in refused.value.hint

            assert schema_dump(target, owners=True, privileges=True) == empty
            assert table_checksums(target) == {}

            # Without what names the role, the restore goes through.
            _restore(store, target, no_owner=True, no_privileges=True)
            assert schema_diff(expected, schema_dump(target)) == ""
            assert table_checksums(target) == data
    finally:
        _drop_roles([owner, grantee])


def test_a_missing_role_the_server_reports_gets_the_same_hint(pg_database):
    """Should a statement name a role the check did not see, the server's refusal comes with the hint."""
    connection = pg_database.connect()
    try:
        with pytest.raises(pg8000.native.DatabaseError) as failed:
            connection.run(f"ALTER SCHEMA public OWNER TO {unique_name('sj_gone')}")
    finally:
        connection.close()
    hint = restore_module._missing_role_hint(failed.value)
    assert hint
    assert "--no-owner" in hint
    assert "--no-privileges" in hint


def test_dump_with_owners_inside_post_data_refuses_to_leave_them_out(source, monkeypatch):
    """A dump written before owners and grants had frames of their own cannot honour no_owner/no_privileges."""
    frames_of = restore_module._frames

    def older(store, artifact_dir):
        data_file, key, record = frames_of(store, artifact_dir)
        late = {"owners", "privileges", "post-privileges"}
        frames = [
            frame.model_copy(update={"meta": {"kind": "post-data"}}) if frame.meta.get("kind") in late else frame
            for frame in data_file.frames
        ]
        return data_file.model_copy(update={"frames": frames}), key, record

    monkeypatch.setattr(restore_module, "_frames", older)
    with fresh_postgres_database() as target:
        for options in ({"no_owner": True}, {"no_privileges": True}):
            with pytest.raises(RestoreError, match="predates owners and grants in frames of their own"):
                _restore(source.store, target, **options)
        assert table_checksums(target) == {}
        # Without the flags it restores as it always did.
        _restore(source.store, target)
        assert_same_database(source.database, target, owners=True, privileges=True)
