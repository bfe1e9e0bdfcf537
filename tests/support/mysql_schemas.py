r"""MySQL/MariaDB databases worth backing up: SQL that builds them, for round-trip tests.

- ``RICH_SCHEMA`` + ``RICH_DATA``: every item of issue 4's fidelity list and
  a few MariaDB traps beyond it (each item is tagged ``-- [fidelity: ...]``
  in the SQL; ``FIDELITY_ITEMS`` lists the tags and a test checks that each
  one appears). ``mysqldump | mysql`` reproduces all of it (tested).
- ``BEYOND_MYSQLDUMP``: data that ``mysqldump | mysql`` does *not*
  reproduce, so an engine can be held to a higher standard than the
  reference: FLOAT values that need more than 6 significant digits (the
  server's text form of a FLOAT has 6), and a routine whose body has
  comments, which a plain ``mysql`` (without ``--comments``) strips.
- ``EXTRA_SCHEMA``: MariaDB features beyond the issue's list: a SEQUENCE,
  a system-versioned table with history, an application-time period with
  WITHOUT OVERLAPS, an Aria table, a compressed InnoDB table. mysqldump
  keeps them all when given ``--dump-history`` (tested).
- ``CF_LIKE_SCHEMA`` + ``cf_like_data(rows)``: shaped like Cloud Foundry's
  ccdb, uaadb and credhub on MySQL, data generated server-side from
  MariaDB's SEQUENCE engine (``seq_1_to_N``; MariaDB's recursive CTEs stop
  at ``max_recursive_iterations`` = 1000).

All SQL is written for the plain ``mysql`` client (``DELIMITER`` around
routine bodies) and loaded with ``mysql --comments`` by ``load_rich`` /
``load_cf_like`` (``mysql_oracle.mysql_restore``), so comments inside bodies
are kept as a connector would keep them. It begins with ``SET NAMES
utf8mb4``, pins ``time_zone = '+00:00'`` (TIMESTAMP literals then mean
UTC) and pins ``sql_mode`` (each trigger and routine records the mode it
was created under, so the schema does not depend on the server's default),
and changes each of them on purpose where an item needs it.

Everything is deterministic: loading the same SQL twice gives the same
schema dump, checksums and digests (no NOW(), UUID() or RAND() in data).

Traps in RICH_* that a dump/restore engine must get right (mysqldump does):

- triggers are created *after* their table's rows are loaded (a BEFORE
  INSERT trigger bumps ``customers.revision``; AFTER INSERT triggers fill
  ``audit``), and their action order (FOLLOWS) is kept;
- each trigger, routine and event is created under its own ``sql_mode``,
  ``character_set_client``/``collation_connection`` and (events)
  ``time_zone``: ``label`` needs PIPES_AS_CONCAT,ANSI_QUOTES,
  ``places_before_insert`` was created under utf8mb4_bin, ``purge_audit``
  in +02:00;
- rows load under a permissive ``sql_mode`` with NO_AUTO_VALUE_ON_ZERO
  (``tags`` has id 0; ``legacy_dates`` has zero dates) and with foreign
  key checks off (``departments``/``employees`` reference each other, NOT
  NULL both ways);
- INSERTs name their columns: generated columns take no value (strict
  mode rejects one) and ``products.secret_note`` is INVISIBLE (``SELECT *``
  leaves it out);
- ``documents.magic`` has a binary DEFAULT that SHOW CREATE TABLE prints as
  raw, non-UTF-8 bytes: PyMySQL decoding that result as text raises
  UnicodeDecodeError (and the connection is then unusable), so read DDL as
  bytes;
- AUTO_INCREMENT counters above max(id) + 1 (``all_types``: 15 for 12;
  ``invoices``: 256 for 150, as INSERT ... SELECT reserves in batches).
"""

from __future__ import annotations

from tests.support.mysql_oracle import MysqlTarget, mysql_restore

# Identifiers that need quoting, spelled once (SQL-quoted form). MySQL
# identifiers are limited to the Basic Multilingual Plane: no emoji.
ODD_TABLE = "`Odd ``Name`` ✓ Ünï`"
ODD_TABLE_NAME = "Odd `Name` ✓ Ünï"

FIDELITY_ITEMS = (
    "engine innodb",
    "engine myisam",
    "table charset",
    "column charset and collation",
    "auto_increment",
    "auto_increment above max",
    "auto_increment zero",
    "generated virtual",
    "generated stored",
    "invisible column",
    "default expressions",
    "binary default",
    "on update current_timestamp",
    "comments",
    "index primary",
    "index unique",
    "index multi-column",
    "index descending",
    "index prefix",
    "index fulltext",
    "index spatial",
    "index on virtual column",
    "index long unique",
    "index ignored",
    "fk cascade",
    "fk set null",
    "fk self-referencing",
    "fk circular",
    "check constraint",
    "partition range",
    "sub-partition",
    "partition list",
    "default partition",
    "partition hash",
    "partition key",
    "view",
    "view on view",
    "view definer and sql security",
    "view check option",
    "trigger before",
    "trigger after",
    "trigger order",
    "trigger collation",
    "procedure",
    "function",
    "aggregate function",
    "routine characteristics",
    "routine sql_mode",
    "routine comments",
    "event",
    "event time zone",
    "odd identifiers",
    "case-distinct names",
    "reserved words",
    "no primary key",
    "data null vs empty",
    "data quotes and backslashes",
    "data control chars",
    "data sql lookalikes",
    "data unicode",
    "data binary",
    "data bit",
    "data integer extremes",
    "data decimal extremes",
    "data float and double",
    "data temporal",
    "data timestamp",
    "data zero dates",
    "data enum and set",
    "data json",
    "data uuid",
    "data inet",
    "data geometry",
    "data large row",
    "data partitions",
    "data circular fk",
)

# SQL mode the fixtures run under: the server default of MariaDB 10.11,
# written out so a server configured otherwise builds the same schema.
SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"

ALL_BYTES_HEX = bytes(range(256)).hex()

PRELUDE = f"""
SET NAMES utf8mb4;
SET time_zone = '+00:00';
SET sql_mode = '{SQL_MODE}';
"""

RICH_SCHEMA = (
    PRELUDE
    + r"""
-- [fidelity: engine innodb] [fidelity: table charset] [fidelity: column charset and collation]
-- [fidelity: auto_increment] [fidelity: index primary]
CREATE TABLE all_types (
    id INT UNSIGNED NOT NULL AUTO_INCREMENT,
    c_tinyint TINYINT,
    c_tinyint_u TINYINT UNSIGNED,
    c_bool BOOLEAN,
    c_smallint SMALLINT,
    c_mediumint MEDIUMINT,
    c_int INT,
    c_bigint BIGINT,
    c_bigint_u BIGINT UNSIGNED,
    c_int_zerofill INT(6) UNSIGNED ZEROFILL,
    c_decimal DECIMAL(65,30),
    c_money DECIMAL(10,2),
    c_float FLOAT,
    c_double DOUBLE,
    c_bit1 BIT(1),
    c_bit17 BIT(17),
    c_bit64 BIT(64),
    c_char CHAR(10),
    c_varchar VARCHAR(255),
    c_varchar_bin VARCHAR(100) COLLATE utf8mb4_bin,
    c_latin1 VARCHAR(100) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
    c_utf8mb3 VARCHAR(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci,
    c_ascii CHAR(3) CHARACTER SET ascii COLLATE ascii_bin,
    c_tinytext TINYTEXT,
    c_text TEXT,
    c_mediumtext MEDIUMTEXT,
    c_longtext LONGTEXT,
    c_binary BINARY(16),
    c_varbinary VARBINARY(300),
    c_tinyblob TINYBLOB,
    c_blob BLOB,
    c_mediumblob MEDIUMBLOB,
    c_date DATE,
    c_time TIME(6),
    c_datetime DATETIME(6),
    c_datetime0 DATETIME,
    c_timestamp TIMESTAMP(6) NULL DEFAULT NULL,
    c_year YEAR,
    c_enum ENUM('small', 'it''s "big"', 'ünï ✓'),
    c_set SET('read', 'write', 'exec'),
    c_json JSON,
    c_uuid UUID,
    c_inet6 INET6,
    c_inet4 INET4,
    c_point POINT,
    c_geometry GEOMETRY,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- [fidelity: engine myisam] (non-transactional: the engine must report it) --------
CREATE TABLE legacy_notes (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    body TEXT NOT NULL,
    FULLTEXT KEY legacy_notes_body (body)
) ENGINE=MyISAM CHECKSUM=1 DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci;

-- [fidelity: auto_increment zero] needs NO_AUTO_VALUE_ON_ZERO to load -----------------
CREATE TABLE tags (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(50) NOT NULL,
    UNIQUE KEY tags_name (name)
) ENGINE=InnoDB AUTO_INCREMENT=100;

-- [fidelity: generated virtual] [fidelity: generated stored] [fidelity: invisible column]
-- [fidelity: index on virtual column] [fidelity: index prefix] [fidelity: index descending]
-- [fidelity: index multi-column] [fidelity: index fulltext] [fidelity: index ignored]
-- [fidelity: comments] [fidelity: check constraint] [fidelity: index unique]
CREATE TABLE products (
    id INT NOT NULL PRIMARY KEY,
    sku VARCHAR(40) NOT NULL COMMENT 'Stock keeping unit, unique',
    price DECIMAL(10,2) NOT NULL,
    qty INT NOT NULL DEFAULT 0,
    total DECIMAL(12,2) AS (price * qty) STORED,
    sku_upper VARCHAR(40) AS (UPPER(sku)) VIRTUAL,
    attrs JSON,
    colour VARCHAR(20) AS (JSON_UNQUOTE(JSON_EXTRACT(attrs, '$.colour'))) VIRTUAL,
    description TEXT,
    secret_note VARCHAR(40) INVISIBLE DEFAULT 'none',
    CONSTRAINT products_price_positive CHECK (price >= 0),
    CONSTRAINT products_qty_sane CHECK (qty BETWEEN -1000 AND 1000000),
    UNIQUE KEY products_sku (sku),
    KEY products_colour (colour),
    KEY products_description_prefix (description(32)),
    KEY products_price_qty (price DESC, qty),
    FULLTEXT KEY products_fulltext (sku, description),
    KEY products_qty_ignored (qty) IGNORED COMMENT 'an index the optimizer must not use'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
  COMMENT='Products: generated, invisible and ''quoted'' things ✓';

-- [fidelity: index spatial] [fidelity: index long unique] ------------------------------
CREATE TABLE places (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    location POINT NOT NULL,
    area POLYGON,
    notes TEXT,
    SPATIAL KEY places_location (location),
    UNIQUE KEY places_notes_unique (notes)
) ENGINE=InnoDB;

-- [fidelity: fk circular] [fidelity: fk self-referencing] [fidelity: fk set null] ------
CREATE TABLE departments (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    head_employee_id INT NOT NULL,
    UNIQUE KEY departments_name (name)
) ENGINE=InnoDB;
CREATE TABLE employees (
    id INT NOT NULL PRIMARY KEY,
    department_id INT NOT NULL,
    manager_id INT NULL,
    name VARCHAR(100) NOT NULL,
    CONSTRAINT employees_manager_fk FOREIGN KEY (manager_id) REFERENCES employees (id) ON DELETE SET NULL,
    CONSTRAINT employees_department_fk FOREIGN KEY (department_id) REFERENCES departments (id)
        ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB;
ALTER TABLE departments ADD CONSTRAINT departments_head_fk
    FOREIGN KEY (head_employee_id) REFERENCES employees (id) ON DELETE RESTRICT;

-- [fidelity: fk cascade] [fidelity: default expressions] [fidelity: on update current_timestamp]
CREATE TABLE customers (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(191) NOT NULL,
    name VARCHAR(100) NOT NULL,
    referred_by BIGINT UNSIGNED NULL,
    revision INT NOT NULL DEFAULT 0,
    api_key CHAR(32) NOT NULL DEFAULT (MD5(RAND())),
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at TIMESTAMP(6) NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP(6),
    CONSTRAINT customers_email UNIQUE (email),
    CONSTRAINT customers_name_not_empty CHECK (name <> ''),
    CONSTRAINT customers_referred_fk FOREIGN KEY (referred_by) REFERENCES customers (id) ON DELETE SET NULL
) ENGINE=InnoDB;
CREATE TABLE invoices (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id BIGINT UNSIGNED NOT NULL,
    net DECIMAL(12,2) NOT NULL CHECK (net >= 0),
    vat_rate DECIMAL(4,3) NOT NULL DEFAULT 0.210,
    gross DECIMAL(12,2) AS (ROUND(net * (1 + vat_rate), 2)) STORED,
    status ENUM('draft', 'sent', 'paid') NOT NULL DEFAULT 'draft',
    issued_on DATE,
    KEY invoices_customer_issued (customer_id, issued_on),
    CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
        ON DELETE CASCADE ON UPDATE CASCADE
) ENGINE=InnoDB;
CREATE TABLE audit (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    what VARCHAR(255) NOT NULL
) ENGINE=InnoDB;

-- [fidelity: no primary key] duplicate rows on purpose ---------------------------------
CREATE TABLE event_log (
    at DATETIME(6) NOT NULL,
    kind VARCHAR(20),
    payload JSON,
    KEY event_log_at (at)
) ENGINE=InnoDB;

-- [fidelity: data large row] [fidelity: binary default] (SHOW CREATE TABLE prints a
-- binary default as raw bytes, here not even valid UTF-8) --------------------------------
CREATE TABLE documents (
    id INT NOT NULL PRIMARY KEY,
    title VARCHAR(200) NOT NULL,
    magic BINARY(4) NOT NULL DEFAULT x'00ff7f80',
    body LONGTEXT,
    blob_data LONGBLOB
) ENGINE=InnoDB ROW_FORMAT=DYNAMIC;

-- [fidelity: data zero dates] (DEFAULT '0000-00-00' needs a mode without NO_ZERO_DATE)
CREATE TABLE legacy_dates (
    id INT NOT NULL PRIMARY KEY,
    d DATE NOT NULL DEFAULT '0000-00-00',
    dt DATETIME NOT NULL DEFAULT '0000-00-00 00:00:00',
    ts TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00',
    partial DATE
) ENGINE=InnoDB;

-- [fidelity: partition range] [fidelity: sub-partition] -------------------------------
CREATE TABLE measurements (
    id INT NOT NULL,
    recorded_at DATETIME(6) NOT NULL,
    sensor VARCHAR(20) NOT NULL,
    value DOUBLE,
    PRIMARY KEY (id, recorded_at),
    KEY measurements_sensor_time (sensor, recorded_at)
) ENGINE=InnoDB
PARTITION BY RANGE (YEAR(recorded_at))
SUBPARTITION BY HASH (id) SUBPARTITIONS 2 (
    PARTITION p2023 VALUES LESS THAN (2024) COMMENT 'last year',
    PARTITION p2024 VALUES LESS THAN (2025),
    PARTITION pfuture VALUES LESS THAN MAXVALUE
);

-- [fidelity: partition list] [fidelity: default partition] -----------------------------
CREATE TABLE orders_by_region (
    id INT NOT NULL,
    region VARCHAR(10) NOT NULL,
    amount DECIMAL(10,2) NOT NULL,
    PRIMARY KEY (id, region)
) ENGINE=InnoDB
PARTITION BY LIST COLUMNS (region) (
    PARTITION p_eu VALUES IN ('eu'),
    PARTITION p_us VALUES IN ('us', 'ca'),
    PARTITION p_other DEFAULT
);

-- [fidelity: partition hash] [fidelity: partition key] --------------------------------
CREATE TABLE sessions (
    user_id INT NOT NULL,
    token UUID NOT NULL,
    started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY sessions_user (user_id)
) ENGINE=InnoDB
PARTITION BY HASH (user_id) PARTITIONS 4;
CREATE TABLE settings_by_key (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    value TEXT
) ENGINE=InnoDB
PARTITION BY KEY (name) PARTITIONS 3;

-- [fidelity: odd identifiers] capitals, spaces, backticks, quotes, unicode ------------
CREATE TABLE `Odd ``Name`` ✓ Ünï` (
    `Id` INT NOT NULL AUTO_INCREMENT,
    `Spaced Col` VARCHAR(50) DEFAULT 'a "quoted" default',
    `quote``d` INT,
    `Ωmega` DECIMAL(10,3),
    `MixedCase` TEXT,
    `it's` VARCHAR(10),
    PRIMARY KEY (`Id`),
    CONSTRAINT `chk Ωmega ≥ 0` CHECK (`Ωmega` >= 0),
    UNIQUE KEY `uq Spaced ``x``` (`Spaced Col`, `quote``d`),
    KEY `idx Ωmega désc` (`Ωmega` DESC)
) ENGINE=InnoDB;

-- [fidelity: case-distinct names] (lower_case_table_names = 0) -----------------------
CREATE TABLE `CaseTable` (id INT PRIMARY KEY, `Value` INT, `value2` INT) ENGINE=InnoDB;
CREATE TABLE `casetable` (id INT PRIMARY KEY, note VARCHAR(10)) ENGINE=InnoDB;

-- [fidelity: reserved words] ----------------------------------------------------------
CREATE TABLE `select` (
    id INT NOT NULL PRIMARY KEY,
    `from` DATE,
    `where` VARCHAR(20)
) ENGINE=InnoDB;
CREATE TABLE `order` (
    id INT NOT NULL PRIMARY KEY,
    `select_id` INT NOT NULL,
    `key` VARCHAR(20),
    `desc` TEXT,
    `group` INT,
    `index` INT,
    KEY `order` (`group`, `index`),
    CONSTRAINT `order_select_fk` FOREIGN KEY (`select_id`) REFERENCES `select` (id)
) ENGINE=InnoDB;

DELIMITER ;;

-- [fidelity: function] [fidelity: routine characteristics] -----------------------------
CREATE FUNCTION gross(net DECIMAL(12,2), rate DECIMAL(4,3)) RETURNS DECIMAL(12,2)
    DETERMINISTIC NO SQL COMMENT 'Net plus VAT, rounded to cents'
    RETURN ROUND(net * (1 + rate), 2);;

CREATE FUNCTION customer_count() RETURNS INT
    READS SQL DATA SQL SECURITY INVOKER
BEGIN
    DECLARE n INT;
    SELECT COUNT(*) INTO n FROM customers;
    RETURN n;
END;;

CREATE FUNCTION greet(who VARCHAR(50) CHARSET latin1) RETURNS VARCHAR(80) CHARSET utf8mb4 COLLATE utf8mb4_bin
    DETERMINISTIC CONTAINS SQL
    RETURN CONCAT('hello, ', who, ' ✓');;

-- [fidelity: procedure] [fidelity: routine comments] ------------------------------------
CREATE PROCEDURE move_money(IN from_id BIGINT UNSIGNED, IN to_id BIGINT UNSIGNED, IN amount DECIMAL(12,2),
                            OUT moved INT)
    MODIFIES SQL DATA
    COMMENT 'Moves net amounts between customers'
BEGIN
    -- A line comment; with a semicolon and 'quotes'.
    DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
    START TRANSACTION;
    UPDATE invoices SET net = net - amount WHERE customer_id = from_id; /* a block comment */
    UPDATE invoices SET net = net + amount WHERE customer_id = to_id;
    SET moved = ROW_COUNT();  # a hash comment
    COMMIT;
END;;

CREATE PROCEDURE `Odd ``Proc`` ✓`(INOUT counter INT)
    READS SQL DATA
BEGIN
    DECLARE done INT DEFAULT FALSE;
    DECLARE tag_name VARCHAR(50);
    DECLARE tag_cursor CURSOR FOR SELECT name FROM tags ORDER BY id;
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = TRUE;
    OPEN tag_cursor;
    read_loop: LOOP
        FETCH tag_cursor INTO tag_name;
        IF done THEN
            LEAVE read_loop;
        END IF;
        SET counter = counter + CHAR_LENGTH(tag_name);
    END LOOP;
    CLOSE tag_cursor;
END;;

-- [fidelity: aggregate function] (MariaDB 10.3+) -----------------------------------------
CREATE AGGREGATE FUNCTION total_length(s TEXT) RETURNS INT
    DETERMINISTIC
BEGIN
    DECLARE total INT DEFAULT 0;
    DECLARE CONTINUE HANDLER FOR NOT FOUND RETURN total;
    LOOP
        FETCH GROUP NEXT ROW;
        SET total = total + COALESCE(CHAR_LENGTH(s), 0);
    END LOOP;
END;;

-- [fidelity: trigger before] not idempotent on purpose: a restore that fires it while
-- loading data changes every revision, and the data oracles see it.
CREATE TRIGGER customers_bump_revision BEFORE INSERT ON customers FOR EACH ROW
    SET NEW.revision = NEW.revision + 1;;
CREATE TRIGGER customers_bump_revision_on_update BEFORE UPDATE ON customers FOR EACH ROW
BEGIN
    IF NEW.name <> OLD.name THEN
        SET NEW.revision = OLD.revision + 1;
    END IF;
END;;

-- [fidelity: trigger after] [fidelity: trigger order] two AFTER INSERT triggers whose
-- action order (FOLLOWS) is the reverse of their names' order.
CREATE TRIGGER invoices_z_first AFTER INSERT ON invoices FOR EACH ROW
    INSERT INTO audit (what) VALUES (CONCAT('invoice ', NEW.id, ' first'));;
CREATE TRIGGER invoices_a_second AFTER INSERT ON invoices FOR EACH ROW FOLLOWS invoices_z_first
    INSERT INTO audit (what) VALUES (CONCAT('invoice ', NEW.id, ' second'));;
CREATE TRIGGER employees_before_delete BEFORE DELETE ON employees FOR EACH ROW
    INSERT INTO audit (what) VALUES (CONCAT('employee ', OLD.id, ' deleted'));;
CREATE TRIGGER `Odd ``Trigger`` ✓` BEFORE UPDATE ON `Odd ``Name`` ✓ Ünï` FOR EACH ROW
    SET NEW.`MixedCase` = CONCAT(COALESCE(OLD.`MixedCase`, ''), ' ✓');;

DELIMITER ;

-- [fidelity: trigger collation] created under another collation_connection, which the
-- trigger keeps: its string literals compare with it.
SET NAMES utf8mb4 COLLATE utf8mb4_bin;
CREATE TRIGGER places_before_insert BEFORE INSERT ON places FOR EACH ROW
    SET NEW.notes = IF('abc' = 'ABC', 'case-insensitive', NEW.notes);
SET NAMES utf8mb4;

-- [fidelity: routine sql_mode] the body means something else under another mode
-- ('||' is CONCAT only with PIPES_AS_CONCAT; "label" is a name only with ANSI_QUOTES).
SET sql_mode = 'PIPES_AS_CONCAT,ANSI_QUOTES,STRICT_TRANS_TABLES';
CREATE FUNCTION "label"(n VARCHAR(50)) RETURNS VARCHAR(60) DETERMINISTIC RETURN 'label: ' || n;
"""
    + f"SET sql_mode = '{SQL_MODE}';\n"
    + r"""
-- [fidelity: view] [fidelity: view on view] [fidelity: view definer and sql security]
-- The dependent view's name sorts before the view it reads.
CREATE ALGORITHM=TEMPTABLE DEFINER=CURRENT_USER SQL SECURITY DEFINER VIEW z_customer_totals AS
    SELECT c.id AS customer_id, c.name, COUNT(i.id) AS invoices, COALESCE(SUM(i.gross), 0) AS gross
    FROM customers c LEFT JOIN invoices i ON i.customer_id = c.id
    GROUP BY c.id, c.name;
CREATE DEFINER=`root`@`localhost` SQL SECURITY INVOKER VIEW a_top_customers AS
    SELECT customer_id, name, gross FROM z_customer_totals WHERE gross > 100;
-- [fidelity: view check option]
CREATE ALGORITHM=MERGE VIEW in_stock_products AS
    SELECT id, sku, qty, colour FROM products WHERE qty > 0
    WITH CASCADED CHECK OPTION;
CREATE VIEW `View ``odd`` ✓` (`Ω`, `the name`) AS
    SELECT `Ωmega`, `Spaced Col` FROM `Odd ``Name`` ✓ Ünï`;

-- [fidelity: event] [fidelity: event time zone] disabled: they never run. Each event
-- keeps the time zone it was created in; STARTS is given so two loads are equal.
SET time_zone = '+02:00';
CREATE EVENT purge_audit
    ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' ENDS '2031-01-01 00:00:00'
    ON COMPLETION PRESERVE DISABLE
    COMMENT 'Never runs: disabled'
    DO DELETE FROM audit WHERE id < 0;
SET time_zone = '+00:00';
CREATE EVENT one_shot
    ON SCHEDULE AT '2030-06-01 12:00:00'
    ON COMPLETION PRESERVE DISABLE
    DO INSERT INTO audit (what) VALUES ('one shot');
"""
)


def _uuid(expression: str) -> str:
    """SQL for a version-4-shaped UUID string derived from MD5(expression): deterministic.

    The version and variant digits are set because MariaDB's UUID type
    rejects some variants (a '3' in the fourth group, for one).
    """
    digits = f"INSERT(INSERT(MD5({expression}), 13, 1, '4'), 17, 1, 'a')"
    return f"INSERT(INSERT(INSERT(INSERT({digits}, 21, 0, '-'), 17, 0, '-'), 13, 0, '-'), 9, 0, '-')"


RICH_DATA = (
    PRELUDE
    + r"""
-- [fidelity: data null vs empty] row 1 is NULL everywhere, row 2 empty/zero everywhere
INSERT INTO all_types (id) VALUES (1);
INSERT INTO all_types (id, c_tinyint, c_tinyint_u, c_bool, c_smallint, c_mediumint, c_int, c_bigint, c_bigint_u,
    c_int_zerofill, c_decimal, c_money, c_float, c_double, c_bit1, c_bit17, c_bit64, c_char, c_varchar,
    c_varchar_bin, c_latin1, c_utf8mb3, c_ascii, c_tinytext, c_text, c_mediumtext, c_longtext, c_binary,
    c_varbinary, c_tinyblob, c_blob, c_mediumblob, c_set, c_json)
VALUES (2, 0, 0, FALSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'0', b'0', b'0', '', '', '', '', '', '', '', '', '', '',
    '', '', '', '', '', '', '""');

-- [fidelity: data quotes and backslashes] [fidelity: data control chars]
-- [fidelity: data sql lookalikes] [fidelity: data unicode]
INSERT INTO all_types (id, c_char, c_varchar, c_varchar_bin, c_text, c_mediumtext, c_longtext, c_latin1,
    c_utf8mb3, c_ascii, c_tinytext)
VALUES (3, 'it''s', 'it''s "quoted" \\ back\\slash \\\\ double \' single',
    'trailing spaces   ',
    'nul:\0 cr:\r lf:\n crlf:\r\n tab:\t ctrl-z:\Z backspace:\b esc:' 'x',
    '; DROP TABLE all_types; -- \n/*! SELECT 1 */ /*M!100000 x */ DELIMITER ;;\n\\N \N 0x41 _binary''x''',
    'Ünïcödé ✓ — 日本語 𝄞 🎉 👩‍👩‍👧 é ﬁ ß İ',
    'café ÿ ½ ¤', 'BMP only ✓ Ω', 'A\'Z', ' \t\n');

-- [fidelity: data binary] all 256 byte values, trailing zero bytes, CR LF, a lone NUL
INSERT INTO all_types (id, c_binary, c_varbinary, c_tinyblob, c_blob, c_mediumblob)
VALUES (4, x'41000000000000000000000000000000', x'"""
    + ALL_BYTES_HEX
    + r"""', x'00', x'"""
    + ALL_BYTES_HEX[::-1]
    + r"""', x'0d0a0d0a00');

-- [fidelity: data integer extremes] [fidelity: data decimal extremes] [fidelity: data bit]
-- [fidelity: data float and double] (FLOAT: values written with at most 6 significant digits;
-- see BEYOND_MYSQLDUMP for the rest)
INSERT INTO all_types (id, c_tinyint, c_tinyint_u, c_bool, c_smallint, c_mediumint, c_int, c_bigint, c_bigint_u,
    c_int_zerofill, c_decimal, c_money, c_float, c_double, c_bit1, c_bit17, c_bit64)
VALUES
    (5, 127, 255, TRUE, 32767, 8388607, 2147483647, 9223372036854775807, 18446744073709551615, 42,
     99999999999999999999999999999999999.999999999999999999999999999999, 99999999.99, 3.40282e38,
     1.7976931348623157e308, b'1', b'10101010101010101', x'FFFFFFFFFFFFFFFF'),
    (6, -128, 0, FALSE, -32768, -8388608, -2147483648, -9223372036854775808, 0, 999999,
     -99999999999999999999999999999999999.999999999999999999999999999999, -99999999.99, -1.17549e-38,
     -2.2250738585072014e-308, b'0', b'1', x'8000000000000001'),
    (7, 1, 1, NULL, 1, 1, 1, 1, 1, 1, 0.000000000000000000000000000001, 0.01, 1.5,
     4.9e-324, b'1', b'11111111111111111', b'0'),
    (8, -1, 2, NULL, -1, -1, -1, -1, 9223372036854775808, 7, -0.000000000000000000000000000001, -0.01, 0.1,
     0.30000000000000004, NULL, b'0', x'00000000FFFFFFFF'),
    (9, 0, 0, NULL, 0, 0, 0, 0, 0, 0, -0.0, 0, -0.0,
     -0.0, NULL, NULL, NULL);

-- [fidelity: data temporal] [fidelity: data timestamp] (loaded with time_zone +00:00)
-- [fidelity: data enum and set] [fidelity: data json] [fidelity: data uuid] [fidelity: data inet]
-- [fidelity: data geometry]
INSERT INTO all_types (id, c_date, c_time, c_datetime, c_datetime0, c_timestamp, c_year, c_enum, c_set, c_json,
    c_uuid, c_inet6, c_inet4, c_point, c_geometry)
VALUES
    (10, '1000-01-01', '-838:59:59.000000', '1000-01-01 00:00:00.000000', '1000-01-01 00:00:00',
     '1970-01-01 00:00:01.000000', 1901, 'small', 'read', '{"a": [1, 2.5, null, true], "ü": "✓"}',
     '00000000-0000-0000-0000-000000000000', '::', '0.0.0.0',
     ST_GeomFromText('POINT(4.35 50.85)', 4326), ST_GeomFromText('LINESTRING(0 0, 1 1, 2 0)')),
    (11, '9999-12-31', '838:59:59.000000', '9999-12-31 23:59:59.999999', '9999-12-31 23:59:59',
     '2038-01-19 03:14:07.999999', 2155, 'it''s "big"', 'read,write,exec',
     '{ "spaced" :  1 , "quote": "it''s \\"x\\"", "nested": {"deep": [[]]} }',
     'ffffffff-ffff-ffff-ffff-ffffffffffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '255.255.255.255',
     ST_GeomFromText('POINT(-180 -90)'),
     ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 3 2, 3 3, 2 2))', 3857)),
    (12, '2024-02-29', '00:00:00.000001', '2024-03-31 01:59:59.500000', '2024-10-27 02:30:00',
     '2024-03-31 02:30:00.000001', 0, 'ünï ✓', '', '[]',
     '123e4567-e89b-12d3-a456-426614174000', '::ffff:192.0.2.1', '192.0.2.1',
     ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1))'));

-- [fidelity: auto_increment above max] the counter stays at 14 after the top rows go
INSERT INTO all_types (id, c_varchar) VALUES (13, 'deleted'), (14, 'deleted too');
DELETE FROM all_types WHERE id IN (13, 14);

-- MyISAM rows
INSERT INTO legacy_notes (body) VALUES ('first note'), ('stored as latin1: café ÿ ½'), (''),
    ('full text searchable words'), ('duplicate'), ('duplicate');

-- [fidelity: auto_increment zero]
SET sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
INSERT INTO tags (id, name) VALUES (0, 'zero id');
"""
    + f"SET sql_mode = '{SQL_MODE}';\n"
    + r"""
INSERT INTO tags (name) VALUES ('auto 100'), ('auto 101'), ('Tag ✓'), ('tag with '' quote');

INSERT INTO products (id, sku, price, qty, attrs, description, secret_note)
SELECT seq, CONCAT('SKU-', LPAD(seq, 5, '0')), seq * 1.25, seq % 50,
       IF(seq % 3 = 0, NULL, JSON_OBJECT('colour', ELT(1 + seq % 4, 'red', 'green', 'blue', 'ünï'), 'n', seq)),
       IF(seq % 7 = 0, NULL, CONCAT('Product number ', seq, ' is a ', ELT(1 + seq % 3, 'widget', 'gadget', 'thing'))),
       IF(seq % 5 = 0, CONCAT('hidden ', seq), 'none')
FROM seq_1_to_200;

INSERT INTO places (id, name, location, area, notes)
SELECT seq, CONCAT('place ', seq), POINT(seq / 10, -seq / 7),
       IF(seq % 4 = 0, ST_GeomFromText(CONCAT('POLYGON((0 0, ', seq, ' 0, ', seq, ' ', seq, ', 0 0))')), NULL),
       IF(seq % 5 = 0, NULL, CONCAT('notes for ', seq))
FROM seq_1_to_40;

-- [fidelity: data circular fk] NOT NULL both ways: loadable only with checks off
SET FOREIGN_KEY_CHECKS = 0;
INSERT INTO departments (id, name, head_employee_id) VALUES (1, 'Engineering', 10), (2, 'Sales ✓', 20);
INSERT INTO employees (id, department_id, manager_id, name) VALUES
    (10, 1, NULL, 'Ada'), (11, 1, 10, 'Grace'), (12, 1, 11, 'Linus'),
    (20, 2, NULL, 'Zoë'), (21, 2, 20, 'O''Brien'), (22, 2, 21, 'Ünïcödé');
SET FOREIGN_KEY_CHECKS = 1;

-- [fidelity: fk cascade] customers and invoices; the triggers fill audit as rows load
INSERT INTO customers (id, email, name, referred_by, api_key, created_at)
SELECT seq, CONCAT('customer', seq, '@example.com'), CONCAT('Customer ', seq, IF(seq % 10 = 0, ' ✓', '')),
       IF(seq % 4 = 0, seq - 1, NULL), MD5(CONCAT('key', seq)),
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq HOUR + INTERVAL seq MICROSECOND
FROM seq_1_to_60;
UPDATE customers SET name = CONCAT(name, ' (renamed)'), updated_at = TIMESTAMP'2024-05-01 12:00:00.123456'
WHERE id % 6 = 0;
INSERT INTO invoices (customer_id, net, vat_rate, status, issued_on)
SELECT 1 + seq % 60, seq * 10.5, IF(seq % 3 = 0, 0.060, 0.210), ELT(1 + seq % 3, 'draft', 'sent', 'paid'),
       IF(seq % 9 = 0, NULL, DATE'2023-01-01' + INTERVAL seq DAY)
FROM seq_1_to_150;

INSERT INTO event_log (at, kind, payload) VALUES
    ('2024-01-01 00:00:00.000001', 'boot', '{"ok": true}'),
    ('2024-01-01 00:00:00.000001', 'boot', '{"ok": true}'),
    ('2024-01-01 00:00:00.000001', 'boot', '{"ok": true}'),
    ('2024-01-02 00:00:00', NULL, NULL),
    ('2024-01-02 00:00:00', '', '{}');

-- [fidelity: data large row] ~1 MB of text and ~1 MB of bytes in one row
INSERT INTO documents (id, title, body, blob_data) VALUES
    (1, 'all bytes', NULL, x'"""
    + ALL_BYTES_HEX
    + r"""'),
    (2, 'empty', '', ''),
    (3, 'large', REPEAT('0123456789abcdef ✓ Ünï\n', 45000), REPEAT(x'"""
    + ALL_BYTES_HEX
    + r"""', 4096));

-- [fidelity: data zero dates] only a mode without NO_ZERO_DATE/NO_ZERO_IN_DATE/strictness loads them
SET sql_mode = '';
INSERT INTO legacy_dates (id, d, dt, ts, partial) VALUES
    (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2024-00-15'),
    (2, '2024-02-00', '2024-01-01 00:00:00', '2024-01-01 00:00:00', '0000-01-01'),
    (3, '1999-12-31', '1999-12-31 23:59:59', '1999-12-31 23:59:59', NULL);
"""
    + f"SET sql_mode = '{SQL_MODE}';\n"
    + r"""
-- [fidelity: data partitions] 5000 rows over 3 ranges x 2 hash sub-partitions
INSERT INTO measurements (id, recorded_at, sensor, value)
SELECT seq, TIMESTAMP'2023-06-01 00:00:00' + INTERVAL seq * 14400 SECOND + INTERVAL seq MICROSECOND,
       ELT(1 + seq % 4, 'temp', 'humidity', 'dew', 'wind ✓'), IF(seq % 11 = 0, NULL, seq / 7e0)
FROM seq_1_to_5000;
INSERT INTO orders_by_region (id, region, amount)
SELECT seq, ELT(1 + seq % 5, 'eu', 'us', 'ca', 'apac', ''), seq * 3.33 FROM seq_1_to_300;
INSERT INTO sessions (user_id, token, started_at)
SELECT seq % 97, """
    + _uuid("CONCAT('session', seq)")
    + r""",
       TIMESTAMP'2024-06-01 00:00:00' + INTERVAL seq MINUTE
FROM seq_1_to_1000;
INSERT INTO settings_by_key (name, value)
SELECT CONCAT('setting.', seq), IF(seq % 2 = 0, NULL, REPEAT('v', seq)) FROM seq_1_to_50;

INSERT INTO `Odd ``Name`` ✓ Ünï` (`Spaced Col`, `quote``d`, `Ωmega`, `MixedCase`, `it's`) VALUES
    ('one', 1, 1.5, 'Mixed', 'yes'), (NULL, 2, NULL, NULL, NULL), (DEFAULT, 3, 0, '`back`ticks`', 'it''s');
UPDATE `Odd ``Name`` ✓ Ünï` SET `quote``d` = 30 WHERE `Id` = 3;
INSERT INTO `CaseTable` VALUES (1, 10, 100), (2, NULL, 200);
INSERT INTO `casetable` VALUES (1, 'lower'), (3, 'LOWER');
INSERT INTO `select` VALUES (1, '2024-01-01', 'here'), (2, NULL, 'there');
INSERT INTO `order` VALUES (1, 1, 'k', 'description', 1, 2), (2, 2, NULL, NULL, NULL, NULL);
"""
)

# Data mysqldump | mysql does not carry over (tests prove each): an engine that
# passes these is stricter than the reference.
BEYOND_MYSQLDUMP = (
    PRELUDE
    + r"""
-- FLOAT values that need 7-9 significant digits: the server prints FLOAT with
-- 6, so any dump reading the text form (mysqldump, PyMySQL's text protocol)
-- restores different floats. CAST(c AS DOUBLE) prints them exactly.
CREATE TABLE precise_floats (id INT PRIMARY KEY, f FLOAT NOT NULL) ENGINE=InnoDB;
INSERT INTO precise_floats VALUES (1, 1.0000001), (2, 16777215), (3, 0.1e0 + 0.2e0), (4, 3.4028234e38),
    (5, 1.4e-45), (6, 123456.789);

DELIMITER ;;
-- A plain `mysql` (without --comments) strips these comments from the body it
-- sends, so the restored routine's text differs.
CREATE PROCEDURE commented()
BEGIN
    -- a line comment
    SELECT 1; /* a block comment */
END;;
DELIMITER ;
"""
)

EXTRA_SCHEMA = (
    PRELUDE
    + r"""
-- MariaDB features beyond issue 4's list. mysqldump keeps them all with
-- --dump-history; history rows need system_versioning_insert_history (10.11+).
CREATE SEQUENCE invoice_numbers START WITH 1000 INCREMENT BY 7 MINVALUE 1000 MAXVALUE 999999 CACHE 10 CYCLE;
SELECT NEXTVAL(invoice_numbers), NEXTVAL(invoice_numbers);
CREATE SEQUENCE untouched_sequence;

CREATE TABLE price_history (
    id INT NOT NULL PRIMARY KEY,
    price DECIMAL(10,2) NOT NULL
) ENGINE=InnoDB WITH SYSTEM VERSIONING;
INSERT INTO price_history VALUES (1, 10.00), (2, 20.00);
UPDATE price_history SET price = 11.00 WHERE id = 1;
DELETE FROM price_history WHERE id = 2;

CREATE TABLE room_bookings (
    room INT NOT NULL,
    booked_from DATE NOT NULL,
    booked_until DATE NOT NULL,
    guest VARCHAR(50),
    PERIOD FOR stay (booked_from, booked_until),
    UNIQUE KEY room_bookings_no_overlap (room, stay WITHOUT OVERLAPS)
) ENGINE=InnoDB;
INSERT INTO room_bookings VALUES (1, '2024-01-01', '2024-01-05', 'Ada'), (1, '2024-01-05', '2024-01-09', 'Grace');

CREATE TABLE aria_cache (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=Aria TRANSACTIONAL=1 PAGE_CHECKSUM=1;
INSERT INTO aria_cache VALUES (1, 'one'), (2, NULL);

CREATE TABLE compressed_blobs (id INT PRIMARY KEY, b BLOB) ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8;
INSERT INTO compressed_blobs VALUES (1, REPEAT('compress me ', 1000)), (2, NULL);
"""
)


# --- Cloud Foundry-shaped -------------------------------------------------------

CF_LIKE_SCHEMA = (
    PRELUDE
    + r"""
-- ccdb (Cloud Controller), as on pxc-release MySQL: int ids, varchar guids, timestamps.
CREATE TABLE schema_migrations (
    filename VARCHAR(255) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE quota_definitions (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    name VARCHAR(255) NOT NULL,
    non_basic_services_allowed TINYINT(1) NOT NULL,
    total_services INT NOT NULL,
    memory_limit BIGINT NOT NULL,
    total_routes INT NOT NULL,
    instance_memory_limit INT NOT NULL DEFAULT -1,
    app_instance_limit INT DEFAULT -1,
    UNIQUE KEY qd_guid_index (guid),
    UNIQUE KEY qd_name_index (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE organizations (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    name VARCHAR(255) NOT NULL,
    billing_enabled TINYINT(1) NOT NULL DEFAULT 0,
    quota_definition_id INT NOT NULL,
    status VARCHAR(255) DEFAULT 'active',
    UNIQUE KEY organizations_guid_index (guid),
    UNIQUE KEY organizations_name_index (name),
    KEY organizations_created_at_index (created_at),
    CONSTRAINT fk_org_quota_definition_id FOREIGN KEY (quota_definition_id) REFERENCES quota_definitions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE spaces (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    name VARCHAR(255) NOT NULL,
    organization_id INT NOT NULL,
    allow_ssh TINYINT(1) DEFAULT 1,
    UNIQUE KEY spaces_guid_index (guid),
    UNIQUE KEY spaces_org_id_name_index (organization_id, name),
    CONSTRAINT fk_spaces_organization_id FOREIGN KEY (organization_id) REFERENCES organizations (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE apps (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    space_guid VARCHAR(255),
    name VARCHAR(255) COLLATE utf8mb4_bin,
    droplet_guid VARCHAR(255),
    desired_state VARCHAR(255) DEFAULT 'STOPPED',
    encrypted_environment_variables TEXT,
    salt VARCHAR(255),
    max_task_sequence_id INT DEFAULT 1,
    buildpack_cache_sha256_checksum VARCHAR(255),
    enable_ssh TINYINT(1),
    encryption_key_label VARCHAR(255),
    encryption_iterations INT NOT NULL DEFAULT 2048,
    UNIQUE KEY apps_v3_guid_index (guid),
    KEY apps_v3_space_guid_index (space_guid),
    KEY apps_v3_name_index (name),
    CONSTRAINT fk_apps_space_guid FOREIGN KEY (space_guid) REFERENCES spaces (guid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE processes (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    production TINYINT(1) DEFAULT 0,
    memory INT,
    instances INT DEFAULT 1,
    state VARCHAR(255) NOT NULL DEFAULT 'STOPPED',
    command TEXT,
    health_check_type VARCHAR(255) DEFAULT 'port',
    app_guid VARCHAR(255),
    type VARCHAR(255),
    ports TEXT,
    UNIQUE KEY apps_guid_index (guid),
    KEY apps_app_guid_index (app_guid),
    CONSTRAINT fk_processes_app_guid FOREIGN KEY (app_guid) REFERENCES apps (guid) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE events (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    `timestamp` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    type VARCHAR(255) NOT NULL,
    actor VARCHAR(255) NOT NULL,
    actor_type VARCHAR(255) NOT NULL,
    actee VARCHAR(255) NOT NULL,
    actee_type VARCHAR(255) NOT NULL,
    metadata MEDIUMTEXT,
    space_guid VARCHAR(255) NOT NULL DEFAULT '',
    organization_guid VARCHAR(255) NOT NULL DEFAULT '',
    UNIQUE KEY events_guid_index (guid),
    KEY events_timestamp_id_index (`timestamp`, id),
    KEY events_actee_index (actee)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE delayed_jobs (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    guid VARCHAR(255) NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NULL DEFAULT NULL,
    priority INT DEFAULT 0,
    attempts INT DEFAULT 0,
    handler LONGTEXT,
    last_error LONGTEXT,
    run_at TIMESTAMP NULL DEFAULT NULL,
    locked_at TIMESTAMP NULL DEFAULT NULL,
    failed_at TIMESTAMP NULL DEFAULT NULL,
    locked_by VARCHAR(255),
    queue VARCHAR(255),
    UNIQUE KEY delayed_jobs_guid_index (guid),
    KEY delayed_jobs_reserve (queue, locked_at, locked_by, failed_at, run_at, priority)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- uaadb (UAA)
CREATE TABLE identity_zone (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    lastmodified TIMESTAMP NULL DEFAULT NULL,
    version BIGINT DEFAULT 0,
    subdomain VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description VARCHAR(255),
    config LONGTEXT,
    active TINYINT(1) NOT NULL DEFAULT 1,
    UNIQUE KEY subdomain (subdomain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE users (
    id CHAR(36) NOT NULL PRIMARY KEY,
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    lastmodified TIMESTAMP NULL DEFAULT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    username VARCHAR(255) NOT NULL,
    password VARCHAR(255) NOT NULL,
    email VARCHAR(255) NOT NULL,
    authorities VARCHAR(1024) DEFAULT 'uaa.user',
    givenname VARCHAR(255),
    familyname VARCHAR(255),
    active TINYINT(1) NOT NULL DEFAULT 1,
    verified TINYINT(1) NOT NULL DEFAULT 0,
    origin VARCHAR(36) NOT NULL DEFAULT 'uaa',
    identity_zone_id VARCHAR(36) NOT NULL DEFAULT 'uaa',
    salt VARCHAR(36),
    passwd_lastmodified TIMESTAMP NULL DEFAULT NULL,
    last_logon_success_time BIGINT,
    passwd_change_required TINYINT(1) NOT NULL DEFAULT 0,
    UNIQUE KEY users_unique_key (username, origin, identity_zone_id),
    KEY user_identity_zone (identity_zone_id),
    CONSTRAINT fk_users_zone FOREIGN KEY (identity_zone_id) REFERENCES identity_zone (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE oauth_client_details (
    client_id VARCHAR(255) NOT NULL,
    resource_ids VARCHAR(1024) DEFAULT 'none',
    client_secret VARCHAR(256),
    scope VARCHAR(4096) DEFAULT 'uaa.none',
    authorized_grant_types VARCHAR(256) DEFAULT 'authorization_code,refresh_token',
    web_server_redirect_uri TEXT,
    authorities TEXT,
    access_token_validity INT,
    refresh_token_validity INT DEFAULT 0,
    additional_information TEXT,
    autoapprove VARCHAR(1024) DEFAULT NULL,
    identity_zone_id VARCHAR(36) NOT NULL DEFAULT 'uaa',
    lastmodified TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (client_id, identity_zone_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE `groups` (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    displayname VARCHAR(255) NOT NULL,
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    lastmodified TIMESTAMP NULL DEFAULT NULL,
    version INT NOT NULL DEFAULT 0,
    identity_zone_id VARCHAR(36) NOT NULL DEFAULT 'uaa',
    description VARCHAR(255),
    UNIQUE KEY groups_unique_key (displayname, identity_zone_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE group_membership (
    group_id VARCHAR(36) NOT NULL,
    member_id VARCHAR(36) NOT NULL,
    member_type VARCHAR(8) NOT NULL DEFAULT 'USER',
    added TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    origin VARCHAR(36) NOT NULL DEFAULT 'uaa',
    identity_zone_id VARCHAR(36),
    PRIMARY KEY (group_id, member_id),
    CONSTRAINT fk_group_membership_group FOREIGN KEY (group_id) REFERENCES `groups` (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- credhub: binary(16) uuids, encrypted values and nonces as varbinary/blob
CREATE TABLE encryption_key_canary (
    uuid BINARY(16) NOT NULL PRIMARY KEY,
    encrypted_canary_value VARBINARY(512),
    nonce VARBINARY(16),
    salt VARBINARY(64),
    encryption_key_hash VARCHAR(255)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE credential (
    uuid BINARY(16) NOT NULL PRIMARY KEY,
    name VARCHAR(1024) NOT NULL,
    checksum VARCHAR(64) NOT NULL,
    UNIQUE KEY credential_checksum (checksum)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE credential_version (
    uuid BINARY(16) NOT NULL PRIMARY KEY,
    credential_uuid BINARY(16) NOT NULL,
    encryption_key_uuid BINARY(16),
    encrypted_value BLOB,
    nonce VARBINARY(16),
    version_created_at BIGINT NOT NULL,
    type VARCHAR(31) NOT NULL,
    metadata TEXT,
    KEY credential_version_credential (credential_uuid, version_created_at),
    CONSTRAINT credential_version_credential_fk FOREIGN KEY (credential_uuid) REFERENCES credential (uuid)
        ON DELETE CASCADE,
    CONSTRAINT credential_version_key_fk FOREIGN KEY (encryption_key_uuid) REFERENCES encryption_key_canary (uuid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE permission (
    uuid BINARY(16) NOT NULL PRIMARY KEY,
    path VARCHAR(255) NOT NULL,
    actor VARCHAR(255) NOT NULL,
    read_permission TINYINT(1) NOT NULL DEFAULT 0,
    write_permission TINYINT(1) NOT NULL DEFAULT 0,
    delete_permission TINYINT(1) NOT NULL DEFAULT 0,
    read_acl_permission TINYINT(1) NOT NULL DEFAULT 0,
    write_acl_permission TINYINT(1) NOT NULL DEFAULT 0,
    UNIQUE KEY permission_path_actor (path, actor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
"""
)


def cf_like_data(rows: int = 2000) -> str:
    """SQL filling CF_LIKE_SCHEMA: ``rows`` apps and proportional everything else.

    Generated server-side from MariaDB's SEQUENCE engine; deterministic
    (guids are MD5-derived UUIDs, times derived from the row number), so two
    loads with the same ``rows`` hold the same data.
    """
    n = max(int(rows), 10)
    orgs, spaces, users = max(n // 100, 2), max(n // 10, 4), max(n // 4, 4)

    def uuid(prefix: str, number: str = "seq") -> str:
        return _uuid(f"CONCAT('{prefix}', {number})")

    def binary_uuid(prefix: str, number: str = "seq") -> str:
        return f"UNHEX(MD5(CONCAT('{prefix}', {number})))"

    return (
        PRELUDE
        + f"""
INSERT INTO schema_migrations
SELECT CONCAT('20', LPAD(seq, 10, '0'), '_migration_', seq, '.rb') FROM seq_1_to_300;
INSERT INTO quota_definitions (guid, created_at, name, non_basic_services_allowed, total_services, memory_limit,
                               total_routes, instance_memory_limit, app_instance_limit)
SELECT {uuid("quota")}, TIMESTAMP'2018-01-01 00:00:00' + INTERVAL seq DAY,
       IF(seq = 1, 'default', CONCAT('quota-', seq)), seq % 2 = 0, 100 * seq, 10240 * seq, 1000, -1,
       IF(seq % 2 = 0, NULL, -1)
FROM seq_1_to_5;
INSERT INTO organizations (guid, created_at, updated_at, name, billing_enabled, quota_definition_id, status)
SELECT {uuid("org")}, TIMESTAMP'2018-02-01 00:00:00' + INTERVAL seq HOUR,
       IF(seq % 3 = 0, TIMESTAMP'2023-02-01 00:00:00' + INTERVAL seq MINUTE, NULL),
       CONCAT('org-', seq), seq % 10 = 0, 1 + seq % 5, IF(seq % 17 = 0, 'suspended', 'active')
FROM seq_1_to_{orgs};
INSERT INTO spaces (guid, created_at, name, organization_id, allow_ssh)
SELECT {uuid("space")}, TIMESTAMP'2018-03-01 00:00:00' + INTERVAL seq MINUTE, CONCAT('space-', seq),
       1 + seq % {orgs}, seq % 4 <> 0
FROM seq_1_to_{spaces};
INSERT INTO apps (guid, created_at, updated_at, space_guid, name, droplet_guid, desired_state,
                  encrypted_environment_variables, salt, enable_ssh, encryption_key_label)
SELECT {uuid("app")}, TIMESTAMP'2019-01-01 00:00:00' + INTERVAL seq MINUTE,
       TIMESTAMP'2023-01-01 00:00:00' + INTERVAL seq SECOND, {uuid("space", f"1 + seq % {spaces}")},
       CONCAT('app-', seq), {uuid("droplet")}, IF(seq % 10 = 0, 'STOPPED', 'STARTED'),
       TO_BASE64(UNHEX(SHA2(CONCAT('env', seq), 256))), LEFT(MD5(CONCAT('salt', seq)), 8),
       ELT(1 + seq % 3, NULL, TRUE, FALSE), 'key-2023'
FROM seq_1_to_{n};
INSERT INTO processes (guid, created_at, production, memory, instances, state, command, health_check_type,
                       app_guid, type, ports)
SELECT {uuid("process")}, TIMESTAMP'2019-01-01 00:00:00' + INTERVAL seq MINUTE, FALSE,
       IF(seq % 2 = 0, 1024, 256), 1 + seq % 4, 'STARTED',
       IF(seq % 5 = 0, CONCAT('bundle exec rake jobs:work\\n--queue=app_', seq), NULL),
       ELT(1 + seq % 3, 'port', 'http', 'process'), {uuid("app", f"1 + (seq - 1) % {n}")},
       IF(seq <= {n}, 'web', 'worker'), IF(seq % 7 = 0, '8080,9090', NULL)
FROM seq_1_to_{n + n // 5};
INSERT INTO events (guid, created_at, `timestamp`, type, actor, actor_type, actee, actee_type, metadata,
                    space_guid, organization_guid)
SELECT {uuid("event")}, TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq MINUTE,
       TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND,
       ELT(1 + seq % 4, 'audit.app.update', 'audit.app.start', 'audit.app.stop', 'app.crash'),
       {uuid("user", f"1 + seq % {users}")}, 'user', {uuid("app", f"1 + seq % {n}")}, 'app',
       JSON_OBJECT('request', JSON_OBJECT('instances', seq % 4, 'note', 'line\\none ✓')),
       {uuid("space", f"1 + seq % {spaces}")}, {uuid("org", f"1 + seq % {orgs}")}
FROM seq_1_to_{2 * n};
INSERT INTO delayed_jobs (created_at, guid, priority, attempts, handler, run_at, failed_at, queue)
SELECT TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq MINUTE, {uuid("job")}, seq % 3, seq % 2,
       CONCAT('--- !ruby/object:VCAP::CloudController::Jobs::Runtime::BlobstoreDelete\\nkey: ', seq),
       TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq MINUTE,
       IF(seq % 7 = 0, TIMESTAMP'2024-02-01 00:00:00', NULL), 'cc-generic'
FROM seq_1_to_{max(n // 10, 1)};

INSERT INTO identity_zone (id, created, lastmodified, subdomain, name, description) VALUES
    ('uaa', '2018-01-01 00:00:00', '2018-01-01 00:00:00', '', 'uaa', 'The system zone for backwards compatibility'),
    ('zone-1', '2019-01-01 00:00:00', '2020-01-01 00:00:00', 'zone1', 'Zone 1', NULL);
INSERT INTO users (id, created, lastmodified, username, password, email, givenname, familyname, verified,
                   identity_zone_id, passwd_lastmodified, last_logon_success_time)
SELECT {uuid("user")}, TIMESTAMP'2018-04-01 00:00:00' + INTERVAL seq MINUTE,
       TIMESTAMP'2018-04-01 00:00:00' + INTERVAL 2 * seq MINUTE,
       CONCAT('user', seq, IF(seq % 9 = 0, '@Example.com', '')),
       CONCAT('$2a$10$', LEFT(CONCAT(MD5(CONCAT('pw', seq)), MD5(CONCAT('pw2', seq))), 53)),
       CONCAT('user', seq, '@example.com'), IF(seq % 4 <> 0, CONCAT('Given', seq), NULL),
       IF(seq % 6 <> 0, CONCAT('Family ', seq), NULL), seq % 2 = 0, IF(seq % 50 = 0, 'zone-1', 'uaa'),
       TIMESTAMP'2018-04-01 00:00:00' + INTERVAL 3 * seq MINUTE, IF(seq % 3 = 0, 1700000000000 + seq, NULL)
FROM seq_1_to_{users};
INSERT INTO oauth_client_details (client_id, client_secret, scope, authorized_grant_types,
                                  web_server_redirect_uri, access_token_validity, additional_information,
                                  autoapprove, lastmodified)
SELECT ELT(LEAST(seq, 3), 'cf', 'cloud_controller', CONCAT('client-', seq)),
       IF(seq = 1, '', CONCAT('$2a$10$', MD5(CONCAT('secret', seq)))),
       'cloud_controller.read,cloud_controller.write,openid', 'password,refresh_token',
       IF(seq % 2 = 0, CONCAT('https://app', seq, '.example.com/**'), NULL), 600 + seq,
       CONCAT('{{"name":"client ', seq, '"}}'), IF(seq % 3 = 0, 'true', NULL),
       TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq DAY
FROM seq_1_to_20;
INSERT INTO `groups` (id, displayname, created, lastmodified)
SELECT {uuid("group")}, ELT(seq, 'openid', 'scim.me', 'cloud_controller.read', 'cloud_controller.write',
       'password.write', 'uaa.user', 'approvals.me', 'oauth.approvals', 'profile', 'roles'),
       '2018-01-01 00:00:00', '2018-01-01 00:00:00'
FROM seq_1_to_10;
INSERT INTO group_membership (group_id, member_id, added)
SELECT {uuid("group", "g.seq")}, {uuid("user", "u.seq")}, TIMESTAMP'2018-05-01 00:00:00' + INTERVAL u.seq SECOND
FROM seq_1_to_10 AS g JOIN seq_1_to_{users} AS u ON (u.seq + g.seq) % 3 = 0;

INSERT INTO encryption_key_canary (uuid, encrypted_canary_value, nonce, salt, encryption_key_hash)
SELECT {binary_uuid("canary")}, UNHEX(SHA2(CONCAT('canary', seq), 512)), UNHEX(LEFT(MD5(CONCAT('n', seq)), 24)),
       UNHEX(SHA2(CONCAT('salt', seq), 512)), SHA2(CONCAT('hash', seq), 256)
FROM seq_1_to_3;
INSERT INTO credential (uuid, name, checksum)
SELECT {binary_uuid("credential")},
       CONCAT('/cf/deployment-', seq % 20, '/credential_', seq, IF(seq % 13 = 0, '_✓', '')),
       SHA2(CONCAT('credential', seq), 256)
FROM seq_1_to_{n};
INSERT INTO credential_version (uuid, credential_uuid, encryption_key_uuid, encrypted_value, nonce,
                                version_created_at, type, metadata)
SELECT {binary_uuid("version")}, {binary_uuid("credential", f"1 + (seq - 1) % {n}")},
       {binary_uuid("canary", "1 + seq % 3")},
       UNHEX(CONCAT(SHA2(CONCAT('secret', seq), 512), IF(seq % 2 = 0, SHA2(CONCAT('more', seq), 512), ''))),
       UNHEX(LEFT(MD5(CONCAT('nonce', seq)), 24)), 1600000000000 + seq * 1000,
       ELT(1 + seq % 5, 'password', 'value', 'json', 'certificate', 'ssh'),
       IF(seq % 4 = 0, JSON_OBJECT('description', CONCAT('rotated ', seq)), NULL)
FROM seq_1_to_{2 * n};
INSERT INTO permission (uuid, path, actor, read_permission, write_permission, delete_permission)
SELECT {binary_uuid("permission")}, CONCAT('/cf/deployment-', seq % 20, '/*'), CONCAT('uaa-client:client-', seq),
       TRUE, seq % 2 = 0, seq % 5 = 0
FROM seq_1_to_{max(n // 20, 1)};
"""
    )


def load_rich(db: MysqlTarget, *, extra: bool = False) -> None:
    """RICH_SCHEMA + RICH_DATA (and EXTRA_SCHEMA if asked) through the mysql client."""
    mysql_restore(RICH_SCHEMA + RICH_DATA + (EXTRA_SCHEMA if extra else ""), db)


def load_cf_like(db: MysqlTarget, rows: int = 2000) -> None:
    """CF_LIKE_SCHEMA + cf_like_data(rows) through the mysql client."""
    mysql_restore(CF_LIKE_SCHEMA + cf_like_data(rows), db)
