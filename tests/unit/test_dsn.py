"""DSN parsing, TLS defaults, password precedence and redaction (smokejumper.sources.dsn)."""

from __future__ import annotations

import re
import ssl
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import assume, given
from hypothesis import strategies as st
from smokejumper.errors import UsageError
from smokejumper.sources.dsn import DatabaseTarget, TlsOptions, credentials_from_secret, is_loopback, parse_dsn

from tests.support.private_postgres import make_ca, make_server_cert

SECRET = "Sup3r-S3cret!pw"  # must never show up in any output below


def parse(url: str, **kwargs: object) -> DatabaseTarget:
    kwargs.setdefault("environ", {})
    return parse_dsn(url, **kwargs)  # type: ignore[arg-type]


def usage_error(url: str, **kwargs: object) -> UsageError:
    with pytest.raises(UsageError) as caught:
        parse(url, **kwargs)
    error = caught.value
    assert error.exit_code == 2
    assert "\n" not in error.message
    assert SECRET not in str(error), "an error message leaked the password"
    return error


# --- parsing ----------------------------------------------------------------


def test_full_postgres_dsn():
    target = parse(
        f"postgresql://backup:{SECRET}@db.internal:6543/ccdb?sslmode=verify-ca&sslrootcert=/etc/ca.pem"
        "&application_name=whatever"
    )
    assert target == DatabaseTarget(
        engine="postgres",
        host="db.internal",
        port=6543,
        user="backup",
        password=SECRET,
        database="ccdb",
        tls=TlsOptions(mode="verify-ca", ca_file="/etc/ca.pem"),
    )
    assert target.password_from == "the DSN"
    assert target.address == "db.internal:6543"


def test_postgres_alias_scheme_and_default_port():
    target = parse("postgres://u@db.internal/app")
    assert (target.engine, target.port, target.password) == ("postgres", 5432, None)


def test_scheme_is_case_insensitive():
    assert parse("PostgreSQL://u@db/app").engine == "postgres"


def test_mysql_dsn_with_default_port_and_mysql_names():
    target = parse(f"mysql://root:{SECRET}@db.internal/uaadb?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca.pem")
    assert (target.engine, target.port, target.database) == ("mysql", 3306, "uaadb")
    assert target.tls == TlsOptions(mode="verify-full", ca_file="/ca.pem")


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("DISABLED", "disable"),
        ("preferred", "prefer"),
        ("REQUIRED", "require"),
        ("VERIFY_CA", "verify-ca"),
        ("Verify_Identity", "verify-full"),
    ],
)
def test_mysql_ssl_mode_names(name, mode):
    ca = "&ssl-ca=/ca.pem" if mode.startswith("verify") else ""
    assert parse(f"mysql://u@db.internal/d?ssl-mode={name}{ca}").tls.mode == mode


def test_mysql_client_certificate_parameters():
    tls = parse("mysql://u@h/d?ssl-mode=VERIFY_CA&ssl-ca=/ca&ssl-cert=/c&ssl-key=/k").tls
    assert (tls.ca_file, tls.cert_file, tls.key_file) == ("/ca", "/c", "/k")


def test_percent_decoding_of_user_password_database_and_values():
    user, password, database = "svc@corp", "p@ss:w/rd?#%&=+ é", "my db/x"
    url = (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@h/{quote(database, safe='')}"
        "?sslrootcert=/certs/a%20b+c.pem"
    )
    target = parse(url)
    assert (target.user, target.password, target.database) == (user, password, database)
    assert target.tls.ca_file == "/certs/a b+c.pem", "'+' is a plus sign, as in libpq, not a space"


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("postgresql://u@[::1]/d", "::1", 5432),
        ("postgresql://u@[2001:db8::7]:6000/d", "2001:db8::7", 6000),
        ("mysql://u@[fd00::1]:3307/d?ssl-mode=REQUIRED", "fd00::1", 3307),
    ],
)
def test_ipv6_hosts_in_brackets(url, host, port):
    target = parse(url)
    assert (target.host, target.port) == (host, port)
    assert f"@[{host}]:{port}/" in target.redacted()
    assert target.address == f"[{host}]:{port}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@/db", "names no host"),
        ("postgresql://u@:5432/db", "names no host"),
        ("postgresql://db.internal/db", "names no user"),
        ("postgresql://u@db.internal", "names no database"),
        ("postgresql://u@db.internal/", "names no database"),
        ("mysql://u@db.internal", "names no database"),
        ("postgresql://u@db.internal:0/d", "port is out of range"),
        ("postgresql://u@db.internal:70000/d", "not a valid URL"),
        ("postgresql://u@db.internal:54x/d", "not a valid URL"),
        ("postgresql://u@[::1/d", "not a valid URL"),
        ("postgresql://u@h/a/b", "not a single database name"),
        ("postgresql://u@h/d#frag", "fragment"),
    ],
)
def test_malformed_dsns_say_what_is_missing(url, expected):
    error = usage_error(url)
    assert expected in error.message
    assert "://USER[:PASSWORD]@HOST" in (error.hint or "") or "%2F" in (error.hint or "")


def test_missing_host_hint_shows_the_engines_form():
    assert (usage_error("mysql://u@/d").hint or "").startswith("the form is mysql://USER[:PASSWORD]@HOST[:PORT]/DBNAME")


@pytest.mark.parametrize(
    "url",
    [
        SECRET,
        f"host=db user=u password={SECRET}",
        f"oracle://u:{SECRET}@h/d",
        f"{SECRET}://u@h/d",
    ],
)
def test_not_a_database_url(url):
    error = usage_error(url)
    assert "postgresql://" in (error.hint or "")


def test_known_scheme_name_is_echoed():
    assert "'oracle'" in usage_error("oracle://u@h/d").message


def test_unknown_parameter_lists_the_known_ones():
    error = usage_error("postgresql://u@h/d?sslmode=verify-full&sslcompression=1")
    assert error.message == "unknown DSN parameter 'sslcompression'"
    assert error.hint == "known parameters: application_name, sslcert, sslkey, sslmode, sslrootcert"
    mysql_error = usage_error("mysql://u@h/d?sslmode=require")
    assert mysql_error.hint == "known parameters: ssl-ca, ssl-cert, ssl-key, ssl-mode"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sslmode=require&sslmode=disable", "given twice"),
        ("sslmode=", "has no value"),
        ("sslrootcert", "has no value"),
        ("sslmode=verify", "unknown sslmode 'verify'"),
        ("sslmode=allow", "unknown sslmode 'allow'"),
    ],
)
def test_bad_parameters(query, expected):
    assert expected in usage_error(f"postgresql://u@h/d?{query}").message


def test_unknown_mysql_ssl_mode():
    error = usage_error("mysql://u@h/d?ssl-mode=VERIFY_FULL")
    assert error.hint == "use one of: DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{SECRET}/x@h/d",
        f"postgresql://u:{SECRET}?x@h/d",
        f"postgresql://u:{SECRET}#x@h/d",
        f"postgresql://u:{SECRET}@x@h/d?sslrootcert=/a@b",
    ],
)
def test_unencoded_special_characters_in_a_password_are_refused_without_echo(url):
    error = usage_error(url)
    assert "must be percent-encoded" in error.message
    assert "%2F %3F %23 %40" in (error.hint or "")


def test_a_password_without_host_is_not_echoed_as_a_port():
    error = usage_error(f"postgresql://user:{SECRET}/db")
    assert "not a valid URL" in error.message


# --- TLS defaults -------------------------------------------------------------


@pytest.mark.parametrize("host", ["db.internal", "10.0.0.5", "[2001:db8::1]", "localhost.example.com"])
def test_remote_hosts_default_to_verify_full(host):
    assert parse(f"postgresql://u@{host}/d").tls == TlsOptions(mode="verify-full")
    assert parse(f"mysql://u@{host}/d").tls.mode == "verify-full"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_hosts_default_to_prefer(host):
    assert parse(f"postgresql://u@{host}/d").tls == TlsOptions(mode="prefer")
    assert parse(f"mysql://u@{host}/d").tls.mode == "prefer"


def test_a_ca_file_without_mode_means_verify_full_even_on_loopback():
    assert parse("postgresql://u@127.0.0.1/d?sslrootcert=/ca.pem").tls.mode == "verify-full"
    assert parse("mysql://u@localhost/d?ssl-ca=/ca.pem").tls.mode == "verify-full"


def test_require_with_a_ca_file_checks_the_ca():
    assert parse("postgresql://u@h/d?sslmode=require&sslrootcert=/ca.pem").tls.mode == "verify-ca"
    assert TlsOptions(mode="require", ca_file="/ca.pem").mode == "verify-ca"
    assert TlsOptions(mode="require").mode == "require"


def test_sslrootcert_system_means_system_cas_and_verify_full():
    assert parse("postgresql://u@127.0.0.1/d?sslrootcert=system").tls == TlsOptions(mode="verify-full")
    assert "needs sslmode=verify-full" in usage_error("postgresql://u@h/d?sslmode=verify-ca&sslrootcert=system").message


@pytest.mark.parametrize(
    "query",
    [
        "sslmode=disable&sslrootcert=/ca.pem",
        "sslmode=disable&sslcert=/c.pem&sslkey=/k.pem",
        "sslmode=prefer&sslrootcert=/ca.pem",
        "sslmode=verify-full&sslkey=/k.pem",
    ],
)
def test_contradictory_tls_settings_are_refused(query):
    usage_error(f"postgresql://u@h/d?{query}")


def test_is_loopback():
    for host in ("127.0.0.1", "::1", "localhost"):
        assert is_loopback(host)
    for host in ("10.1.2.3", "db", "localhost.evil.com"):
        assert not is_loopback(host)


# --- passwords ----------------------------------------------------------------


def test_password_precedence():
    env = {"PGPASSWORD": "from-pgpassword", "SMOKEJUMPER_DB_PASSWORD": "from-shared", "MYSQL_PWD": "from-mysql"}
    url_with, url_without = "postgresql://u:from-url@h/d", "postgresql://u@h/d"
    assert parse(url_with, password="given", environ=env).password == "given"
    assert parse(url_with, environ=env).password == "from-url"
    assert parse(url_without, environ=env).password == "from-pgpassword"
    assert parse(url_without, environ={"SMOKEJUMPER_DB_PASSWORD": "from-shared"}).password == "from-shared"
    assert parse(url_without).password is None
    assert parse("mysql://u@h/d", environ=env).password == "from-mysql"
    assert parse("mysql://u@h/d", environ={"PGPASSWORD": "pg-only"}).password is None


def test_password_source_is_recorded_for_hints():
    assert parse("postgresql://u@h/d", password="x").password_from == "the given password"
    assert parse("postgresql://u@h/d", environ={"PGPASSWORD": "x"}).password_from == "$PGPASSWORD"
    assert parse("mysql://u@h/d", environ={"SMOKEJUMPER_DB_PASSWORD": "x"}).password_from == "$SMOKEJUMPER_DB_PASSWORD"
    assert parse("postgresql://u@h/d").password_from is None


def test_empty_passwords_count_as_none():
    environ = {"PGPASSWORD": "", "SMOKEJUMPER_DB_PASSWORD": "x"}
    assert parse("postgresql://u:@h/d", password="", environ=environ).password == "x"


def test_the_real_environment_is_the_default(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-env")
    assert parse_dsn("postgresql://u@h/d").password == "from-env"


# --- redaction ------------------------------------------------------------------


def test_password_never_in_repr_str_or_redacted():
    target = parse(f"postgresql://u:{quote(SECRET)}@db.internal/ccdb?sslrootcert=/ca.pem")
    for shown in (repr(target), str(target), target.redacted(), f"{target}", repr([target])):
        assert SECRET not in shown
        assert quote(SECRET, safe="") not in shown
    assert target.redacted() == "postgresql://u:***@db.internal:5432/ccdb?sslmode=verify-full&sslrootcert=/ca.pem"


def test_redacted_without_password_and_for_mysql():
    assert parse("postgresql://u@127.0.0.1/d").redacted() == "postgresql://u@127.0.0.1:5432/d?sslmode=prefer"
    target = parse(f"mysql://r%40x:{SECRET}@h:3307/a%20b?ssl-ca=/ca&ssl-cert=/c&ssl-key=/k")
    assert target.redacted() == (
        "mysql://r%40x:***@h:3307/a%20b?ssl-mode=VERIFY_IDENTITY&ssl-ca=/ca&ssl-cert=/c&ssl-key=/k"
    )


def test_redacted_dsn_parses_back_to_the_same_target_without_password():
    target = parse(f"mysql://u:{SECRET}@[::1]/d?ssl-mode=REQUIRED")
    again = parse(target.redacted().replace(":***@", "@"))
    assert again == replace(target, password=None)


def test_scrub_replaces_the_password_in_foreign_text():
    target = parse(f"postgresql://u:{SECRET}@h/d")
    assert target.scrub(f"server said {SECRET}!") == "server said ***!"
    assert parse("postgresql://u@h/d").scrub("unchanged") == "unchanged"


@given(
    user=st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
    password=st.text(min_size=1, max_size=30),
    database=st.text(min_size=1, max_size=20),
)
def test_any_credentials_round_trip_and_stay_hidden(user, password, database):
    url = f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@db.internal/{quote(database, safe='')}"
    target = parse(url)
    assert (target.user, target.password, target.database) == (user, password, database)
    harmless = replace(target, password=None)
    # A password that is a substring of the rest of the DSN (say "5432"), or of the mask that
    # replaces it ("*"), cannot be hidden by anyone.
    assume(password not in harmless.redacted() + repr(harmless) + ":***")
    assert password not in target.redacted()
    assert password not in repr(target)


# --- secrets ----------------------------------------------------------------------


RDS_SECRET = {
    "engine": "postgres",
    "host": "ccdb.abc.eu-west-1.rds.amazonaws.com",
    "port": 5432,
    "username": "ccadmin",
    "password": SECRET,
    "dbname": "ccdb",
    "dbInstanceIdentifier": "ccdb",
}


def test_credentials_come_from_rds_json():
    assert credentials_from_secret(RDS_SECRET, engine="postgres") == ("ccadmin", SECRET)
    mariadb = {"engine": "mariadb", "username": "u", "password": "p"}
    assert credentials_from_secret(mariadb, engine="mysql") == ("u", "p")
    # A trust-auth test server has no password; the key must still be there.
    assert credentials_from_secret({"username": "root", "password": ""}, engine="mysql") == ("root", "")
    with pytest.raises(UsageError, match="has no password"):
        credentials_from_secret({"username": "root"}, engine="mysql")
    # A secret naming no engine, or one we do not know, is taken as it is.
    assert credentials_from_secret({"username": "u", "password": "p", "engine": "oracle-ee"}, engine="mysql")


def test_credentials_refuse_missing_keys_without_echoing_values():
    with pytest.raises(UsageError) as caught:
        credentials_from_secret({"host": "h", "password": SECRET}, engine="postgres")
    assert caught.value.message == "the database secret has no username"
    assert SECRET not in str(caught.value)
    with pytest.raises(UsageError, match="the secret is for engine 'mysql', not postgres") as caught:
        credentials_from_secret({**RDS_SECRET, "engine": "mysql"}, engine="postgres")
    assert SECRET not in str(caught.value)


# --- ssl contexts ---------------------------------------------------------------------


def test_disable_has_no_context():
    assert TlsOptions(mode="disable").ssl_context() is None


@pytest.mark.parametrize("mode", ["prefer", "require"])
def test_unverified_modes_encrypt_without_checks(mode):
    context = TlsOptions(mode=mode).ssl_context()
    assert context is not None
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_a_ca_bundle_from_a_secret_needs_no_file(tmp_path):
    ca_file, _, _ = make_ca(tmp_path, "ca")
    context = TlsOptions(mode="verify-full", ca_data=ca_file.read_text()).ssl_context()
    assert context is not None
    assert [cert["subject"] for cert in context.get_ca_certs()] == [
        cert["subject"] for cert in TlsOptions(ca_file=str(ca_file)).ssl_context().get_ca_certs()
    ]
    assert TlsOptions(mode="require", ca_data=ca_file.read_text()).mode == "verify-ca"
    with pytest.raises(UsageError, match="CA bundle from the secret is not usable PEM"):
        TlsOptions(ca_data="not a certificate").ssl_context()
    with pytest.raises(UsageError, match="both as a file and as PEM text"):
        TlsOptions(ca_file=str(ca_file), ca_data=ca_file.read_text())


def test_verify_modes(tmp_path):
    ca_file, _, _ = make_ca(tmp_path, "ca")
    verify_ca = TlsOptions(mode="verify-ca", ca_file=str(ca_file)).ssl_context()
    verify_full = TlsOptions(mode="verify-full", ca_file=str(ca_file)).ssl_context()
    system = TlsOptions().ssl_context()
    assert verify_ca is not None
    assert verify_full is not None
    assert system is not None
    assert (verify_ca.verify_mode, verify_ca.check_hostname) == (ssl.CERT_REQUIRED, False)
    assert (verify_full.verify_mode, verify_full.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert (system.verify_mode, system.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert [cert["subject"] for cert in verify_full.get_ca_certs()] == [((("commonName", "ca"),),)]
    assert verify_full.minimum_version == ssl.TLSVersion.TLSv1_2


def test_client_certificate_is_loaded(tmp_path):
    ca_file, ca_cert, ca_key = make_ca(tmp_path, "ca")
    make_server_cert(ca_cert, ca_key, tmp_path / "client.crt", tmp_path / "client.key")
    tls = TlsOptions(mode="verify-full", ca_file=str(ca_file), cert_file=str(tmp_path / "client.crt"))
    with pytest.raises(UsageError, match=r"client\.crt is not usable or holds no private key"):
        tls.ssl_context()  # the key is in another file and was not given
    tls = TlsOptions(
        mode="verify-full",
        ca_file=str(ca_file),
        cert_file=str(tmp_path / "client.crt"),
        key_file=str(tmp_path / "client.key"),
    )
    assert tls.ssl_context() is not None


def test_bad_tls_files_are_usage_errors_naming_the_file(tmp_path):
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("hello")
    missing = tmp_path / "missing.pem"
    with pytest.raises(UsageError, match=re.escape(f"TLS CA file {missing} does not exist")):
        TlsOptions(ca_file=str(missing)).ssl_context()
    with pytest.raises(UsageError, match=re.escape(f"TLS CA file {not_pem} is not usable")):
        TlsOptions(ca_file=str(not_pem)).ssl_context()


def test_mismatched_client_key(tmp_path):
    _, ca_cert, ca_key = make_ca(tmp_path, "ca")
    make_server_cert(ca_cert, ca_key, tmp_path / "a.crt", tmp_path / "a.key")
    make_server_cert(ca_cert, ca_key, tmp_path / "b.crt", tmp_path / "b.key")
    tls = TlsOptions(mode="require", cert_file=str(tmp_path / "a.crt"), key_file=str(tmp_path / "b.key"))
    with pytest.raises(UsageError, match="do not belong together"):
        tls.ssl_context()


def test_encrypted_client_key_is_refused_instead_of_prompting(tmp_path: Path):
    _, ca_cert, ca_key = make_ca(tmp_path, "ca")
    make_server_cert(ca_cert, ca_key, tmp_path / "c.crt", tmp_path / "plain.key")
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "locked.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    tls = TlsOptions(mode="require", cert_file=str(tmp_path / "c.crt"), key_file=str(tmp_path / "locked.key"))
    with pytest.raises(UsageError, match="is encrypted"):
        tls.ssl_context()


def test_unknown_mode_in_tls_options():
    with pytest.raises(UsageError, match="unknown TLS mode 'verify'"):
        TlsOptions(mode="verify")  # type: ignore[arg-type]
