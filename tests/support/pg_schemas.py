"""PostgreSQL databases worth backing up: SQL that builds them, for round-trip tests.

- ``RICH_SCHEMA`` + ``RICH_DATA``: every item of issue 3's fidelity list
  (each item is tagged ``-- [fidelity: ...]`` in the SQL; ``FIDELITY_ITEMS``
  lists the tags and a test checks each one appears).
- ``EXTRA_SCHEMA``: things beyond the issue's list that real databases
  still hold: old-style inheritance, a NOT VALID check that existing rows
  violate, an unlogged table with storage parameters, column STORAGE and
  STATISTICS, REPLICA IDENTITY FULL, CLUSTER ON, row-level security with a
  policy, a rule, a disabled trigger, a constraint trigger, a custom ICU
  nondeterministic collation, a custom range type, extended statistics, a
  user-defined aggregate, an unpopulated (WITH NO DATA) materialized view.
  Load it after RICH_SCHEMA + RICH_DATA; optional for the engine, but
  pg_dump keeps it all (tested).
- ``CF_LIKE_SCHEMA`` + ``cf_like_data(rows)``: shaped like Cloud Foundry's
  ccdb (public) and uaadb (schema ``uaa``), data generated server-side.

All SQL is written for ``psql -v ON_ERROR_STOP=1`` in autocommit mode (one
statement per transaction unless BEGIN/COMMIT say otherwise): ``ALTER TYPE
... ADD VALUE`` must commit before the new label is used. Load with
``load_rich(db)`` / ``load_cf_like(db)`` or ``pg_oracle.psql_restore``.
Everything inside function bodies is schema-qualified: pg_dump restores
with ``search_path = ''`` and refreshes materialized views under it.

Extensions used (all contrib, all in PostgreSQL 15's postgresql-contrib):
pgcrypto, "uuid-ossp", btree_gist, pg_trgm (schema public); citext, hstore
(schema ``ext``, to prove non-public extension schemas survive).
"""

from __future__ import annotations

from tests.support.pg_oracle import PgTarget, psql_restore

EXTENSIONS = ("pgcrypto", "uuid-ossp", "btree_gist", "pg_trgm", "citext", "hstore")

# The odd identifiers, spelled once (SQL-quoted form).
ODD_SCHEMA = '"Ünïcode ""Sch""ema"'
ODD_TABLE = f'{ODD_SCHEMA}."Mixed Case ""Table"" ✓"'

FIDELITY_ITEMS = (
    "schemas",
    "extensions",
    "enum",
    "domain",
    "composite",
    "sequence options",
    "sequence values",
    "is_called false",
    "column types",
    "collations",
    "defaults",
    "not null",
    "check",
    "identity always",
    "identity by default",
    "generated stored",
    "no primary key",
    "partition range",
    "partition list",
    "partition hash",
    "default partition",
    "sub-partition",
    "primary key",
    "unique",
    "foreign key",
    "on delete cascade",
    "deferrable",
    "self-referencing fk",
    "circular fk",
    "exclusion",
    "index partial",
    "index expression",
    "index unique",
    "index multi-column",
    "index include",
    "index desc nulls first",
    "index gin",
    "index gist",
    "index brin",
    "index hash",
    "view",
    "view on view",
    "materialized view",
    "sql function",
    "plpgsql function",
    "procedure",
    "trigger before row",
    "trigger after statement",
    "trigger when",
    "trigger partitioned",
    "comments",
    "odd identifiers",
    "reserved words",
    "data null vs empty",
    "data backslash",
    "data control chars",
    "data backslash-N",
    "data unicode",
    "data bytea",
    "data arrays",
    "data jsonb",
    "data numeric nan",
    "data float specials",
    "data infinity timestamps",
    "data large row",
    "data partitions",
    "data circular fk",
)


RICH_SCHEMA = r"""
-- [fidelity: schemas] ---------------------------------------------------------
CREATE SCHEMA app;
CREATE SCHEMA ext;
CREATE SCHEMA "Ünïcode ""Sch""ema";

-- [fidelity: extensions] (citext and hstore outside public on purpose) ---------
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA ext;
CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA ext;

-- [fidelity: enum] a label added later, in the middle, and odd labels ------------
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy', 'it''s "complicated"', 'ünï ✓');
ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok';

-- [fidelity: domain] with DEFAULT, NOT NULL, named CHECKs; a domain over an extension type
CREATE DOMAIN app.positive_amount AS numeric(14,2) DEFAULT 0 NOT NULL
    CONSTRAINT positive_amount_check CHECK (VALUE >= 0);
CREATE DOMAIN app.email AS ext.citext
    CONSTRAINT email_has_at CHECK (VALUE ~ '^[^@\s]+@[^@\s]+$');
CREATE DOMAIN app.short_code AS varchar(8) COLLATE "C" DEFAULT 'XX'
    CHECK (VALUE ~ '^[A-Z]+$') CHECK (length(VALUE) >= 2);

-- [fidelity: composite] -----------------------------------------------------------
CREATE TYPE app.address AS (street text, city text COLLATE "C", zip varchar(10), geo point);

-- [fidelity: sequence options] ------------------------------------------------------
CREATE SEQUENCE app.invoice_no AS integer INCREMENT BY 7 MINVALUE 100 MAXVALUE 1000000 START WITH 142 CACHE 5 CYCLE;
CREATE SEQUENCE app.countdown INCREMENT BY -3 MINVALUE -1000 MAXVALUE 50 START WITH 50 NO CYCLE;
CREATE SEQUENCE app.untouched;
CREATE SEQUENCE app.reset_later AS bigint START WITH 10 MAXVALUE 9223372036854775807;
CREATE SEQUENCE app.small_steps AS smallint INCREMENT BY 2 MINVALUE -32768 START WITH -32768;

-- [fidelity: sql function] [fidelity: plpgsql function] --------------------------
CREATE FUNCTION app.gross(net numeric, rate numeric DEFAULT 0.21) RETURNS numeric
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT round(net * (1 + rate), 2) $$;

-- SQL-standard body (PG 14+): dependencies on the table are recorded.
CREATE FUNCTION app.label(n text) RETURNS text
    LANGUAGE sql IMMUTABLE
    BEGIN ATOMIC
        SELECT upper(left(n, 1)) || substr(n, 2);
    END;

-- Overloads: pg_dump must keep both and order them stably.
CREATE FUNCTION app.describe(v integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'int ' || v $$;
CREATE FUNCTION app.describe(v text, VARIADIC more text[] DEFAULT '{}') RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'text ' || v || array_to_string(more, ',') $$;

CREATE FUNCTION app.bump_revision() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $fn$
BEGIN
    -- Not idempotent on purpose: a restore that fires this trigger while
    -- loading data changes every revision, and the data oracle sees it.
    NEW.revision := NEW.revision + 1;
    RETURN NEW;
END
$fn$;

CREATE FUNCTION app.audit_statement() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    AS $fn$
BEGIN
    INSERT INTO app.audit (what) VALUES (format('%s %s on %s', TG_WHEN, TG_OP, TG_TABLE_NAME));
    RETURN NULL;
END
$fn$;

CREATE FUNCTION app.audit_new_rows() RETURNS trigger
    LANGUAGE plpgsql
    AS $fn$
BEGIN
    INSERT INTO app.audit (what) SELECT format('%s rows into %s', count(*), TG_TABLE_NAME) FROM new_rows;
    RETURN NULL;
END
$fn$;

CREATE FUNCTION app.audit_row() RETURNS trigger
    LANGUAGE plpgsql COST 50
    AS $fn$
BEGIN
    INSERT INTO app.audit (what) VALUES (format('%s row %s on %s', TG_OP, to_jsonb(NEW) ->> 'id', TG_TABLE_NAME));
    RETURN NEW;
END
$fn$;

-- [fidelity: procedure] -------------------------------------------------------------
CREATE PROCEDURE app.move_money(from_id bigint, to_id bigint, amount numeric)
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE app.invoices SET net = net - amount WHERE customer_id = from_id;
    UPDATE app.invoices SET net = net + amount WHERE customer_id = to_id;
END
$$;

-- [fidelity: column types] [fidelity: collations] [fidelity: identity by default] --
CREATE TABLE app.all_types (
    id bigint GENERATED BY DEFAULT AS IDENTITY (START WITH 10 INCREMENT BY 10) PRIMARY KEY,
    c_smallint smallint,
    c_integer integer,
    c_bigint bigint,
    c_numeric numeric,
    c_numeric_ps numeric(12,4),
    c_real real,
    c_double double precision,
    c_money money,
    c_char char(5),
    c_varchar varchar(40),
    c_text text,
    c_text_c text COLLATE "C",
    c_text_posix text COLLATE "POSIX",
    c_text_icu text COLLATE "und-x-icu",
    c_citext ext.citext,
    c_bytea bytea,
    c_bool boolean,
    c_date date,
    c_time time,
    c_timetz time with time zone,
    c_timestamp timestamp,
    c_timestamp3 timestamp(3) without time zone,
    c_timestamptz timestamptz,
    c_interval interval,
    c_interval_ds interval day to second(3),
    c_uuid uuid,
    c_inet inet,
    c_cidr cidr,
    c_macaddr macaddr,
    c_macaddr8 macaddr8,
    c_bit bit(8),
    c_varbit bit varying(16),
    c_json json,
    c_jsonb jsonb,
    c_jsonpath jsonpath,
    c_xml xml,
    c_tsvector tsvector,
    c_tsquery tsquery,
    c_int_array integer[],
    c_text_array text[],
    c_int_matrix integer[][],
    c_int4range int4range,
    c_numrange numrange,
    c_tstzrange tstzrange,
    c_datemultirange datemultirange,
    c_point point,
    c_line line,
    c_lseg lseg,
    c_box box,
    c_path path,
    c_polygon polygon,
    c_circle circle,
    c_hstore ext.hstore,
    c_mood app.mood,
    c_amount app.positive_amount,
    c_code app.short_code,
    c_address app.address,
    c_addresses app.address[],
    c_pg_lsn pg_lsn,
    c_char1 "char"
);

-- [fidelity: defaults] [fidelity: not null] [fidelity: check] ----------------------
CREATE TABLE app.customers (
    id bigserial PRIMARY KEY,
    email app.email NOT NULL,
    name text NOT NULL CHECK (name <> ''),
    mood app.mood NOT NULL DEFAULT 'ok',
    referred_by bigint,
    tags text[] NOT NULL DEFAULT '{}',
    profile jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision integer NOT NULL DEFAULT 0,
    api_key text NOT NULL DEFAULT encode(gen_random_bytes(6), 'hex'),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_email_key UNIQUE (email),
    CONSTRAINT customers_not_self_referred CHECK (referred_by IS DISTINCT FROM id)
);

-- A SQL function whose body needs the table: created after it.
CREATE FUNCTION app.customers_in(p_mood app.mood, OUT id bigint, OUT name text) RETURNS SETOF record
    LANGUAGE sql STABLE AS $$ SELECT c.id, c.name FROM app.customers c WHERE c.mood = p_mood $$;

-- [fidelity: identity always] [fidelity: generated stored] --------------------------
CREATE TABLE app.invoices (
    id integer GENERATED ALWAYS AS IDENTITY (START WITH 1000 INCREMENT BY 5 MINVALUE 1000 MAXVALUE 2000000 CACHE 3)
        PRIMARY KEY,
    invoice_no integer NOT NULL DEFAULT nextval('app.invoice_no') UNIQUE,
    customer_id bigint NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now(),
    due_on date DEFAULT (CURRENT_DATE + 30),
    net numeric(12,2) NOT NULL CHECK (net >= 0),
    vat_rate numeric(4,3) NOT NULL DEFAULT 0.21,
    gross numeric(12,2) GENERATED ALWAYS AS (app.gross(net, vat_rate)) STORED,
    reference text NOT NULL DEFAULT ('INV-' || lpad((floor(random() * 10000))::int::text, 4, '0')),
    status app.mood DEFAULT 'ok'::app.mood,
    paid boolean,
    CONSTRAINT invoices_dates_check CHECK (due_on IS NULL OR due_on > '2000-01-01'::date)
);
ALTER SEQUENCE app.invoice_no OWNED BY app.invoices.invoice_no;

-- [fidelity: no primary key] duplicates rows on purpose -----------------------------
CREATE TABLE app.event_log (
    at timestamptz NOT NULL,
    kind text,
    payload jsonb
);

CREATE TABLE app.audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    what text NOT NULL
);

CREATE TABLE app.documents (
    id integer PRIMARY KEY,
    title text NOT NULL,
    body text,
    blob bytea
);

-- [fidelity: circular fk] [fidelity: self-referencing fk] [fidelity: deferrable] ---
CREATE TABLE app.departments (
    id integer PRIMARY KEY,
    name text NOT NULL UNIQUE,
    head_employee_id integer NOT NULL
);
CREATE TABLE app.employees (
    id integer PRIMARY KEY,
    department_id integer NOT NULL,
    manager_id integer REFERENCES app.employees (id) ON DELETE SET NULL,
    name text NOT NULL
);
ALTER TABLE app.departments ADD CONSTRAINT departments_head_fk
    FOREIGN KEY (head_employee_id) REFERENCES app.employees (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE app.employees ADD CONSTRAINT employees_department_fk
    FOREIGN KEY (department_id) REFERENCES app.departments (id) DEFERRABLE INITIALLY DEFERRED;

-- [fidelity: primary key] [fidelity: unique] (inline, named, NULLS NOT DISTINCT; see tables above)
-- [fidelity: foreign key] [fidelity: on delete cascade] [fidelity: self-referencing fk]
ALTER TABLE app.customers ADD CONSTRAINT customers_referred_by_fkey
    FOREIGN KEY (referred_by) REFERENCES app.customers (id) ON DELETE SET NULL;
ALTER TABLE app.invoices ADD CONSTRAINT invoices_customer_fk
    FOREIGN KEY (customer_id) REFERENCES app.customers (id) ON DELETE CASCADE ON UPDATE CASCADE;

-- [fidelity: exclusion] with a WHERE clause, on btree_gist + range ------------------
CREATE TABLE app.room_bookings (
    id integer PRIMARY KEY,
    room integer NOT NULL,
    during tstzrange NOT NULL,
    cancelled boolean NOT NULL DEFAULT false,
    CONSTRAINT room_bookings_no_overlap EXCLUDE USING gist (room WITH =, during WITH &&) WHERE (NOT cancelled)
);

-- [fidelity: partition range] [fidelity: sub-partition] [fidelity: default partition]
CREATE TABLE app.measurements (
    id bigint NOT NULL,
    recorded_at timestamptz NOT NULL,
    sensor_kind text NOT NULL,
    value double precision,
    PRIMARY KEY (id, recorded_at, sensor_kind)
) PARTITION BY RANGE (recorded_at);
CREATE TABLE app.measurements_2023 PARTITION OF app.measurements
    FOR VALUES FROM ('2023-01-01 00:00+00') TO ('2024-01-01 00:00+00');
CREATE TABLE app.measurements_2024 PARTITION OF app.measurements
    FOR VALUES FROM ('2024-01-01 00:00+00') TO ('2025-01-01 00:00+00')
    PARTITION BY LIST (sensor_kind);
CREATE TABLE app.measurements_2024_temp PARTITION OF app.measurements_2024 FOR VALUES IN ('temp');
CREATE TABLE app.measurements_2024_humidity PARTITION OF app.measurements_2024 FOR VALUES IN ('humidity', 'dew');
CREATE TABLE app.measurements_2024_other PARTITION OF app.measurements_2024 DEFAULT;
CREATE TABLE app.measurements_other PARTITION OF app.measurements DEFAULT;
CREATE INDEX measurements_sensor_time_idx ON app.measurements (sensor_kind, recorded_at DESC);
CREATE INDEX measurements_2023_value_idx ON app.measurements_2023 (value);

-- [fidelity: partition list] with a trigger and an FK referencing it ------------
CREATE TABLE app.orders_by_region (
    id bigint NOT NULL,
    region text NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now(),
    amount numeric(10,2) NOT NULL CHECK (amount > 0),
    PRIMARY KEY (id, region)
) PARTITION BY LIST (region);
CREATE TABLE app.orders_eu PARTITION OF app.orders_by_region FOR VALUES IN ('eu');
CREATE TABLE app.orders_us PARTITION OF app.orders_by_region FOR VALUES IN ('us');
CREATE TABLE app.orders_apac PARTITION OF app.orders_by_region FOR VALUES IN ('apac', 'oceania');
CREATE TABLE app.orders_default PARTITION OF app.orders_by_region DEFAULT;
CREATE TABLE app.order_lines (
    order_id bigint NOT NULL,
    region text NOT NULL,
    line integer NOT NULL,
    sku text NOT NULL,
    PRIMARY KEY (order_id, region, line),
    FOREIGN KEY (order_id, region) REFERENCES app.orders_by_region (id, region) ON DELETE CASCADE
);

-- [fidelity: partition hash] -----------------------------------------------------
CREATE TABLE app.sessions (
    user_id integer NOT NULL,
    token uuid NOT NULL DEFAULT uuid_generate_v4(),
    started_at timestamptz NOT NULL
) PARTITION BY HASH (user_id);
CREATE TABLE app.sessions_0 PARTITION OF app.sessions FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE app.sessions_1 PARTITION OF app.sessions FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE app.sessions_2 PARTITION OF app.sessions FOR VALUES WITH (MODULUS 3, REMAINDER 2);

-- [fidelity: odd identifiers] capitals, spaces, quotes, unicode everywhere --------
CREATE TABLE "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓" (
    "Id" integer GENERATED ALWAYS AS IDENTITY,
    "Spaced Col" text COLLATE "C" DEFAULT 'a "quoted" default',
    "quote""d" integer,
    "Ωmega" numeric,
    "émoji 🎉" text,
    "customerId" bigint REFERENCES app.customers (id),
    CONSTRAINT "pk Mixed ""Table"" ✓" PRIMARY KEY ("Id"),
    CONSTRAINT "chk Ünïcode ""≥ 0"" ✓" CHECK ("Ωmega" >= 0),
    CONSTRAINT "uq Spaced" UNIQUE NULLS NOT DISTINCT ("Spaced Col", "quote""d")
);
CREATE INDEX "idx ""Ωmega"" désc" ON "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓" ("Ωmega" DESC NULLS LAST);

-- [fidelity: reserved words] ------------------------------------------------------
CREATE TABLE public."user" (
    id integer PRIMARY KEY,
    "name" text NOT NULL,
    "table" text,
    "select" boolean DEFAULT true
);
CREATE TABLE public."order" (
    id integer PRIMARY KEY,
    "user" integer NOT NULL REFERENCES public."user" (id),
    "from" date NOT NULL,
    "group" text,
    "limit" integer CHECK ("limit" > 0)
);
CREATE INDEX "order_from_group_idx" ON public."order" ("from", "group");

-- [fidelity: index partial] [fidelity: index expression] [fidelity: index unique] ----
CREATE INDEX invoices_unpaid_idx ON app.invoices (issued_at) WHERE paid IS NOT TRUE AND status <> 'happy';
CREATE INDEX customers_lower_name_idx ON app.customers (lower(name));
CREATE UNIQUE INDEX customers_external_id_uidx ON app.customers ((profile ->> 'external_id'))
    WHERE profile ? 'external_id';
-- [fidelity: index multi-column] [fidelity: index include] [fidelity: index desc nulls first]
CREATE INDEX invoices_customer_issued_idx ON app.invoices (customer_id, issued_at DESC);
CREATE INDEX invoices_customer_covering_idx ON app.invoices (customer_id) INCLUDE (net, status);
CREATE INDEX invoices_due_nulls_first_idx ON app.invoices (due_on DESC NULLS FIRST, id ASC NULLS LAST)
    WITH (fillfactor = 70);
CREATE INDEX all_types_text_pattern_idx ON app.all_types (c_text COLLATE "C" text_pattern_ops);
-- [fidelity: index gin] [fidelity: index gist] [fidelity: index brin] [fidelity: index hash]
CREATE INDEX customers_profile_gin ON app.customers USING gin (profile jsonb_path_ops);
CREATE INDEX customers_tags_gin ON app.customers USING gin (tags);
CREATE INDEX customers_name_trgm ON app.customers USING gin (name gin_trgm_ops);
CREATE INDEX all_types_box_gist ON app.all_types USING gist (c_box);
CREATE INDEX all_types_hstore_gist ON app.all_types USING gist (c_hstore);
CREATE INDEX event_log_at_brin ON app.event_log USING brin (at) WITH (pages_per_range = 16);
CREATE INDEX invoices_reference_hash ON app.invoices USING hash (reference);

-- [fidelity: view] [fidelity: view on view] (dependency order) ---------------------
CREATE VIEW app.customer_totals AS
    SELECT c.id AS customer_id, app.label(c.name) AS name, count(i.id) AS invoices, coalesce(sum(i.gross), 0) AS gross
    FROM app.customers c LEFT JOIN app.invoices i ON i.customer_id = c.id
    GROUP BY c.id, c.name;
CREATE VIEW app.top_customers (customer_id, name, gross) AS
    SELECT customer_id, name, gross FROM app.customer_totals WHERE gross > 100 ORDER BY gross DESC;
CREATE VIEW app.happy_customers WITH (security_barrier) AS
    SELECT id, name, mood FROM app.customers WHERE mood = 'happy'
    WITH CASCADED CHECK OPTION;

-- [fidelity: materialized view] on a view, with data and indexes ---------------------
CREATE MATERIALIZED VIEW app.revenue_by_mood AS
    SELECT c.mood, count(*) AS customers, sum(t.gross) AS gross
    FROM app.customer_totals t JOIN app.customers c ON c.id = t.customer_id
    GROUP BY c.mood
WITH DATA;
CREATE UNIQUE INDEX revenue_by_mood_mood_idx ON app.revenue_by_mood (mood);
CREATE INDEX revenue_by_mood_gross_idx ON app.revenue_by_mood (gross DESC);

-- [fidelity: trigger before row] [fidelity: trigger after statement] [fidelity: trigger when]
CREATE TRIGGER customers_bump_revision BEFORE INSERT OR UPDATE ON app.customers
    FOR EACH ROW EXECUTE FUNCTION app.bump_revision();
CREATE TRIGGER invoices_audit_statement AFTER INSERT OR DELETE ON app.invoices
    FOR EACH STATEMENT EXECUTE FUNCTION app.audit_statement();
CREATE TRIGGER invoices_audit_new_rows AFTER INSERT ON app.invoices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION app.audit_new_rows();
CREATE TRIGGER invoices_net_changed AFTER UPDATE OF net ON app.invoices
    FOR EACH ROW WHEN (OLD.net IS DISTINCT FROM NEW.net) EXECUTE FUNCTION app.audit_row();
-- [fidelity: trigger partitioned] cloned onto every partition by PostgreSQL --------
CREATE TRIGGER orders_audit_row AFTER INSERT ON app.orders_by_region
    FOR EACH ROW EXECUTE FUNCTION app.audit_row();
CREATE TRIGGER "Odd ""Trigger"" ✓" BEFORE UPDATE ON "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓"
    FOR EACH ROW WHEN (NEW."Ωmega" IS NOT NULL) EXECUTE FUNCTION app.audit_row();

-- [fidelity: comments] on schema, table, column, view, materialized view, sequence,
-- function, procedure, type, domain, index, constraint (table and domain), trigger
COMMENT ON SCHEMA app IS 'Application schema: comments survive, even ''quoted'' ones ✓';
COMMENT ON SCHEMA "Ünïcode ""Sch""ema" IS 'Capitals, a space, quotes and unicode in a schema name';
COMMENT ON TABLE app.customers IS E'Customers.\nSecond line with a tab\there.';
COMMENT ON COLUMN app.customers.revision IS 'Bumped by trigger customers_bump_revision';
COMMENT ON COLUMN "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓"."Ωmega" IS 'Ω ≥ 0 — enforced';
COMMENT ON VIEW app.top_customers IS 'A view on a view';
COMMENT ON MATERIALIZED VIEW app.revenue_by_mood IS 'Refreshed after data load';
COMMENT ON SEQUENCE app.invoice_no IS 'Cycles; owned by invoices.invoice_no';
COMMENT ON FUNCTION app.gross(numeric, numeric) IS 'Net plus VAT, rounded to cents';
COMMENT ON FUNCTION app.describe(text, text[]) IS 'The variadic overload';
COMMENT ON PROCEDURE app.move_money(bigint, bigint, numeric) IS 'A procedure, not a function';
COMMENT ON TYPE app.mood IS 'An enum with a label added later, in the middle';
COMMENT ON TYPE app.address IS 'A composite type';
COMMENT ON COLUMN app.address.city IS 'Composite attributes take comments too';
COMMENT ON DOMAIN app.email IS 'citext with an @';
COMMENT ON INDEX app.customers_lower_name_idx IS 'For case-insensitive lookups';
COMMENT ON INDEX "Ünïcode ""Sch""ema"."idx ""Ωmega"" désc" IS 'Index with an odd name';
COMMENT ON CONSTRAINT invoices_customer_fk ON app.invoices IS 'Cascade: invoices go with their customer';
COMMENT ON CONSTRAINT "chk Ünïcode ""≥ 0"" ✓" ON "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓" IS 'Odd check';
COMMENT ON CONSTRAINT email_has_at ON DOMAIN app.email IS 'Domain constraints take comments too';
COMMENT ON TRIGGER customers_bump_revision ON app.customers IS 'Must not fire during a restore';
COMMENT ON TABLE public."order" IS 'Reserved word as a table name';
COMMENT ON COLUMN public."order"."from" IS 'Reserved word as a column name';
"""


RICH_DATA = r"""
-- [fidelity: data null vs empty] [fidelity: data backslash] [fidelity: data control chars]
-- [fidelity: data backslash-N] [fidelity: data unicode] [fidelity: data bytea] [fidelity: data arrays]
-- [fidelity: data jsonb] [fidelity: data numeric nan] [fidelity: data float specials]
-- [fidelity: data infinity timestamps]
INSERT INTO app.all_types (
    c_smallint, c_integer, c_bigint, c_numeric, c_numeric_ps, c_real, c_double, c_money,
    c_char, c_varchar, c_text, c_text_c, c_text_posix, c_text_icu, c_citext, c_bytea, c_bool,
    c_date, c_time, c_timetz, c_timestamp, c_timestamp3, c_timestamptz, c_interval, c_interval_ds,
    c_uuid, c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit, c_varbit, c_json, c_jsonb, c_jsonpath, c_xml,
    c_tsvector, c_tsquery, c_int_array, c_text_array, c_int_matrix, c_int4range, c_numrange, c_tstzrange,
    c_datemultirange, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle, c_hstore, c_mood,
    c_amount, c_code, c_address, c_addresses, c_pg_lsn, c_char1
) VALUES
-- 10: ordinary values
(-32768, 2147483647, -9223372036854775808, 12345.6789, 99999999.9999, 3.4028235e38, 0.1, 1234.56,
 'ab', 'varchar', 'plain text', 'Zürich', 'posix', 'icu ß', 'MiXeD CaSe', '\xdeadbeef', true,
 '2024-02-29', '23:59:59.999999', '12:00:00+05:30', '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789',
 '2024-02-29 12:34:56.789012+05:30', '1 year 2 mons -3 days 04:05:06.789', '3 days 04:05:06.789',
 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.1.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
 '08:00:2b:01:02:03:04:05', B'10101010', B'1011', '{"b": 1,  "a": [1, 2.50, null], "a": "dup key kept in json"}',
 '{"nested": {"a": [1, 2, {"b": null}]}, "unicode": "\u00e9\ud83c\udf89", "num": 1.000000000000000000001}',
 '$.a[*] ? (@ > 1)', '<doc lang="fr">Ça &amp; <b>là</b></doc>',
 to_tsvector('english', 'The quick brown foxes jumped'), to_tsquery('english', 'fox & (jump | quick)'),
 '{1,2,3}', ARRAY['a', 'b c', 'd,e'], '{{1,2},{3,4}}', '[1,10)', '(1.5,)', '[2024-01-01 00:00+00,infinity)',
 '{[2024-01-01,2024-02-01), [2024-03-01,2024-04-01)}', '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '((0,0),(2,3))',
 '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(2,0))', '<(1,1),5>', '"a"=>"1", "b"=>NULL, "quo\"te"=>"x y"', 'happy',
 42.50, 'ABC', ROW('1 Main St', 'Zürich', '8001', point(47.37, 8.54)),
 ARRAY[ROW('a', 'b', 'c', NULL)::app.address, NULL], '16/B374D848', 'x'),
-- 20: NULL everywhere a column allows it (the domain column takes its default)
(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 DEFAULT, NULL, NULL, NULL, NULL, NULL),
-- 30: empty everything: '' is not NULL, '{}' is not NULL, '\x' is not NULL
(0, 0, 0, 0, 0, 0, 0, 0, '', '', '', '', '', '', '', '\x', false,
 '2000-01-01', '00:00', '00:00+00', '2000-01-01', '2000-01-01', '2000-01-01 00:00+00', '0', '0',
 '00000000-0000-0000-0000-000000000000',
 '0.0.0.0', '0.0.0.0/32', '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', B'00000000', B'', '{}', '{}', '$', '',
 '', '', '{}', '{}', '{}', 'empty', 'empty', 'empty', '{}', '(0,0)', '{0,1,0}', '[(0,0),(0,0)]', '((0,0),(0,0))',
 '[(0,0)]', '((0,0))', '<(0,0),0>', '', 'sad', 0, 'XX', ROW(NULL, '', NULL, NULL), '{}', '0/0', ' '),
-- 40: special values: NaN, infinities, -0, extremes, odd calendar dates
(32767, -2147483648, 9223372036854775807, 'NaN', -0.0001, '-0', '-0', -92233720368547758.08,
 'a   b', 'trailing space ', 'NaN', 'Infinity', '-0', 'null', 'NULL', '\x00', NULL,
 'infinity', '24:00:00', '23:59:59-15:59', 'infinity', '-infinity', '-infinity',
 '-178000000 years', '-1 days -00:00:00.001', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '::1', '2001:db8::/32',
 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', B'11111111', B'1111111111111111', 'null', 'null', 'strict $', '<a/>',
 'a:1A b:2B', '!a', '[0:2]={7,8,9}', ARRAY[NULL, 'NULL', '', NULL], '{{NULL,1},{2,NULL}}', '(,)', '(,)', '(,)',
 '{(,)}', '(1e308,-1e-308)', '{0,1,-5}', '[(1,1),(1,1)]', '((-1,-1),(1,1))', '[(1,2)]', '((1,2))', '<(0,0),1e-10>',
 '""=>""', 'meh', 999999999999.99, 'ZZZZZZZZ', ROW('', '', '', NULL), ARRAY[NULL, NULL]::app.address[],
 'FFFFFFFF/FFFFFFFF',
 '\'),
-- 50: escapes and control characters that COPY and SQL literals must carry
(1, 1, 1, 1, 1, '1.4e-45', '5e-324', 0.01, E'\\\t\n', E'tab\there', E'back\\slash',
 E'new\nline', E'cr\rreturn', E'\\N', '\N', '\x000102', true, '0044-03-15 BC', '12:00', '12:00-00',
 '4713-01-01 00:00:00 BC', '294276-12-31 23:59:59.999', '2024-06-30 23:59:59.999999+00', '1 microsecond',
 '00:00:00.001', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '2001:db8::1/64', '192.168.0.0/16', '08-00-2b-01-02-03',
 '08002b0102030405', B'00000001', B'0', '"\u0000 is fine in json"',
 '["\\", "\t\n\r", "\\N", "\u00e9", "\ud83c\udf89", "\"quoted\""]', '$."odd key"',
 '<x>&lt;\N&gt;</x>', E'''back\\\\slash'' ''tab\tword''', 'a <-> b', ARRAY[1, NULL, 3],
 ARRAY[E'back\\slash', 'q"uote', '{brace}', E'tab\there', E'new\nline', E'\\N', 'NULL', ''],
 '{{{1}},{{2}}}', '[-2147483648,2147483647)', '(-1e-100,1e100]', '["1999-12-31 23:59:59.999999+00",)',
 '{[2000-01-01,2000-01-02)}', '(0,0)', '{1,0,0}', '[(0,0),(0,1)]', '((0,0),(0,0))', '[(0,0),(1,0)]',
 '((0,0),(1,0),(0,1))',
 '<(0,0),0.5>', E'"back\\\\slash"=>"tab\\\tx", "nl"=>"a\nb"', 'it''s "complicated"', 0.01, 'QQ',
 ROW(E'back\\slash', E'tab\there', 'q"', point(0, -0)), ARRAY[ROW(E'new\nline', '', NULL, NULL)::app.address],
 '0/1', E'\\'),
-- 60: unicode: accents, combining characters, emoji with ZWJ and skin tones, RTL, CJK, BOM
(2, 2, 2, 2, 2, 2, 1.7976931348623157e308, 2, 'é', 'e' || U&'\0301', 'emoji 🎉👩‍👩‍👧‍👦 👍🏽', 'ﬁ ligature',
 'مرحبا بالعالم',
 '日本語テキスト', 'ÄÖÜ', convert_to('ünï', 'UTF8'), false, '1999-12-31', '01:02:03', '01:02:03+01',
 '1999-12-31 23:59:59', '1999-12-31 23:59:59', '1999-12-31 23:59:59+00', '2 hours', '2 hours',
 uuid_generate_v5(uuid_ns_url(), 'https://example.org/ünï'), '10.1.2.3', '10.1.2.0/24', '01:23:45:67:89:ab',
 '01:23:45:67:89:ab:cd:ef', B'01010101', B'010', '{"ünï": "🎉"}', '{"ünï": "🎉", "zwj": "👩‍👩‍👧"}', '$."ünï"',
 '<ü attr="🎉">日本</ü>', to_tsvector('simple', 'ünï 日本 🎉'), to_tsquery('simple', 'ünï'),
 '{3,2,1}', ARRAY['🎉', U&'\FEFF' || 'bom', 'e' || U&'\0301'], '{{5}}', '[5,6)', '[0,0]', '[2024-01-01,2024-01-02)',
 '{[2024-01-01,2024-01-02)}', '(3,4)', '{2,3,4}', '[(1,2),(3,4)]', '((3,4),(1,2))', '[(1,2),(3,4),(5,6)]',
 '((1,2),(3,4),(5,6))', '<(1,2),3>', '"ünï"=>"🎉"', 'ünï ✓', 1, 'UNI', ROW('Straße 1', '東京', '100-0001', point(1, 2)),
 ARRAY[ROW('🎉', 'ü', NULL, NULL)::app.address], '1/0', 'u');

-- [fidelity: data float specials] [fidelity: data numeric nan]: every special float and numeric value,
-- and a numeric with 1000 significant digits.
INSERT INTO app.all_types (c_text, c_real, c_double, c_numeric) VALUES
    ('specials 1', 'NaN', 'Infinity', 'Infinity'),
    ('specials 2', '-Infinity', '-Infinity', '-Infinity'),
    ('specials 3', 'Infinity', 'NaN', (repeat('9', 500) || '.' || repeat('0', 499) || '1')::numeric),
    ('specials 4', '-0', '4.9406564584124654e-324', '-0.000000000000000000000000000000000000000001');

-- An explicit id below the identity's start, then the identity restarted (is_called = false).
INSERT INTO app.all_types (id, c_text) VALUES (5, 'explicit id under the identity start');
ALTER TABLE app.all_types ALTER COLUMN id RESTART WITH 7000;

-- [fidelity: data bytea]: every byte value, zero bytes, a larger binary blob
-- [fidelity: data large row]: ~1 MB of text in one field
INSERT INTO app.documents (id, title, body, blob)
SELECT 1, 'all 256 byte values', NULL, decode(string_agg(lpad(to_hex(b), 2, '0'), '' ORDER BY b), 'hex')
FROM generate_series(0, 255) AS b;
INSERT INTO app.documents VALUES
    (2, 'zero bytes only', '', '\x0000000000'),
    (3, 'about one megabyte', repeat(E'Lorem ipsum ✓ \\N\t', 60000) || 'end', NULL),
    (4, 'a binary quarter megabyte', NULL,
        (SELECT decode(string_agg(md5(i::text), ''), 'hex') FROM generate_series(1, 16384) AS i)),
    (5, E'COPY''s end marker alone on a line', E'\\.\n\\.', '\x5c2e'),
    (6, 'empty bytea', NULL, '\x');

-- Customers: the BEFORE trigger bumps each revision once (0 -> 1; 4 -> 5).
INSERT INTO app.customers (email, name, mood, referred_by, tags, profile, revision)
SELECT format('user%s@Example.ORG', i),
       CASE WHEN i % 7 = 0 THEN format('ünï %s', i) ELSE format('customer %s', i) END,
       (enum_range(NULL::app.mood))[1 + i % 6],
       NULL,
       CASE WHEN i % 3 = 0 THEN ARRAY['vip', 'tag ' || i] ELSE '{}' END,
       CASE WHEN i % 4 = 0 THEN jsonb_build_object('external_id', 'ext-' || i, 'n', i) ELSE '{}'::jsonb END,
       CASE WHEN i % 5 = 0 THEN 4 ELSE 0 END
FROM generate_series(1, 60) AS i;
UPDATE app.customers SET referred_by = id - 1 WHERE id % 2 = 0;

-- Invoices: identity ALWAYS, nextval default, generated column, statement triggers fire.
INSERT INTO app.invoices (customer_id, issued_at, due_on, net, vat_rate, status, paid)
SELECT 1 + i % 60, timestamptz '2024-01-01 00:00+00' + i * interval '7 hours',
       CASE WHEN i % 9 = 0 THEN NULL ELSE date '2024-03-01' + i END,
       round((i * 13.37)::numeric, 2), CASE WHEN i % 2 = 0 THEN 0.21 ELSE 0.075 END,
       (enum_range(NULL::app.mood))[1 + i % 6], CASE i % 3 WHEN 0 THEN true WHEN 1 THEN false END
FROM generate_series(1, 240) AS i;
UPDATE app.invoices SET net = net + 1 WHERE id % 50 = 0;  -- WHEN trigger fires for these
-- [fidelity: sequence values] the invoice_no sequence wraps around (CYCLE) to its MINVALUE.
SELECT setval('app.invoice_no', 999995);
INSERT INTO app.invoices (customer_id, net) VALUES (1, 0);
SELECT setval(pg_get_serial_sequence('app.invoices', 'id'), 5000);  -- identity set forward
SELECT setval(pg_get_serial_sequence('app.customers', 'id'), 100);  -- serial set forward
SELECT nextval('app.countdown') FROM generate_series(1, 4);
SELECT nextval('app.small_steps') FROM generate_series(1, 3);
-- [fidelity: is_called false]
SELECT setval('app.reset_later', 42, false);

-- [fidelity: no primary key] exact duplicate rows count twice.
INSERT INTO app.event_log VALUES
    ('2024-01-01 00:00+00', 'login', '{"user": 1}'),
    ('2024-01-01 00:00+00', 'login', '{"user": 1}'),
    ('2024-01-01 00:00+00', 'login', '{"user": 1}'),
    ('2024-01-01 00:00+00', NULL, NULL),
    ('2024-01-01 00:00+00', '', 'null');
INSERT INTO app.event_log
SELECT timestamptz '2024-01-01 00:00+00' + i * interval '1 minute', 'tick', jsonb_build_object('i', i)
FROM generate_series(1, 500) AS i;

-- [fidelity: data circular fk] one transaction, constraints checked at COMMIT.
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO app.departments VALUES (1, 'Engineering', 10), (2, 'Säles', 20);
INSERT INTO app.employees VALUES
    (10, 1, NULL, 'Ada'), (11, 1, 10, 'Grace'), (12, 1, 11, 'Linus'),
    (20, 2, NULL, 'Zoë'), (21, 2, 20, 'Ωmar');
COMMIT;

INSERT INTO app.room_bookings VALUES
    (1, 101, '[2024-01-01 09:00+00,2024-01-01 10:00+00)', false),
    (2, 101, '[2024-01-01 10:00+00,2024-01-01 11:00+00)', false),
    (3, 101, '[2024-01-01 09:30+00,2024-01-01 10:30+00)', true),
    (4, 102, '[2024-01-01 09:00+00,)', false);

-- [fidelity: data partitions] rows in every partition, including the defaults.
INSERT INTO app.measurements
SELECT i, timestamptz '2023-06-01 00:00+00' + i * interval '1 day',
       (ARRAY['temp', 'humidity', 'dew', 'pressure'])[1 + i % 4],
       CASE WHEN i % 50 = 0 THEN 'NaN'::float8 ELSE i * 0.5 END
FROM generate_series(1, 800) AS i;
INSERT INTO app.orders_by_region (id, region, placed_at, amount)
SELECT i, (ARRAY['eu', 'us', 'apac', 'oceania', 'mars'])[1 + i % 5],
       timestamptz '2024-01-01 00:00+00' + i * interval '1 hour',
       1 + i % 97
FROM generate_series(1, 100) AS i;  -- the partitioned table's row trigger audits each row
INSERT INTO app.order_lines
SELECT o.id, o.region, l, 'SKU-' || o.id || '-' || l FROM app.orders_by_region o, generate_series(1, 3) AS l;
INSERT INTO app.sessions (user_id, token, started_at)
SELECT i, uuid_generate_v5(uuid_ns_oid(), i::text), timestamptz '2024-01-01 00:00+00' + i * interval '1 second'
FROM generate_series(1, 90) AS i;

INSERT INTO "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓" ("Spaced Col", "quote""d", "Ωmega", "émoji 🎉", "customerId")
VALUES ('one', 1, 1.5, '🎉', 1), (NULL, NULL, NULL, NULL, NULL), ('', 2, 0, '', 2), (DEFAULT, 3, 'NaN', 'NaN', NULL);
UPDATE "Ünïcode ""Sch""ema"."Mixed Case ""Table"" ✓" SET "Ωmega" = "Ωmega" + 1 WHERE "quote""d" = 1;

INSERT INTO public."user" VALUES (1, 'root', 'users', true), (2, 'select', NULL, NULL);
INSERT INTO public."order" VALUES (1, 1, '2024-01-01', 'group by', 10), (2, 2, '2024-01-02', NULL, NULL);

REFRESH MATERIALIZED VIEW app.revenue_by_mood;
"""


EXTRA_SCHEMA = r"""
-- Beyond issue 3's list; pg_dump keeps all of it. Needs RICH_SCHEMA loaded first.
CREATE SCHEMA extra;

-- A custom collation (ICU, case-insensitive, nondeterministic) and a custom range type.
CREATE COLLATION extra.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TYPE extra.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);

-- Old-style inheritance: the parent's own rows and the child's rows are separate.
CREATE TABLE extra.vehicles (id integer PRIMARY KEY, name text COLLATE extra.ci NOT NULL, span extra.floatrange);
CREATE TABLE extra.trucks (payload integer CHECK (payload > 0)) INHERITS (extra.vehicles);
INSERT INTO extra.vehicles VALUES (1, 'Bike', '[1,2)'), (2, 'bike', NULL);
INSERT INTO extra.trucks VALUES (3, 'Truck', '(,5]', 40);

-- A NOT VALID check that existing rows violate: must be added after the data, NOT VALID.
CREATE TABLE extra.legacy (id integer PRIMARY KEY, qty integer);
INSERT INTO extra.legacy VALUES (1, -5), (2, 5);
ALTER TABLE extra.legacy ADD CONSTRAINT legacy_qty_positive CHECK (qty > 0) NOT VALID;

-- Storage and planner settings, replica identity, clustering, extended statistics.
CREATE UNLOGGED TABLE extra.cache (k text PRIMARY KEY, v bytea) WITH (fillfactor = 60, autovacuum_enabled = false);
ALTER TABLE extra.cache ALTER COLUMN v SET STORAGE EXTERNAL;
ALTER TABLE extra.cache ALTER COLUMN k SET STATISTICS 500;
ALTER TABLE extra.legacy REPLICA IDENTITY FULL;
ALTER TABLE extra.legacy CLUSTER ON legacy_pkey;
INSERT INTO extra.cache VALUES ('a', '\x01');
CREATE STATISTICS extra.legacy_stats (dependencies, ndistinct) ON id, qty FROM extra.legacy;

-- Row-level security with a policy; a rule; a disabled trigger; a constraint trigger.
ALTER TABLE extra.legacy ENABLE ROW LEVEL SECURITY;
CREATE POLICY legacy_positive ON extra.legacy FOR SELECT USING (qty > 0);
CREATE TABLE extra.rule_log (what text);
CREATE RULE legacy_delete_log AS ON DELETE TO extra.legacy
    DO ALSO INSERT INTO extra.rule_log VALUES ('deleted ' || OLD.id);
CREATE TRIGGER legacy_disabled BEFORE INSERT ON extra.legacy FOR EACH ROW EXECUTE FUNCTION app.audit_row();
ALTER TABLE extra.legacy DISABLE TRIGGER legacy_disabled;
CREATE CONSTRAINT TRIGGER legacy_checked AFTER UPDATE ON extra.legacy DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION app.audit_row();

-- A user-defined aggregate and an unpopulated materialized view.
CREATE AGGREGATE extra.concat_all(text) (sfunc = textcat, stype = text, initcond = '');
CREATE MATERIALIZED VIEW extra.unpopulated AS SELECT id, qty FROM extra.legacy WITH NO DATA;
"""


CF_LIKE_SCHEMA = r"""
-- Shaped like Cloud Foundry's ccdb (Sequel migrations: serial ids, text guids,
-- *_guid_index / *_created_at_index naming, fk_* constraints) and, in schema
-- uaa, its uaadb (varchar ids, oauth_client_details).
CREATE TABLE schema_migrations (filename text PRIMARY KEY);

CREATE TABLE quota_definitions (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    name text NOT NULL,
    non_basic_services_allowed boolean NOT NULL,
    total_services integer NOT NULL,
    memory_limit integer NOT NULL,
    total_routes integer NOT NULL,
    instance_memory_limit integer DEFAULT '-1'::integer NOT NULL,
    app_instance_limit integer DEFAULT '-1'::integer,
    CONSTRAINT qd_name_index UNIQUE (name)
);
CREATE UNIQUE INDEX qd_guid_index ON quota_definitions USING btree (guid);
CREATE INDEX qd_created_at_index ON quota_definitions USING btree (created_at);
CREATE INDEX qd_updated_at_index ON quota_definitions USING btree (updated_at);

CREATE TABLE organizations (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    name text NOT NULL COLLATE "C",
    billing_enabled boolean DEFAULT false NOT NULL,
    quota_definition_id integer NOT NULL,
    status text DEFAULT 'active'::text,
    default_isolation_segment_guid varchar(255),
    CONSTRAINT fk_org_quota_definition_id FOREIGN KEY (quota_definition_id) REFERENCES quota_definitions (id)
);
CREATE UNIQUE INDEX organizations_guid_index ON organizations USING btree (guid);
CREATE UNIQUE INDEX organizations_name_index ON organizations USING btree (name);
CREATE INDEX organizations_created_at_index ON organizations USING btree (created_at);
CREATE INDEX organizations_updated_at_index ON organizations USING btree (updated_at);

CREATE TABLE spaces (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    name text NOT NULL COLLATE "C",
    organization_id integer NOT NULL,
    allow_ssh boolean DEFAULT true,
    isolation_segment_guid varchar(255),
    CONSTRAINT fk_spaces_organization_id FOREIGN KEY (organization_id) REFERENCES organizations (id),
    CONSTRAINT spaces_org_id_name_index UNIQUE (organization_id, name)
);
CREATE UNIQUE INDEX spaces_guid_index ON spaces USING btree (guid);
CREATE INDEX spaces_created_at_index ON spaces USING btree (created_at);
CREATE INDEX spaces_updated_at_index ON spaces USING btree (updated_at);

CREATE TABLE users (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    default_space_id integer,
    admin boolean DEFAULT false,
    active boolean DEFAULT false,
    CONSTRAINT fk_users_default_space_id FOREIGN KEY (default_space_id) REFERENCES spaces (id)
);
CREATE UNIQUE INDEX users_guid_index ON users USING btree (guid);
CREATE INDEX users_created_at_index ON users USING btree (created_at);

CREATE TABLE spaces_developers (
    space_id integer NOT NULL,
    user_id integer NOT NULL,
    spaces_developers_pk serial PRIMARY KEY,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT space_developers_space_fk FOREIGN KEY (space_id) REFERENCES spaces (id),
    CONSTRAINT space_developers_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
    CONSTRAINT spaces_developers_user_space_index UNIQUE (space_id, user_id)
);

CREATE TABLE apps (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    space_guid varchar(255),
    name text COLLATE "C",
    droplet_guid varchar(255),
    desired_state varchar(255) DEFAULT 'STOPPED'::character varying,
    encrypted_environment_variables text,
    salt varchar(255),
    max_task_sequence_id integer DEFAULT 1,
    buildpack_cache_sha256_checksum varchar(255),
    enable_ssh boolean,
    encryption_key_label varchar(255),
    encryption_iterations integer DEFAULT 2048 NOT NULL,
    revisions_enabled boolean DEFAULT false,
    CONSTRAINT fk_apps_space_guid FOREIGN KEY (space_guid) REFERENCES spaces (guid),
    CONSTRAINT apps_v3_space_guid_name_index UNIQUE (space_guid, name)
);
CREATE UNIQUE INDEX apps_v3_guid_index ON apps USING btree (guid);
CREATE INDEX apps_v3_created_at_index ON apps USING btree (created_at);
CREATE INDEX apps_v3_updated_at_index ON apps USING btree (updated_at);
CREATE INDEX apps_desired_state_index ON apps USING btree (desired_state);

CREATE TABLE app_labels (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    resource_guid varchar(255),
    key_prefix varchar(253),
    key_name varchar(63),
    value varchar(63),
    CONSTRAINT fk_app_labels_resource_guid FOREIGN KEY (resource_guid) REFERENCES apps (guid) ON DELETE CASCADE
);
CREATE UNIQUE INDEX app_labels_guid_index ON app_labels USING btree (guid);
CREATE INDEX app_labels_compound_index ON app_labels USING btree (key_prefix, key_name, value);
CREATE INDEX fk_app_labels_resource_guid_index ON app_labels USING btree (resource_guid);

CREATE TABLE processes (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    production boolean DEFAULT false,
    memory integer,
    instances integer DEFAULT 1,
    file_descriptors integer DEFAULT 16384,
    disk_quota integer DEFAULT 2048,
    state varchar(255) DEFAULT 'STOPPED'::character varying NOT NULL,
    version varchar(255),
    command varchar(4096),
    health_check_timeout integer,
    health_check_type varchar(255) DEFAULT 'port'::character varying,
    ports text,
    app_guid varchar(255),
    type varchar(255),
    health_check_http_endpoint text,
    CONSTRAINT fk_processes_app_guid FOREIGN KEY (app_guid) REFERENCES apps (guid)
);
CREATE UNIQUE INDEX apps_guid_index ON processes USING btree (guid);
CREATE INDEX apps_created_at_index ON processes USING btree (created_at);
CREATE INDEX processes_app_guid_index ON processes USING btree (app_guid);
CREATE INDEX apps_state_index ON processes USING btree (state);

CREATE TABLE domains (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    name varchar(255) NOT NULL COLLATE "C",
    wildcard boolean DEFAULT true NOT NULL,
    owning_organization_id integer,
    router_group_guid varchar(255),
    internal boolean DEFAULT false,
    CONSTRAINT fk_domains_owning_org_id FOREIGN KEY (owning_organization_id) REFERENCES organizations (id)
);
CREATE UNIQUE INDEX domains_guid_index ON domains USING btree (guid);
CREATE UNIQUE INDEX domains_name_index ON domains USING btree (name);

CREATE TABLE routes (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    host varchar(255) DEFAULT ''::character varying NOT NULL,
    domain_id integer NOT NULL,
    space_id integer NOT NULL,
    path varchar(255) DEFAULT ''::character varying NOT NULL,
    port integer DEFAULT 0 NOT NULL,
    vip_offset integer,
    CONSTRAINT fk_routes_domain_id FOREIGN KEY (domain_id) REFERENCES domains (id),
    CONSTRAINT fk_routes_space_id FOREIGN KEY (space_id) REFERENCES spaces (id),
    CONSTRAINT routes_host_domain_id_path_port_index UNIQUE (host, domain_id, path, port)
);
CREATE UNIQUE INDEX routes_guid_index ON routes USING btree (guid);
CREATE INDEX routes_domain_id_index ON routes USING btree (domain_id);

CREATE TABLE route_mappings (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    app_port integer DEFAULT '-1'::integer,
    app_guid varchar(255),
    route_guid varchar(255),
    process_type varchar(255),
    weight integer,
    CONSTRAINT fk_route_mappings_app_guid FOREIGN KEY (app_guid) REFERENCES apps (guid) ON DELETE CASCADE,
    CONSTRAINT fk_route_mappings_route_guid FOREIGN KEY (route_guid) REFERENCES routes (guid) ON DELETE CASCADE,
    CONSTRAINT route_mappings_app_guid_route_guid_process_type_app_port_key
        UNIQUE (app_guid, route_guid, process_type, app_port)
);
CREATE UNIQUE INDEX apps_routes_guid_index ON route_mappings USING btree (guid);
CREATE INDEX route_mappings_process_type_index ON route_mappings USING btree (process_type);

CREATE TABLE service_instances (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    name text NOT NULL COLLATE "C",
    credentials text,
    space_id integer NOT NULL,
    gateway_data varchar(2048),
    dashboard_url varchar(16000),
    is_gateway_service boolean DEFAULT true NOT NULL,
    syslog_drain_url text,
    tags text,
    salt varchar(255),
    encryption_key_label varchar(255),
    CONSTRAINT service_instances_space_id FOREIGN KEY (space_id) REFERENCES spaces (id),
    CONSTRAINT si_space_id_name_index UNIQUE (space_id, name)
);
CREATE UNIQUE INDEX si_guid_index ON service_instances USING btree (guid);
CREATE INDEX si_gateway_name_index ON service_instances USING btree (gateway_data);

CREATE TABLE service_bindings (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    credentials text NOT NULL,
    salt varchar(255),
    syslog_drain_url text,
    volume_mounts text,
    app_guid varchar(255) NOT NULL,
    service_instance_guid varchar(255) NOT NULL,
    type varchar(255),
    name varchar(255),
    CONSTRAINT fk_service_bindings_app_guid FOREIGN KEY (app_guid) REFERENCES apps (guid),
    CONSTRAINT fk_service_bindings_service_instance_guid FOREIGN KEY (service_instance_guid)
        REFERENCES service_instances (guid),
    CONSTRAINT unique_service_binding_app_guid_name UNIQUE (app_guid, name)
);
CREATE UNIQUE INDEX sb_guid_index ON service_bindings USING btree (guid);
CREATE INDEX sb_app_guid_index ON service_bindings USING btree (app_guid);

CREATE TABLE events (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    "timestamp" timestamp without time zone NOT NULL,
    type text NOT NULL,
    actor text NOT NULL,
    actor_type text NOT NULL,
    actee text NOT NULL,
    actee_type text NOT NULL,
    metadata text,
    space_guid text DEFAULT ''::text NOT NULL,
    organization_guid text DEFAULT ''::text NOT NULL
);
CREATE UNIQUE INDEX events_guid_index ON events USING btree (guid);
CREATE INDEX events_timestamp_id_index ON events USING btree ("timestamp", id);
CREATE INDEX events_actee_index ON events USING btree (actee);

CREATE TABLE delayed_jobs (
    id serial PRIMARY KEY,
    guid text NOT NULL,
    created_at timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp without time zone,
    priority integer DEFAULT 0,
    attempts integer DEFAULT 0,
    handler text,
    last_error text,
    run_at timestamp without time zone,
    locked_at timestamp without time zone,
    failed_at timestamp without time zone,
    locked_by text,
    queue text
);
CREATE UNIQUE INDEX delayed_jobs_guid_index ON delayed_jobs USING btree (guid);
CREATE INDEX delayed_jobs_reserve ON delayed_jobs USING btree (queue, locked_at, failed_at, run_at, priority)
    WHERE failed_at IS NULL;

CREATE SCHEMA uaa;
CREATE TABLE uaa.identity_zone (
    id varchar(36) PRIMARY KEY,
    created timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    lastmodified timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    version bigint DEFAULT 0,
    subdomain varchar(255) NOT NULL,
    name varchar(255) NOT NULL,
    description text,
    config text,
    active boolean DEFAULT true NOT NULL,
    CONSTRAINT identity_zone_subdomain_key UNIQUE (subdomain)
);
CREATE TABLE uaa.users (
    id varchar(36) PRIMARY KEY,
    created timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    lastmodified timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    version bigint DEFAULT 0 NOT NULL,
    username varchar(255) NOT NULL,
    password varchar(255) NOT NULL,
    email varchar(255) NOT NULL,
    authorities varchar(1024) DEFAULT 'uaa.user'::character varying,
    givenname varchar(255),
    familyname varchar(255),
    active boolean DEFAULT true NOT NULL,
    phonenumber varchar(255),
    verified boolean DEFAULT false NOT NULL,
    origin varchar(36) DEFAULT 'uaa'::character varying NOT NULL,
    external_id varchar(255),
    identity_zone_id varchar(36) DEFAULT 'uaa'::character varying NOT NULL REFERENCES uaa.identity_zone (id),
    salt varchar(36),
    passwd_lastmodified timestamp without time zone,
    last_logon_success_time bigint,
    passwd_change_required boolean DEFAULT false NOT NULL
);
CREATE UNIQUE INDEX users_unique_key ON uaa.users
    USING btree (lower((username)::text), lower((origin)::text), identity_zone_id);
CREATE INDEX user_identity_zone ON uaa.users USING btree (identity_zone_id);
CREATE INDEX users_email_key ON uaa.users USING btree (lower((email)::text));
CREATE TABLE uaa.oauth_client_details (
    client_id varchar(255) NOT NULL,
    resource_ids varchar(1024) DEFAULT 'none'::character varying,
    client_secret varchar(256),
    scope varchar(4096) DEFAULT 'uaa.none'::character varying,
    authorized_grant_types varchar(256) DEFAULT 'authorization_code,refresh_token'::character varying,
    web_server_redirect_uri varchar(4096),
    authorities varchar(4096) DEFAULT 'uaa.none'::character varying,
    access_token_validity integer,
    refresh_token_validity integer DEFAULT 0,
    additional_information varchar(4096),
    autoapprove varchar(1024) DEFAULT NULL::character varying,
    identity_zone_id varchar(36) DEFAULT 'uaa'::character varying NOT NULL,
    lastmodified timestamp without time zone DEFAULT CURRENT_TIMESTAMP,
    required_user_groups varchar(1024),
    created_by char(36),
    CONSTRAINT oauth_client_details_pkey PRIMARY KEY (client_id, identity_zone_id)
);
CREATE TABLE uaa.groups (
    id varchar(36) PRIMARY KEY,
    displayname varchar(255) NOT NULL,
    created timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    lastmodified timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    version integer DEFAULT 0 NOT NULL,
    identity_zone_id varchar(36) DEFAULT 'uaa'::character varying NOT NULL,
    description varchar(255)
);
CREATE UNIQUE INDEX groups_unique_key ON uaa.groups USING btree (lower((displayname)::text), identity_zone_id);
CREATE TABLE uaa.group_membership (
    group_id varchar(36) NOT NULL REFERENCES uaa.groups (id) ON DELETE CASCADE,
    member_id varchar(36) NOT NULL,
    member_type varchar(8) DEFAULT 'USER'::character varying NOT NULL,
    added timestamp without time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    origin varchar(36) DEFAULT 'uaa'::character varying NOT NULL,
    identity_zone_id varchar(36),
    PRIMARY KEY (group_id, member_id)
);
"""


def cf_like_data(rows: int = 2000) -> str:
    """SQL filling CF_LIKE_SCHEMA: ``rows`` apps and proportional everything else.

    Generated server-side with generate_series; deterministic (guids are
    md5-derived UUIDs, timestamps derived from the row number), so two loads
    with the same ``rows`` hold the same data.
    """
    n = max(int(rows), 10)
    orgs, spaces, users = max(n // 100, 2), max(n // 10, 4), max(n // 4, 4)
    return f"""
INSERT INTO schema_migrations
SELECT format('20%s_migration_%s.rb', lpad(i::text, 10, '0'), i) FROM generate_series(1, 300) AS i;
INSERT INTO quota_definitions (guid, created_at, name, non_basic_services_allowed, total_services, memory_limit,
                               total_routes, instance_memory_limit, app_instance_limit)
SELECT md5('quota' || i)::uuid::text, timestamp '2018-01-01' + i * interval '1 day', CASE i WHEN 1 THEN 'default'
       ELSE 'quota-' || i END, i % 2 = 0, 100 * i, 10240 * i, 1000, -1, CASE WHEN i % 2 = 0 THEN NULL ELSE -1 END
FROM generate_series(1, 5) AS i;
INSERT INTO organizations (guid, created_at, updated_at, name, billing_enabled, quota_definition_id, status)
SELECT md5('org' || i)::uuid::text, timestamp '2018-02-01' + i * interval '1 hour',
       CASE WHEN i % 3 = 0 THEN timestamp '2023-02-01' + i * interval '1 minute' END,
       'org-' || i, i % 10 = 0, 1 + i % 5, CASE WHEN i % 17 = 0 THEN 'suspended' ELSE 'active' END
FROM generate_series(1, {orgs}) AS i;
INSERT INTO spaces (guid, created_at, name, organization_id, allow_ssh)
SELECT md5('space' || i)::uuid::text, timestamp '2018-03-01' + i * interval '1 minute', 'space-' || i,
       1 + i % {orgs}, i % 4 <> 0
FROM generate_series(1, {spaces}) AS i;
INSERT INTO users (guid, created_at, default_space_id, admin, active)
SELECT md5('user' || i)::uuid::text, timestamp '2018-04-01' + i * interval '1 minute',
       CASE WHEN i % 5 = 0 THEN NULL ELSE 1 + i % {spaces} END, i <= 3, i % 20 <> 0
FROM generate_series(1, {users}) AS i;
INSERT INTO spaces_developers (created_at, space_id, user_id)
SELECT timestamp '2020-01-01' + i * interval '1 minute', 1 + i % {spaces}, 1 + (i * 7) % {users}
FROM generate_series(1, {users}) AS i ON CONFLICT DO NOTHING;
INSERT INTO apps (guid, created_at, updated_at, space_guid, name, droplet_guid, desired_state,
                  encrypted_environment_variables, salt, enable_ssh, encryption_key_label)
SELECT md5('app' || i)::uuid::text, timestamp '2019-01-01' + i * interval '1 minute',
       timestamp '2023-01-01' + i * interval '1 second', md5('space' || (1 + i % {spaces}))::uuid::text,
       'app-' || i, md5('droplet' || i)::uuid::text, CASE WHEN i % 10 = 0 THEN 'STOPPED' ELSE 'STARTED' END,
       encode(sha256(('env' || i)::bytea), 'base64'), substr(md5('salt' || i), 1, 8),
       CASE i % 3 WHEN 0 THEN NULL WHEN 1 THEN true ELSE false END, 'key-2023'
FROM generate_series(1, {n}) AS i;
INSERT INTO app_labels (created_at, guid, resource_guid, key_prefix, key_name, value)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('label' || i)::uuid::text, md5('app' || i)::uuid::text,
       CASE WHEN i % 2 = 0 THEN 'example.com' END, 'team', 'team-' || (i % 13)
FROM generate_series(1, {n}) AS i;
INSERT INTO processes (guid, created_at, production, memory, instances, state, command, health_check_type,
                       app_guid, type, ports)
SELECT md5('process' || i)::uuid::text, timestamp '2019-01-01' + i * interval '1 minute', false,
       CASE WHEN i % 2 = 0 THEN 1024 ELSE 256 END, 1 + i % 4, 'STARTED',
       CASE WHEN i % 5 = 0 THEN E'bundle exec rake jobs:work\\n--queue=app_' || i END,
       (ARRAY['port', 'http', 'process'])[1 + i % 3], md5('app' || (1 + (i - 1) % {n}))::uuid::text,
       CASE WHEN i <= {n} THEN 'web' ELSE 'worker' END, CASE WHEN i % 7 = 0 THEN '8080,9090' END
FROM generate_series(1, {n} + {n} / 5) AS i;
INSERT INTO domains (created_at, guid, name, wildcard, owning_organization_id, internal)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('domain' || i)::uuid::text, 'apps' || i || '.example.com', i % 2 = 0,
       CASE WHEN i > 5 THEN 1 + i % {orgs} END, i = 10
FROM generate_series(1, 10) AS i;
INSERT INTO routes (created_at, guid, host, domain_id, space_id, path, port)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('route' || i)::uuid::text, 'host-' || i, 1 + i % 10, 1 + i % {spaces},
       CASE WHEN i % 9 = 0 THEN '/v' || (i % 3) ELSE '' END, 0
FROM generate_series(1, {n}) AS i;
INSERT INTO route_mappings (created_at, guid, app_port, app_guid, route_guid, process_type, weight)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('mapping' || i)::uuid::text, CASE WHEN i % 4 = 0 THEN 8080 ELSE -1 END, md5('app' || i)::uuid::text,
       md5('route' || i)::uuid::text, 'web', NULL
FROM generate_series(1, {n}) AS i;
INSERT INTO service_instances (created_at, guid, name, credentials, space_id, dashboard_url, is_gateway_service,
                               tags, salt)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('si' || i)::uuid::text, 'service-' || i, encode(sha256(('cred' || i)::bytea), 'base64'),
       1 + i % {spaces}, CASE WHEN i % 2 = 0 THEN 'https://dashboard.example.com/' || i END, i % 3 = 0,
       '["postgres","' || i || '"]', substr(md5('si-salt' || i), 1, 8)
FROM generate_series(1, {n} / 2) AS i;
INSERT INTO service_bindings (created_at, guid, credentials, salt, app_guid, service_instance_guid, type, name)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('sb' || i)::uuid::text, encode(sha256(('sbcred' || i)::bytea), 'base64'), substr(md5('sb' || i), 1, 8),
       md5('app' || i)::uuid::text, md5('si' || i)::uuid::text, 'app', CASE WHEN i % 2 = 0 THEN 'binding-' || i END
FROM generate_series(1, {n} / 2) AS i;
INSERT INTO events (created_at, guid, "timestamp", type, actor, actor_type, actee, actee_type, metadata, space_guid,
                    organization_guid)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('event' || i)::uuid::text, timestamp '2024-01-01' + i * interval '1 second',
       (ARRAY['audit.app.update', 'audit.app.start', 'audit.app.stop', 'app.crash'])[1 + i % 4],
       md5('user' || (1 + i % {users}))::uuid::text, 'user', md5('app' || (1 + i % {n}))::uuid::text, 'app',
       json_build_object('request', json_build_object('instances', i % 4, 'note', E'line\\none'))::text,
       md5('space' || (1 + i % {spaces}))::uuid::text, md5('org' || (1 + i % {orgs}))::uuid::text
FROM generate_series(1, {n} * 2) AS i;
INSERT INTO delayed_jobs (created_at, guid, priority, attempts, handler, run_at, failed_at, queue)
SELECT timestamp '2020-01-01' + i * interval '1 minute',
       md5('job' || i)::uuid::text, i % 3, i % 2,
       E'--- !ruby/object:VCAP::CloudController::Jobs::Runtime::BlobstoreDelete\\nkey: ' || i,
       timestamp '2024-01-01' + i * interval '1 minute', CASE WHEN i % 7 = 0 THEN timestamp '2024-02-01' END,
       'cc-generic'
FROM generate_series(1, {n} / 10) AS i;

INSERT INTO uaa.identity_zone (id, created, lastmodified, subdomain, name, description)
VALUES ('uaa', '2018-01-01', '2018-01-01', '', 'uaa', 'The system zone for backwards compatibility'),
       ('zone-1', '2019-01-01', '2020-01-01', 'zone1', 'Zone 1', NULL);
INSERT INTO uaa.users (id, created, lastmodified, username, password, email, givenname, familyname, verified,
                       identity_zone_id, salt, passwd_lastmodified, last_logon_success_time)
SELECT md5('user' || i)::uuid::text, timestamp '2018-04-01' + i * interval '1 minute',
       timestamp '2018-04-01' + i * interval '2 minute',
       'user' || i || CASE WHEN i % 9 = 0 THEN '@Example.com' ELSE '' END,
       '$2a$10$' || substr(md5('pw' || i) || md5('pw2' || i), 1, 53), 'user' || i || '@example.com',
       CASE WHEN i % 4 <> 0 THEN 'Given' || i END, CASE WHEN i % 6 <> 0 THEN 'Family ' || i END, i % 2 = 0,
       CASE WHEN i % 50 = 0 THEN 'zone-1' ELSE 'uaa' END, NULL, timestamp '2018-04-01' + i * interval '3 minute',
       CASE WHEN i % 3 = 0 THEN 1700000000000 + i END
FROM generate_series(1, {users}) AS i;
INSERT INTO uaa.oauth_client_details (client_id, resource_ids, client_secret, scope, authorized_grant_types,
                                      web_server_redirect_uri, authorities, access_token_validity,
                                      additional_information, autoapprove, lastmodified)
SELECT CASE i WHEN 1 THEN 'cf' WHEN 2 THEN 'cloud_controller' ELSE 'client-' || i END, 'none',
       CASE WHEN i = 1 THEN '' ELSE '$2a$10$' || md5('secret' || i) END,
       'cloud_controller.read,cloud_controller.write,openid', 'password,refresh_token',
       CASE WHEN i % 2 = 0 THEN 'https://app' || i || '.example.com/**' END, 'uaa.none', 600 + i,
       '{{"name":"client ' || i || '"}}', CASE WHEN i % 3 = 0 THEN 'true' END,
       timestamp '2020-01-01' + i * interval '1 day'
FROM generate_series(1, 20) AS i;
INSERT INTO uaa.groups (id, displayname, created, lastmodified, description)
SELECT md5('group' || i)::uuid::text, (ARRAY['openid', 'scim.me', 'cloud_controller.read', 'cloud_controller.write',
       'password.write', 'uaa.user', 'approvals.me', 'oauth.approvals', 'profile', 'roles'])[i],
       '2018-01-01', '2018-01-01', NULL
FROM generate_series(1, 10) AS i;
INSERT INTO uaa.group_membership (group_id, member_id, added)
SELECT md5('group' || g)::uuid::text, md5('user' || u)::uuid::text, timestamp '2018-05-01' + u * interval '1 second'
FROM generate_series(1, 10) AS g, generate_series(1, {users}) AS u WHERE (u + g) % 3 = 0;
"""


def load_rich(db: PgTarget, *, extra: bool = False) -> None:
    """RICH_SCHEMA + RICH_DATA (and EXTRA_SCHEMA if asked) through plain psql."""
    psql_restore(RICH_SCHEMA + RICH_DATA + (EXTRA_SCHEMA if extra else ""), db)


def load_cf_like(db: PgTarget, rows: int = 2000) -> None:
    """CF_LIKE_SCHEMA + cf_like_data(rows) through plain psql."""
    psql_restore(CF_LIKE_SCHEMA + cf_like_data(rows), db)
