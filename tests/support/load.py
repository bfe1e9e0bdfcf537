"""Consistency under load, for any SQL engine: a bank whose books must balance.

``BankLoad`` creates ``accounts`` (N accounts, a known total) and ``ledger``,
then a background thread with its own connection moves random amounts
between two random accounts, each transfer one transaction::

    UPDATE accounts (debit); UPDATE accounts (credit);
    INSERT two ledger rows (txn k: -amount, +amount); COMMIT

as fast as it can until stopped. Some transfers are rolled back on purpose
after doing all their writes: their rows must never appear anywhere.

Any *committed* state of the database satisfies (``invariant_violations``):

1. the accounts are exactly ids 1..N, and their total is N * initial;
2. the ledger sums to 0, each txn has exactly two rows summing to 0;
3. each account's balance = initial + sum of its ledger deltas;
4. the txn numbers are exactly 1..K (one writer commits them in order, and
   numbers of rolled-back attempts are reused): the data is the state right
   after the K-th commit, a *prefix* of history, nothing torn.

A dump taken from one snapshot restores to such a state. A dump that read
``accounts`` and ``ledger`` at different moments breaks (3) (and usually
(4)'s relation to the balances): the total alone cannot tell, since every
transfer conserves it, which is why (3) is there.

Engine-agnostic: the writer only needs a DB-API connection whose paramstyle
is ``%s`` (pg8000.dbapi, PyMySQL) and a ``Dialect`` with the few statements
that differ. ``BankLoad.for_database(db)`` picks both from a test database
(``PostgresDatabase`` / ``MysqlDatabase``).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

DEFAULT_ACCOUNTS = 100
DEFAULT_INITIAL_BALANCE = 10_000


@dataclass(frozen=True)
class Dialect:
    """What differs between engines; everything else is portable SQL."""

    name: str
    create_accounts: str
    create_ledger: str
    # Start a transaction that sees one consistent snapshot (for copies/tests).
    begin_snapshot: tuple[str, ...]


POSTGRES = Dialect(
    name="postgresql",
    create_accounts="CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL)",
    create_ledger=(
        "CREATE TABLE ledger (id bigserial PRIMARY KEY, txn bigint NOT NULL,"
        " account integer NOT NULL REFERENCES accounts (id), delta bigint NOT NULL,"
        " at timestamp NOT NULL DEFAULT clock_timestamp())"
    ),
    begin_snapshot=("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",),
)

MYSQL = Dialect(
    name="mysql",
    create_accounts="CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL) ENGINE=InnoDB",
    create_ledger=(
        "CREATE TABLE ledger (id bigint AUTO_INCREMENT PRIMARY KEY, txn bigint NOT NULL,"
        " account integer NOT NULL, delta bigint NOT NULL,"
        " at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),"
        " FOREIGN KEY (account) REFERENCES accounts (id)) ENGINE=InnoDB"
    ),
    begin_snapshot=(
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    ),
)


# --- connections ------------------------------------------------------------


def set_autocommit(connection: Any) -> None:
    """Autocommit on, so transactions are exactly our BEGIN ... COMMIT."""
    if callable(getattr(connection, "autocommit", None)):
        connection.autocommit(True)  # PyMySQL
    else:
        connection.autocommit = True  # pg8000.dbapi, psycopg


def query(connection: Any, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a DB-API connection or a pg8000.native one; rows as tuples."""
    if hasattr(connection, "cursor"):
        cursor = connection.cursor()
        try:
            cursor.execute(sql, tuple(params)) if params else cursor.execute(sql)
            rows = cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()
        return [tuple(row) for row in rows]
    if params:
        raise TypeError("parameters need a DB-API connection")
    return [tuple(row) for row in connection.run(sql) or []]


def postgres_connector(db: Any) -> Callable[[], Any]:
    """DB-API (pg8000.dbapi, autocommit) connections to a PostgresDatabase-like target."""

    def connect() -> Any:
        import pg8000.dbapi

        connection = pg8000.dbapi.connect(user=db.user, host=db.host, port=db.port, database=db.dbname, timeout=30)
        set_autocommit(connection)
        return connection

    return connect


def mysql_connector(db: Any) -> Callable[[], Any]:
    """DB-API (PyMySQL, autocommit) connections to a MysqlDatabase-like target."""

    def connect() -> Any:
        import pymysql

        return pymysql.connect(
            host=db.host,
            port=db.port,
            user=db.user,
            database=db.dbname,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=30,
        )

    return connect


def for_database(db: Any) -> tuple[Callable[[], Any], Dialect]:
    """Connector and dialect for a tests.support.services database (by its DSN scheme)."""
    if db.scheme == "postgresql":
        return postgres_connector(db), POSTGRES
    if db.scheme == "mysql":
        return mysql_connector(db), MYSQL
    raise ValueError(f"no bank dialect for {db.scheme}")


# --- the books ----------------------------------------------------------------


def create_bank(
    connection: Any,
    dialect: Dialect,
    *,
    accounts: int = DEFAULT_ACCOUNTS,
    initial_balance: int = DEFAULT_INITIAL_BALANCE,
    fill: bool = True,
) -> None:
    """(Re)create ``accounts`` and ``ledger``; with ``fill``, N accounts at ``initial_balance``."""
    query(connection, "DROP TABLE IF EXISTS ledger")
    query(connection, "DROP TABLE IF EXISTS accounts")
    query(connection, dialect.create_accounts)
    query(connection, dialect.create_ledger)
    if fill:
        values = ", ".join(f"({i}, {int(initial_balance)})" for i in range(1, accounts + 1))
        query(connection, f"INSERT INTO accounts (id, balance) VALUES {values}")


def insert_copy(
    connection: Any,
    accounts_rows: Sequence[Sequence[Any]],
    ledger_rows: Sequence[Sequence[Any]],
) -> None:
    """Write copied rows (``SELECT id, balance`` / ``SELECT id, txn, account, delta, at``) into empty tables."""
    cursor = connection.cursor()
    try:
        if accounts_rows:
            cursor.executemany("INSERT INTO accounts (id, balance) VALUES (%s, %s)", [tuple(r) for r in accounts_rows])
        if ledger_rows:
            cursor.executemany(
                "INSERT INTO ledger (id, txn, account, delta, at) VALUES (%s, %s, %s, %s, %s)",
                [tuple(r) for r in ledger_rows],
            )
    finally:
        cursor.close()


def read_bank(connection: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """All rows of both tables, in the caller's current transaction (if any)."""
    return (
        query(connection, "SELECT id, balance FROM accounts ORDER BY id"),
        query(connection, "SELECT id, txn, account, delta, at FROM ledger ORDER BY id"),
    )


def invariant_violations(
    connection: Any,
    *,
    accounts: int = DEFAULT_ACCOUNTS,
    initial_balance: int = DEFAULT_INITIAL_BALANCE,
    limit: int = 5,
) -> list[str]:
    """What is wrong with the books ([] if they balance). Works on any engine's connection.

    For a live database, call inside one snapshot transaction (or after the
    load stopped): the queries are separate statements.
    """
    problems: list[str] = []
    per_account = query(
        connection,
        "SELECT a.id, a.balance, COALESCE(l.total, 0) FROM accounts a"
        " LEFT JOIN (SELECT account, SUM(delta) AS total FROM ledger GROUP BY account) l ON l.account = a.id"
        " ORDER BY a.id",
    )
    ids = [int(row[0]) for row in per_account]
    if ids != list(range(1, accounts + 1)):
        missing = sorted(set(range(1, accounts + 1)) - set(ids))
        extra = sorted(set(ids) - set(range(1, accounts + 1)))
        problems.append(f"accounts: expected ids 1..{accounts}, missing {missing[:limit]}, unexpected {extra[:limit]}")
    total = sum(int(row[1]) for row in per_account)
    if total != accounts * initial_balance:
        problems.append(f"total balance {total} != initial total {accounts * initial_balance}")
    wrong = [
        (int(row[0]), int(row[1]), initial_balance + int(row[2]))
        for row in per_account
        if int(row[1]) != initial_balance + int(row[2])
    ]
    if wrong:
        shown = ", ".join(f"#{i}: balance {b} but ledger says {want}" for i, b, want in wrong[:limit])
        problems.append(f"{len(wrong)} account(s) disagree with the ledger: {shown}")

    [(rows, delta_sum, txns, lowest, highest)] = query(
        connection, "SELECT COUNT(*), COALESCE(SUM(delta), 0), COUNT(DISTINCT txn), MIN(txn), MAX(txn) FROM ledger"
    )
    if int(delta_sum) != 0:
        problems.append(f"ledger deltas sum to {int(delta_sum)}, not 0")
    if int(rows):
        if (int(lowest), int(highest)) != (1, int(txns)):
            problems.append(
                f"ledger txns are not exactly 1..K: {int(txns)} distinct, from {int(lowest)} to {int(highest)}"
            )
        torn = query(
            connection,
            f"SELECT txn, COUNT(*), SUM(delta) FROM ledger GROUP BY txn HAVING COUNT(*) <> 2 OR SUM(delta) <> 0"
            f" ORDER BY txn LIMIT {int(limit)}",
        )
        if torn:
            problems.append("torn transfers (txn, rows, sum): " + ", ".join(str(tuple(map(int, t))) for t in torn))
    [(orphans,)] = query(connection, "SELECT COUNT(*) FROM ledger WHERE account NOT IN (SELECT id FROM accounts)")
    if int(orphans):
        problems.append(f"{int(orphans)} ledger rows name no account")
    return problems


def check_invariants(
    connection: Any,
    *,
    accounts: int = DEFAULT_ACCOUNTS,
    initial_balance: int = DEFAULT_INITIAL_BALANCE,
) -> int:
    """AssertionError listing every violation; else K, the number of transfers the data holds."""
    problems = invariant_violations(connection, accounts=accounts, initial_balance=initial_balance)
    if problems:
        raise AssertionError("bank invariants violated:\n  " + "\n  ".join(problems))
    [(highest,)] = query(connection, "SELECT COALESCE(MAX(txn), 0) FROM ledger")
    return int(highest)


# --- the writer ----------------------------------------------------------------


@dataclass(frozen=True)
class LoadStats:
    committed: int  # transfers committed (= the highest txn number in the ledger)
    rolled_back: int  # transfers deliberately rolled back after all their writes
    seconds: float
    error: str | None

    @property
    def per_second(self) -> float:
        return self.committed / self.seconds if self.seconds else 0.0


class BankLoad:
    """Transfers in a background thread until stopped; a context manager.

    ``with BankLoad(connect, dialect) as load: ...`` creates the tables (if
    ``start`` finds them not yet created by ``setup``), starts the writer,
    returns once the first transfer committed, and stops it on exit
    (``load.stats`` then holds the ``LoadStats``).
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        dialect: Dialect,
        *,
        accounts: int = DEFAULT_ACCOUNTS,
        initial_balance: int = DEFAULT_INITIAL_BALANCE,
        max_amount: int = 1000,
        rollback_every: int = 10,
        seed: int | None = None,
    ) -> None:
        self.connect = connect
        self.dialect = dialect
        self.accounts = accounts
        self.initial_balance = initial_balance
        self.max_amount = max_amount
        self.rollback_every = rollback_every
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._committed = 0
        self._rolled_back = 0
        self._error: BaseException | None = None
        self._started_at = 0.0
        self._is_set_up = False
        self.stats: LoadStats | None = None

    @classmethod
    def for_database(cls, db: Any, **options: Any) -> BankLoad:
        connect, dialect = for_database(db)
        return cls(connect, dialect, **options)

    # -- lifecycle

    def setup(self) -> None:
        connection = self.connect()
        try:
            set_autocommit(connection)
            create_bank(connection, self.dialect, accounts=self.accounts, initial_balance=self.initial_balance)
        finally:
            connection.close()
        self._is_set_up = True

    def start(self, *, timeout: float = 10.0) -> BankLoad:
        if self._thread is not None:
            raise RuntimeError("load already started")
        if not self._is_set_up:
            self.setup()
        self._stop.clear()
        self._started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"bank-load-{self.dialect.name}", daemon=True)
        self._thread.start()
        self.wait_for_commits(1, timeout=timeout)
        return self

    def stop(self, *, raise_errors: bool = True) -> LoadStats:
        if self._thread is None:
            raise RuntimeError("load not started")
        self._stop.set()
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise RuntimeError("load writer did not stop within 30 s")
        self._thread = None
        error = f"{type(self._error).__name__}: {self._error}" if self._error else None
        self.stats = LoadStats(self._committed, self._rolled_back, time.monotonic() - self._started_at, error)
        if error and raise_errors:
            raise RuntimeError(f"load writer failed after {self._committed} transfers: {error}") from self._error
        return self.stats

    def __enter__(self) -> BankLoad:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._thread is not None:
            self.stop(raise_errors=exc_type is None)

    # -- observation

    @property
    def committed(self) -> int:
        """Transfers committed so far (read at any time, from any thread)."""
        return self._committed

    def wait_for_commits(self, more: int, *, timeout: float = 10.0) -> int:
        """Block until ``more`` further transfers committed; returns the new count."""
        target = self._committed + more
        deadline = time.monotonic() + timeout
        while self._committed < target:
            if self._error is not None:
                raise RuntimeError(f"load writer failed: {self._error}") from self._error
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError("load writer is not running")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{more} transfers did not commit within {timeout} s ({self._committed} so far)")
            time.sleep(0.002)
        return self._committed

    def check_invariants(self, connection: Any) -> int:
        return check_invariants(connection, accounts=self.accounts, initial_balance=self.initial_balance)

    def invariant_violations(self, connection: Any) -> list[str]:
        return invariant_violations(connection, accounts=self.accounts, initial_balance=self.initial_balance)

    # -- the thread

    def _run(self) -> None:
        connection = None
        try:
            connection = self.connect()
            set_autocommit(connection)
            cursor = connection.cursor()
            attempt = 0
            while not self._stop.is_set():
                attempt += 1
                txn = self._committed + 1
                source, target = self._random.sample(range(1, self.accounts + 1), 2)
                amount = self._random.randint(1, self.max_amount)
                cursor.execute("BEGIN")
                cursor.execute("UPDATE accounts SET balance = balance - %s WHERE id = %s", (amount, source))
                cursor.execute("UPDATE accounts SET balance = balance + %s WHERE id = %s", (amount, target))
                cursor.execute(
                    "INSERT INTO ledger (txn, account, delta) VALUES (%s, %s, %s), (%s, %s, %s)",
                    (txn, source, -amount, txn, target, amount),
                )
                if self.rollback_every and attempt % self.rollback_every == 0:
                    cursor.execute("ROLLBACK")
                    self._rolled_back += 1
                    continue
                cursor.execute("COMMIT")
                self._committed = txn
        except BaseException as exc:  # reported by stop()/wait_for_commits()
            self._error = exc
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):  # closing after a failure must not hide it
                    connection.close()
