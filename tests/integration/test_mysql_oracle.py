"""The MySQL/MariaDB oracles and fixtures themselves: they must have teeth and no false alarms.

The reference (mysqldump | mysql) passes its own oracle on every fixture;
each kind of difference the oracle claims to see is shown to be seen, and
what CHECKSUM TABLE can and cannot see is measured rather than assumed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.support import mysql_schemas
from tests.support.mysql_oracle import (
    DEFINER_PLACEHOLDER,
    REFERENCE_DUMP_OPTIONS,
    assert_same_database,
    auto_increments,
    checksum_table,
    connect,
    content_digest,
    content_digests,
    database_differences,
    mysql_restore,
    mysqldump,
    mysqldump_round_trip,
    normalize_schema_dump,
    parse_auto_increments,
    raw_schema_dump,
    schema_diff,
    schema_dump,
    table_checksums,
    table_rows,
)
from tests.support.services import MysqlDatabase, fresh_mysql_database

pytestmark = pytest.mark.integration


@pytest.fixture
def mysql_pair() -> Iterator[tuple[MysqlDatabase, MysqlDatabase]]:
    """(source, restored): two new, empty databases."""
    with fresh_mysql_database() as source, fresh_mysql_database() as restored:
        yield source, restored


def query(db: MysqlDatabase, sql: str) -> list[tuple]:
    connection = connect(db)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def values(db: MysqlDatabase, sql: str) -> set:
    return {row[0] for row in query(db, sql)}


# --- schema_dump ----------------------------------------------------------------

SMALL_SCHEMA = (
    mysql_schemas.PRELUDE
    + """
CREATE TABLE parent (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(50) COLLATE utf8mb4_unicode_ci NOT NULL DEFAULT 'unnamed',
    qty INT,
    CONSTRAINT qty_positive CHECK (qty > 0),
    KEY parent_name (name)
) ENGINE=InnoDB;
CREATE TABLE child (
    id INT PRIMARY KEY,
    parent_id INT,
    CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE
) ENGINE=InnoDB;
CREATE TABLE log (id INT NOT NULL, at DATE NOT NULL, PRIMARY KEY (id, at)) ENGINE=InnoDB
    PARTITION BY RANGE (YEAR(at)) (PARTITION p2023 VALUES LESS THAN (2024), PARTITION pmax VALUES LESS THAN MAXVALUE);
CREATE TRIGGER parent_touch BEFORE UPDATE ON parent FOR EACH ROW SET NEW.qty = GREATEST(NEW.qty, 1);
CREATE VIEW named_parents AS SELECT id, name FROM parent;
CREATE PROCEDURE bump(IN n INT) MODIFIES SQL DATA UPDATE parent SET qty = qty + n;
CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM log WHERE id < 0;
INSERT INTO parent (name, qty) VALUES ('a', 1), ('b', 2), ('c', 3);
DELETE FROM parent WHERE id = 3;
"""
)

# Each mutation: SQL run after SMALL_SCHEMA, and text that must show in a changed line.
MUTATIONS = {
    "missing index": ("ALTER TABLE parent DROP INDEX parent_name", "KEY `parent_name`"),
    "different column default": ("ALTER TABLE parent ALTER COLUMN name SET DEFAULT 'nameless'", "'nameless'"),
    "different column collation": (
        "ALTER TABLE parent MODIFY name VARCHAR(50) COLLATE utf8mb4_bin NOT NULL DEFAULT 'unnamed'",
        "utf8mb4_bin",
    ),
    "different column charset": (
        "ALTER TABLE parent MODIFY name VARCHAR(50) CHARACTER SET latin1 NOT NULL DEFAULT 'unnamed'",
        "latin1",
    ),
    "missing trigger": ("DROP TRIGGER parent_touch", "parent_touch"),
    "missing view": ("DROP VIEW named_parents", "named_parents"),
    "different procedure body": (
        "DROP PROCEDURE bump; CREATE PROCEDURE bump(IN n INT) MODIFIES SQL DATA UPDATE parent SET qty = qty - n",
        "qty - n",
    ),
    "different foreign key action": (
        "ALTER TABLE child DROP FOREIGN KEY child_parent_fk;"
        " ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id)"
        " ON DELETE SET NULL",
        "ON DELETE SET NULL",
    ),
    "missing check constraint": ("ALTER TABLE parent DROP CONSTRAINT qty_positive", "qty_positive"),
    "different partitions": (
        "ALTER TABLE log REORGANIZE PARTITION pmax INTO"
        " (PARTITION p2024 VALUES LESS THAN (2025), PARTITION pmax VALUES LESS THAN MAXVALUE)",
        "p2024",
    ),
    "different partitioning method": ("ALTER TABLE log PARTITION BY HASH (id) PARTITIONS 2", "BY HASH"),
    "different routine sql_mode": (
        "DROP PROCEDURE bump; SET sql_mode = 'ANSI_QUOTES';"
        " CREATE PROCEDURE bump(IN n INT) MODIFIES SQL DATA UPDATE parent SET qty = qty + n",
        "ANSI_QUOTES",
    ),
    "different trigger collation_connection": (
        "DROP TRIGGER parent_touch; SET NAMES utf8mb4 COLLATE utf8mb4_bin;"
        " CREATE TRIGGER parent_touch BEFORE UPDATE ON parent FOR EACH ROW SET NEW.qty = GREATEST(NEW.qty, 1)",
        "utf8mb4_bin",
    ),
    "different event time zone": (
        "DROP EVENT nightly; SET time_zone = '+05:00'; CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY"
        " STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM log WHERE id < 0",
        "'+05:00'",
    ),
    "different view security": (
        "ALTER SQL SECURITY INVOKER VIEW named_parents AS SELECT id, name FROM parent",
        "SQL SECURITY INVOKER",
    ),
    "invisible column": ("ALTER TABLE parent MODIFY qty INT INVISIBLE", "INVISIBLE"),
    "different table comment": ("ALTER TABLE parent COMMENT 'changed'", "COMMENT='changed'"),
}


@pytest.fixture(scope="module")
def small_schema_dump() -> str:
    with fresh_mysql_database() as source:
        mysql_restore(SMALL_SCHEMA, source)
        return schema_dump(source)


@pytest.mark.parametrize("mutation", MUTATIONS, ids=list(MUTATIONS))
def test_schema_dump_sees_the_difference(mysql_database, small_schema_dump, mutation):
    statement, evidence = MUTATIONS[mutation]
    mysql_restore(SMALL_SCHEMA + statement + ";", mysql_database)

    diff = schema_diff(small_schema_dump, schema_dump(mysql_database))

    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert any(evidence in line for line in changed), diff


def test_schema_dump_is_deterministic_and_names_no_database(mysql_pair):
    source, restored = mysql_pair
    mysql_restore(SMALL_SCHEMA, source)
    mysql_restore(SMALL_SCHEMA, restored)
    raw = raw_schema_dump(source)

    first, second = schema_dump(source), schema_dump(source)

    assert first == second == schema_dump(restored)
    assert source.dbname not in raw
    assert "enable the sandbox mode" in raw  # what normalisation is for
    assert "AUTO_INCREMENT=4" in raw
    assert "DEFINER=`root`@" in raw
    assert "sandbox" not in first
    assert "AUTO_INCREMENT=" not in first
    assert "`root`" not in first
    assert first.count(DEFINER_PLACEHOLDER) == 4  # view, trigger, procedure, event
    assert " AUTO_INCREMENT," in first  # the column attribute stays
    assert f"/*!50003 CREATE*/ /*!50017 {DEFINER_PLACEHOLDER}*/ /*!50003 TRIGGER parent_touch BEFORE" in first


def test_normalisation_removes_only_what_describes_the_run():
    body = (
        "CREATE DEFINER=`app``x`@`%` PROCEDURE `p`()\n"
        "SELECT 'DEFINER=`a`@`b`', ') ENGINE=InnoDB AUTO_INCREMENT=5' -- AUTO_INCREMENT=6\n"
    )
    text = (
        "/*M!999999\\- enable the sandbox mode */ \n"
        "CREATE TABLE `t``1` (\n  `id` int(11) NOT NULL AUTO_INCREMENT,\n  PRIMARY KEY (`id`)\n"
        ") ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;\n"
        "/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n"
        "/*!50003 CREATE*/ /*!50017 DEFINER=`a`@`10.0.0.%`*/ /*!50003 trigger tr before insert on t for each row\n"
        "/*!50106 CREATE*/ /*!50117 DEFINER=`some_role`*/ /*!50106 EVENT `ev` ON SCHEDULE\n" + body
    )

    normalized = normalize_schema_dump(text)

    assert "sandbox" not in normalized
    assert ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;" in normalized
    assert "`id` int(11) NOT NULL AUTO_INCREMENT," in normalized
    assert normalized.count(DEFINER_PLACEHOLDER) == 4
    assert "SELECT 'DEFINER=`a`@`b`', ') ENGINE=InnoDB AUTO_INCREMENT=5' -- AUTO_INCREMENT=6" in normalized
    assert "SQL SECURITY DEFINER" in normalized
    assert parse_auto_increments(text) == {"t`1": 42}
    kept = normalize_schema_dump(text, keep_definers=True)
    assert "DEFINER=`app``x`@`%`" in kept
    assert "DEFINER=`some_role`*/" in kept
    assert "AUTO_INCREMENT=42" not in kept


def test_definers_are_normalised_unless_kept(mysql_pair):
    source, restored = mysql_pair
    view = "CREATE DEFINER={} SQL SECURITY DEFINER VIEW v AS SELECT 1 AS one"
    mysql_restore(view.format("`root`@`localhost`"), source)
    mysql_restore(view.format("CURRENT_USER"), restored)  # whoever restores: root@127.0.0.1 here

    assert_same_database(source, restored)
    with pytest.raises(AssertionError, match="DEFINER=`root`@`localhost`"):
        assert_same_database(source, restored, keep_definers=True)


AUTO_TABLE = "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB;"


def test_auto_increment_policies(mysql_pair):
    source, restored = mysql_pair
    mysql_restore(AUTO_TABLE + "INSERT INTO t (v) VALUES (1), (2), (3), (4), (5); DELETE FROM t WHERE id = 5;", source)
    # A restore that lets its INSERTs set the counter: max(id) + 1.
    mysql_restore(AUTO_TABLE + "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3), (4, 4);", restored)

    assert auto_increments(source) == {"t": 6}
    assert auto_increments(restored) == {"t": 5}
    with pytest.raises(AssertionError, match="table t: AUTO_INCREMENT source 6, restored 5"):
        assert_same_database(source, restored)
    assert_same_database(source, restored, auto_increment="valid")

    mysql_restore("ALTER TABLE t AUTO_INCREMENT = 100", restored)  # ahead of the source: never valid
    with pytest.raises(AssertionError, match=r"AUTO_INCREMENT restored 100, want above .* at most the source's 6"):
        assert_same_database(source, restored, auto_increment="valid")
    with pytest.raises(ValueError, match="policy"):
        assert_same_database(source, restored, auto_increment="loose")  # type: ignore[arg-type]


def test_database_default_collation_is_compared(mysql_pair):
    source, restored = mysql_pair
    mysql_restore(f"ALTER DATABASE `{restored.dbname}` COLLATE utf8mb4_bin", restored)

    with pytest.raises(AssertionError, match=r"database default .*utf8mb4_unicode_ci.*utf8mb4_bin"):
        assert_same_database(source, restored)


# --- table_checksums and content_digest ---------------------------------------------

# Pairs of tables holding different data of the same shape.
DIFFERENT_DATA = {
    "null vs empty": ("s VARCHAR(10)", "(1, NULL)", "(1, '')"),
    "null vs zero": ("n INT", "(1, NULL)", "(1, 0)"),
    "null vs the string N": ("s VARCHAR(10)", "(1, NULL)", "(1, 'N')"),
    "trailing spaces in varchar": ("s VARCHAR(10)", "(1, 'x')", "(1, 'x ')"),
    "one zero byte vs two": ("b VARBINARY(4)", "(1, x'00')", "(1, x'0000')"),
    "one bit of binary": ("b BLOB", "(1, x'00ff00')", "(1, x'00fe00')"),
    "case in a _ci column": ("s VARCHAR(10) COLLATE utf8mb4_unicode_ci", "(1, 'abc')", "(1, 'ABC')"),
    "swapped between rows": ("s VARCHAR(10)", "(1, 'a'), (2, 'b')", "(1, 'b'), (2, 'a')"),
    "duplicate pair vs nothing": ("s VARCHAR(10)", "(1, 'a'), (2, 'b'), (2, 'b')", "(1, 'a')"),
    "float beyond 6 digits": ("f FLOAT", "(1, 1.0000001)", "(1, 1)"),
    "microseconds": ("t DATETIME(6)", "(1, '2024-01-01 00:00:00.000001')", "(1, '2024-01-01 00:00:00')"),
    "bit": ("b BIT(17)", "(1, b'1')", "(1, b'10')"),
}


def test_checksums_and_digests_see_value_differences(mysql_database):
    sql = [mysql_schemas.PRELUDE]
    for index, (column, left, right) in enumerate(DIFFERENT_DATA.values()):
        for side, rows in (("l", left), ("r", right)):
            # No primary key: "duplicate pair vs nothing" needs duplicates.
            sql.append(f"CREATE TABLE {side}{index} (id INT NOT NULL, {column}) ENGINE=InnoDB;")
            sql.append(f"INSERT INTO {side}{index} VALUES {rows};")
    mysql_restore("\n".join(sql), mysql_database)

    sums, digests = table_checksums(mysql_database), content_digests(mysql_database)

    pairs = list(enumerate(DIFFERENT_DATA))
    assert [name for i, name in pairs if sums[f"l{i}"][1] == sums[f"r{i}"][1]] == [], "CHECKSUM TABLE is blind"
    assert [name for i, name in pairs if digests[f"l{i}"][1] == digests[f"r{i}"][1]] == [], "the digest is blind"


def test_checksums_and_digests_ignore_physical_order_engine_and_row_format(mysql_database):
    formats = {
        "forwards": "ENGINE=InnoDB",
        "backwards": "ENGINE=InnoDB",
        "redundant": "ENGINE=InnoDB ROW_FORMAT=REDUNDANT",
        "compact": "ENGINE=InnoDB ROW_FORMAT=COMPACT",
        "compressed": "ENGINE=InnoDB ROW_FORMAT=COMPRESSED",
        "myisam": "ENGINE=MyISAM",
        "aria": "ENGINE=Aria",
        "myisam_fixed": "ENGINE=MyISAM ROW_FORMAT=FIXED",
    }
    rows = "SELECT seq, IF(seq % 3 = 0, NULL, CONCAT('row ', seq)), IF(seq % 5 = 0, NULL, seq * 1.5) FROM seq_1_to_200"
    sql = [mysql_schemas.PRELUDE]
    for name, options in formats.items():
        sql.append(f"CREATE TABLE {name} (id INT NOT NULL, s VARCHAR(20), d DOUBLE) {options};")
        order = "DESC" if name == "backwards" else "ASC"
        sql.append(f"INSERT INTO {name} {rows} ORDER BY seq {order};")  # no key: rows stay in insertion order
    mysql_restore("\n".join(sql), mysql_database)

    sums, digests = table_checksums(mysql_database), content_digests(mysql_database)

    assert table_rows(mysql_database, "backwards") == table_rows(mysql_database, "forwards")
    assert query(mysql_database, "SELECT id FROM backwards LIMIT 1") == [(200,)]  # physically reversed
    assert {digests[name] for name in formats} == {digests["forwards"]}
    assert {sums[name] for name in formats if name != "myisam_fixed"} == {sums["forwards"]}
    # MyISAM's fixed record image marks "not packed": the same rows, another sum.
    assert sums["myisam_fixed"][0] == 200
    assert sums["myisam_fixed"][1] != sums["forwards"][1]


def test_minus_zero_is_stored_as_zero_so_nothing_can_tell(mysql_database):
    mysql_restore(
        mysql_schemas.PRELUDE
        + """
        CREATE TABLE plus (id INT, d DOUBLE, f FLOAT);
        CREATE TABLE minus (id INT, d DOUBLE, f FLOAT);
        INSERT INTO plus VALUES (1, 0e0, 0e0);
        INSERT INTO minus VALUES (1, -0e0, -0e0), (2, -1e-320 * 1e-10, CAST('-0' AS DOUBLE));
        DELETE FROM minus WHERE id = 2;
        """,
        mysql_database,
    )

    assert table_checksums(mysql_database)["plus"] == table_checksums(mysql_database)["minus"]
    assert content_digest(mysql_database, "plus") == content_digest(mysql_database, "minus")
    assert query(mysql_database, "SELECT CONCAT(d), CONCAT(f) FROM minus") == [("0", "0")]


def test_checksum_table_does_not_depend_on_the_session_time_zone(mysql_database):
    mysql_restore(
        "CREATE TABLE t (ts TIMESTAMP(6) NULL); INSERT INTO t VALUES ('2024-03-31 02:30:00.5');", mysql_database
    )
    sums = set()
    for zone in ("+00:00", "+05:30", "-11:00"):
        connection = connect(mysql_database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET time_zone = '{zone}'")
                cursor.execute("CHECKSUM TABLE t EXTENDED")
                sums.add(cursor.fetchone()[1])
        finally:
            connection.close()

    assert len(sums) == 1


def test_checksum_table_is_not_a_function_of_the_rows_with_generated_columns(mysql_database):
    """Same rows, same table: the sum follows whichever table instance the server opened.

    Each FLUSH TABLES of the four tables gives the server fresh table
    objects, and the sum takes in bytes of their record buffers that no row
    wrote: over a few rounds the identical tables give several sums.
    """
    table = (
        "CREATE TABLE {name} (id INT PRIMARY KEY, a INT, s INT AS (a * 2) STORED, note VARCHAR(20)) ENGINE=InnoDB;"
        "INSERT INTO {name} (id, a, note) SELECT seq, seq, IF(seq % 3 = 0, NULL, 'x') FROM seq_1_to_150;"
    )
    names = ["g1", "g2", "g3", "g4"]
    mysql_restore(mysql_schemas.PRELUDE + "".join(table.format(name=name) for name in names), mysql_database)

    seen: set[int | None] = set()
    for _round in range(10):
        seen |= {checksum_table(mysql_database, name) for name in names}
        if len(seen) > 1:
            break
        mysql_restore(f"FLUSH TABLES {', '.join(names)};", mysql_database)
    sums = table_checksums(mysql_database)
    digests = content_digests(mysql_database)

    assert len(seen) > 1, f"CHECKSUM TABLE of four identical tables, ten rounds: always {seen}"
    assert {sums[name] for name in names} == {(150, None)}  # so the oracle does not use it
    assert len({digests[name] for name in names}) == 1


def test_content_digest_covers_generated_and_invisible_columns(mysql_pair):
    source, restored = mysql_pair
    table = "CREATE TABLE t (id INT PRIMARY KEY, a INT, s INT AS (a * 2) STORED, h INT INVISIBLE) ENGINE=MyISAM;"
    mysql_restore(table + "INSERT INTO t (id, a, h) VALUES (1, 1, 10);", source)
    mysql_restore(table + "INSERT INTO t (id, a, h) VALUES (1, 1, 11);", restored)

    assert content_digest(source, "t") != content_digest(restored, "t")
    assert table_rows(source, "t") == [(1, 1, 2, 10)]


def test_assert_same_database_says_what_differs(mysql_pair):
    source, restored = mysql_pair
    schema = "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); CREATE TABLE u (id INT);"
    mysql_restore(schema + "INSERT INTO t VALUES (1, 'same'), (2, ''), (3, 'only in source');", source)
    mysql_restore(schema + "INSERT INTO t VALUES (1, 'same'), (2, NULL);", restored)
    mysql_restore("CREATE TABLE only_here (id INT);", restored)
    mysql_restore("CREATE TABLE only_there (id INT); INSERT INTO only_there VALUES (7);", source)

    with pytest.raises(AssertionError) as failure:
        assert_same_database(source, restored)

    message = str(failure.value)
    assert f"database {restored.dbname} is not a faithful copy of {source.dbname}" in message
    assert "schema differs" in message
    assert "+CREATE TABLE `only_here`" in message
    assert "-CREATE TABLE `only_there`" in message
    assert "table only_there: missing from restored database (1 rows in source)" in message
    assert "table only_here: only in restored database (0 rows)" in message
    assert "table t: source 3 rows" in message
    assert "- (2, '')" in message
    assert "- (3, 'only in source')" in message
    assert "+ (2, None)" in message
    assert "table u" not in message


# --- mysql_restore -----------------------------------------------------------------


def test_mysql_restore_stops_at_the_first_error_and_says_why(mysql_database):
    with pytest.raises(RuntimeError, match=r"ERROR 1146 .* at line 2: Table '.*nowhere' doesn't exist"):
        mysql_restore(
            "CREATE TABLE before_error (id INT);\nSELECT * FROM nowhere;\nCREATE TABLE after (id INT);", mysql_database
        )

    assert set(table_checksums(mysql_database)) == {"before_error"}


def zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


def test_mysql_restore_reads_plain_and_zstd_files_and_blames_the_right_tool(mysql_database, tmp_path):
    plain = tmp_path / "dump.sql"
    plain.write_text("CREATE TABLE from_file (id INT); INSERT INTO from_file VALUES (1);\n")
    packed = tmp_path / "dump.sql.zst"
    packed.write_bytes(zstd(b"INSERT INTO from_file VALUES (2);\n"))
    truncated = tmp_path / "truncated.sql.zst"
    truncated.write_bytes(zstd(b"INSERT INTO from_file VALUES (3);\n" * 1000)[:-4])
    # mysql fails on line 1 with megabytes still to come: zstd then dies of
    # SIGPIPE, and the error to report is mysql's.
    failing = tmp_path / "failing.sql.zst"
    failing.write_bytes(zstd(b"SELECT * FROM nowhere;\n" + b"-- padding to fill the pipe\n" * 400_000))

    mysql_restore(plain, mysql_database)
    mysql_restore(packed, mysql_database)

    assert table_rows(mysql_database, "from_file") == [(1,), (2,)]
    with pytest.raises(RuntimeError, match=r"zstd -dc .*truncated.sql.zst failed"):
        mysql_restore(truncated, mysql_database)
    with pytest.raises(RuntimeError) as failure:
        mysql_restore(failing, mysql_database)
    assert str(failure.value).startswith(f"mysql into {mysql_database.dbname} failed")
    assert "nowhere' doesn't exist" in str(failure.value)
    assert "zstd" not in str(failure.value)


def test_plain_mysql_mangles_raw_cr_lf_and_rejects_nul_unless_binary_mode(mysql_database):
    mysql_restore("CREATE TABLE raw (id INT, s VARCHAR(20));", mysql_database)

    mysql_restore(b"INSERT INTO raw VALUES (1, 'a\r\nb');\n", mysql_database)
    mysql_restore(b"INSERT INTO raw VALUES (2, 'a\r\nb');\n", mysql_database, binary_mode=True)
    mysql_restore(b"INSERT INTO raw VALUES (3, 'a\\r\\nb\\0c');\n", mysql_database)  # escaped, as mysqldump does
    with pytest.raises(RuntimeError, match="binary-mode"):
        mysql_restore(b"INSERT INTO raw VALUES (4, 'a\0b');\n", mysql_database)
    mysql_restore(b"INSERT INTO raw VALUES (4, 'a\0b');\n", mysql_database, binary_mode=True)

    assert table_rows(mysql_database, "raw") == [(1, "a\nb"), (2, "a\r\nb"), (3, "a\r\nb\0c"), (4, "a\0b")]


# --- the fixtures: loadable, fast, deterministic, and the reference round-trips them --


def test_rich_schema_tags_every_fidelity_item():
    sql = mysql_schemas.RICH_SCHEMA + mysql_schemas.RICH_DATA
    assert [item for item in mysql_schemas.FIDELITY_ITEMS if f"[fidelity: {item}]" not in sql] == []


def assert_rich_catalog(db: MysqlDatabase) -> None:
    """What RICH_SCHEMA/RICH_DATA claim to hold, proven from information_schema and the data."""
    schema = f"TABLE_SCHEMA = '{db.dbname}'"
    assert values(db, f"SELECT ENGINE FROM information_schema.TABLES WHERE {schema}") >= {"InnoDB", "MyISAM"}
    assert values(db, f"SELECT TABLE_COLLATION FROM information_schema.TABLES WHERE {schema}") >= {
        "utf8mb4_unicode_ci",
        "latin1_swedish_ci",
    }
    assert values(db, f"SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE {schema}") >= {
        "utf8mb4_unicode_ci",
        "utf8mb4_bin",
        "latin1_swedish_ci",
        "utf8mb3_general_ci",
        "ascii_bin",
    }
    assert values(db, f"SELECT EXTRA FROM information_schema.COLUMNS WHERE {schema}") >= {
        "auto_increment",
        "VIRTUAL GENERATED",
        "STORED GENERATED",
        "INVISIBLE",
        "on update current_timestamp(6)",
    }
    assert values(db, f"SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE {schema}") >= {
        "bit", "decimal", "float", "double", "longtext", "uuid", "inet6", "inet4", "point",
        "geometry", "polygon", "enum", "set", "year", "time", "datetime", "timestamp", "binary", "varbinary",
        "tinyblob", "blob", "mediumblob", "longblob", "tinytext", "text", "mediumtext",
    }  # fmt: skip
    assert values(db, f"SELECT INDEX_TYPE FROM information_schema.STATISTICS WHERE {schema}") == {
        "BTREE",
        "FULLTEXT",
        "SPATIAL",
        "HASH",  # the long UNIQUE on TEXT
    }
    assert values(
        db,
        f"SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE {schema}"
        " AND SUB_PART > 0 AND INDEX_TYPE = 'BTREE'",
    ) == {"products_description_prefix"}
    assert values(db, f"SELECT COLLATION FROM information_schema.STATISTICS WHERE {schema}") == {"A", "D", None}
    assert values(db, f"SELECT IGNORED FROM information_schema.STATISTICS WHERE {schema}") == {"YES", "NO"}
    constraints = f"information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{db.dbname}'"
    assert values(db, f"SELECT DELETE_RULE FROM {constraints}") == {"CASCADE", "SET NULL", "RESTRICT"}
    assert values(db, f"SELECT UPDATE_RULE FROM {constraints}") == {"CASCADE", "RESTRICT"}
    assert values(db, f"SELECT TABLE_NAME FROM {constraints} AND TABLE_NAME = REFERENCED_TABLE_NAME") == {
        "employees",
        "customers",
    }
    assert values(db, f"SELECT CONCAT(TABLE_NAME, '>', REFERENCED_TABLE_NAME) FROM {constraints}") >= {
        "departments>employees",
        "employees>departments",
    }
    checks = f"information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '{db.dbname}'"
    assert values(db, f"SELECT CONSTRAINT_NAME FROM {checks}") >= {
        "products_price_positive",
        "customers_name_not_empty",
        "chk Ωmega ≥ 0",
        "net",  # a column-level CHECK is named after its column
        "c_json",  # JSON is LONGTEXT with CHECK (json_valid(...))
    }
    partitions = f"information_schema.PARTITIONS WHERE {schema} AND PARTITION_NAME IS NOT NULL"
    assert values(db, f"SELECT PARTITION_METHOD FROM {partitions}") == {"RANGE", "LIST COLUMNS", "HASH", "KEY"}
    assert values(db, f"SELECT SUBPARTITION_METHOD FROM {partitions}") == {"HASH", None}
    assert "MAXVALUE" in values(db, f"SELECT PARTITION_DESCRIPTION FROM {partitions}")
    assert " PARTITION `p_other` DEFAULT ENGINE = InnoDB)" in query(db, "SHOW CREATE TABLE orders_by_region")[0][1]
    for partition in ("p2023", "p2024", "pfuture"):
        assert query(db, f"SELECT COUNT(*) > 100 FROM measurements PARTITION ({partition})") == [(1,)]
    views = f"information_schema.VIEWS WHERE {schema}"
    assert values(db, f"SELECT TABLE_NAME FROM {views}") == {
        "z_customer_totals",
        "a_top_customers",
        "in_stock_products",
        "View `odd` ✓",
    }
    assert values(db, f"SELECT SECURITY_TYPE FROM {views}") == {"DEFINER", "INVOKER"}
    assert values(db, f"SELECT CHECK_OPTION FROM {views}") == {"NONE", "CASCADED"}
    assert values(db, f"SELECT ALGORITHM FROM {views}") == {"UNDEFINED", "MERGE", "TEMPTABLE"}
    assert values(db, f"SELECT DEFINER FROM {views}") == {"root@localhost", "root@127.0.0.1"}
    triggers = query(
        db,
        "SELECT TRIGGER_NAME, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER, COLLATION_CONNECTION"
        f" FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '{db.dbname}'",
    )
    assert {(timing, event) for _, timing, event, _, _ in triggers} == {
        ("BEFORE", "INSERT"),
        ("BEFORE", "UPDATE"),
        ("BEFORE", "DELETE"),
        ("AFTER", "INSERT"),
    }
    assert {name: order for name, *_, order, _ in triggers if name.startswith("invoices_")} == {
        "invoices_z_first": 1,
        "invoices_a_second": 2,
    }
    assert {name for name, *_, collation in triggers if collation == "utf8mb4_bin"} == {"places_before_insert"}
    routines = query(
        db,
        "SELECT ROUTINE_NAME, ROUTINE_TYPE, SQL_DATA_ACCESS, SECURITY_TYPE, IS_DETERMINISTIC, SQL_MODE,"
        f" ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{db.dbname}'",
    )
    assert {row[1] for row in routines} == {"PROCEDURE", "FUNCTION"}
    assert {row[2] for row in routines} == {"NO SQL", "READS SQL DATA", "CONTAINS SQL", "MODIFIES SQL DATA"}
    assert {row[3] for row in routines} == {"DEFINER", "INVOKER"}
    assert {row[4] for row in routines} == {"YES", "NO"}
    assert {row[0] for row in routines if "PIPES_AS_CONCAT" in row[5]} == {"label"}
    assert {row[0] for row in routines if "-- A line comment" in row[6]} == {"move_money"}
    assert (
        "CREATE DEFINER=`root`@`127.0.0.1` AGGREGATE FUNCTION `total_length`"
        in query(db, "SHOW CREATE FUNCTION total_length")[0][2]
    )
    assert query(
        db,
        "SELECT EVENT_NAME, STATUS, TIME_ZONE, ON_COMPLETION FROM information_schema.EVENTS"
        f" WHERE EVENT_SCHEMA = '{db.dbname}' ORDER BY EVENT_NAME",
    ) == [("one_shot", "DISABLED", "+00:00", "PRESERVE"), ("purge_audit", "DISABLED", "+02:00", "PRESERVE")]
    assert values(db, f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE {schema}") >= {
        "Odd `Name` ✓ Ünï",
        "CaseTable",
        "casetable",
        "select",
        "order",
    }
    assert query(
        db,
        "SELECT COUNT(*) FROM information_schema.STATISTICS"
        f" WHERE {schema} AND TABLE_NAME = 'event_log' AND NON_UNIQUE = 0",
    ) == [(0,)]

    # The data's edge cases really are in the data.
    assert query(
        db,
        "SELECT SUM(c_varchar IS NULL), SUM(c_varchar = ''), SUM(c_text LIKE '%\\0%'), SUM(c_text LIKE '%\\r\\n%'),"
        " SUM(c_longtext LIKE '%🎉%'), SUM(LENGTH(c_varbinary) = 256), SUM(c_decimal LIKE '99999%'),"
        " SUM(c_bit64 = 18446744073709551615), SUM(c_timestamp = '2038-01-19 03:14:07.999999')"
        " FROM all_types",
    ) == [(10, 1, 1, 1, 1, 1, 1, 1, 1)]
    assert query(
        db, "SELECT COUNT(DISTINCT SUBSTR(c_varbinary, seq, 1)) FROM all_types, seq_1_to_256 WHERE id = 4"
    ) == [(256,)]
    assert query(db, "SELECT LENGTH(body) > 1000000, LENGTH(blob_data) FROM documents WHERE id = 3") == [(1, 1048576)]
    assert query(db, "SELECT COUNT(*) FROM legacy_dates WHERE d = '0000-00-00' OR partial = '2024-00-15'") == [(1,)]
    assert query(db, "SELECT name FROM tags WHERE id = 0") == [("zero id",)]
    assert values(db, "SELECT HEX(magic) FROM documents") == {"00FF7F80"}
    assert auto_increments(db)["all_types"] == 15  # rows 13 and 14 were deleted: max(id) is 12
    assert query(
        db,
        "SELECT (SELECT COUNT(*) FROM event_log), COUNT(*) FROM (SELECT DISTINCT at, kind, payload FROM event_log) d",
    ) == [(5, 3)]
    assert query(db, "SELECT MIN(revision), MAX(revision) FROM customers") == [(1, 2)]
    assert query(db, "SELECT COUNT(*) FROM audit") == [(300,)]


def restore_with_live_triggers(source: MysqlDatabase, restored: MysqlDatabase) -> None:
    """mysqldump's restore, but schema (with triggers) first and data after: a naive restore."""
    mysql_restore(mysqldump(source, "--no-data", "--routines", "--triggers", "--events"), restored)
    mysql_restore(mysqldump(source, "--no-create-info", "--skip-triggers"), restored)


def test_rich_schema_loads_fast_and_round_trips_through_mysqldump(mysql_pair):
    source, restored = mysql_pair
    started = time.monotonic()
    mysql_schemas.load_rich(source)
    load_seconds = time.monotonic() - started

    mysqldump_round_trip(source, restored)

    assert load_seconds < 3.0
    assert_rich_catalog(source)
    assert_same_database(source, restored)
    assert table_checksums(source)["products"] == (200, None)  # generated columns: digest only

    # Teeth: a restore that lets triggers fire while rows load is caught by the
    # data alone (BEFORE INSERT bumps each revision; AFTER INSERT writes audit rows).
    with fresh_mysql_database() as naive:
        restore_with_live_triggers(source, naive)
        with pytest.raises(AssertionError) as failure:
            assert_same_database(source, naive)
    message = str(failure.value)
    assert "table customers: source 60 rows" in message
    assert "table audit: source 300 rows" in message
    assert "restored 600 rows" in message
    assert "schema differs" not in message
    assert "table invoices" not in message


def test_rich_data_is_deterministic(mysql_pair):
    """Two loads are the same database: detection tests may compare separate loads."""
    source, restored = mysql_pair
    mysql_schemas.load_rich(source)
    mysql_schemas.load_rich(restored)

    assert_same_database(source, restored)


def test_cf_like_database_loads_fast_round_trips_and_is_deterministic(mysql_pair):
    source, restored = mysql_pair
    started = time.monotonic()
    mysql_schemas.load_cf_like(source, rows=2000)
    load_seconds = time.monotonic() - started

    mysqldump_round_trip(source, restored)

    assert load_seconds < 3.0
    sums = table_checksums(source)
    assert sums["apps"][0] == 2000
    assert sums["events"][0] == 4000
    assert sums["credential_version"][0] == 4000
    assert sum(count for count, _checksum in sums.values()) > 15000
    assert all(checksum is not None for _count, checksum in sums.values())
    assert_same_database(source, restored)

    with fresh_mysql_database() as again:
        mysql_schemas.load_cf_like(again, rows=2000)
        assert table_checksums(again) == sums
        assert content_digests(again) == content_digests(source)


def test_extra_schema_round_trips_only_with_dump_history(mysql_pair):
    source, restored = mysql_pair
    mysql_schemas.load_rich(source, extra=True)

    mysql_restore(mysqldump(source, *REFERENCE_DUMP_OPTIONS, "--dump-history"), restored)
    assert_same_database(source, restored)
    assert content_digest(restored, "price_history")[0] == 3  # versions: (1, 10.00), (1, 11.00), (2, 20.00)
    assert "DO SETVAL(`invoice_numbers`, 1070, 0);" in schema_dump(restored)

    with fresh_mysql_database() as without_history:
        mysqldump_round_trip(source, without_history)
        problems = database_differences(source, without_history)
    assert [problem.split(":")[0] for problem in problems] == ["table price_history"]


def test_beyond_mysqldump_floats_lose_digits_and_plain_mysql_strips_comments(mysql_pair):
    source, restored = mysql_pair
    mysql_restore(mysql_schemas.BEYOND_MYSQLDUMP, source)

    mysqldump_round_trip(source, restored, comments=False)  # what a bare `mysql` does

    message = "\n".join(database_differences(source, restored))
    assert "-    -- a line comment" in message
    assert "table precise_floats: source 6 rows" in message
    assert "- (1, 1.0000001192092896)" in message
    assert "+ (1, 1.0)" in message
    assert "+ (2, 16777200.0)" in message

    with fresh_mysql_database() as with_comments:
        mysqldump_round_trip(source, with_comments)  # mysql --comments: the routine survives
        problems = database_differences(source, with_comments)
    assert [problem.split(":")[0] for problem in problems] == ["table precise_floats"]
