"""The consistency-under-load harness, on both engines: the books balance, and the check has teeth."""

from __future__ import annotations

import time

import pytest

from tests.support.load import (
    BankLoad,
    check_invariants,
    create_bank,
    for_database,
    insert_copy,
    invariant_violations,
    query,
    read_bank,
)
from tests.support.services import fresh_mysql_database, fresh_postgres_database

pytestmark = pytest.mark.integration

ENGINES = {
    "postgres": ("pg_database", fresh_postgres_database),
    "mysql": ("mysql_database", fresh_mysql_database),
}


@pytest.fixture(params=list(ENGINES))
def engine(request):
    fixture_name, fresh = ENGINES[request.param]
    return request.getfixturevalue(fixture_name), fresh


def violations_of_copy(connection, dialect, accounts_rows, ledger_rows):
    """What a restore of such a copy would hold: load it into empty tables, check it."""
    create_bank(connection, dialect, fill=False)
    insert_copy(connection, accounts_rows, ledger_rows)
    return invariant_violations(connection)


def test_books_balance_on_the_live_database_after_a_second_of_load(engine):
    db, _fresh = engine
    connect, _dialect = for_database(db)

    with BankLoad.for_database(db, seed=1) as load:
        time.sleep(1.0)
    stats = load.stats

    assert stats is not None
    assert stats.error is None
    assert stats.committed > 50, stats
    assert stats.rolled_back > 0
    connection = connect()
    try:
        assert check_invariants(connection) == stats.committed
        accounts_rows, ledger_rows = read_bank(connection)
    finally:
        connection.close()
    assert sum(balance for _id, balance in accounts_rows) == 100 * 10_000
    assert len(ledger_rows) == 2 * stats.committed  # rolled-back transfers left nothing
    if db.scheme == "postgresql":  # the lead's tests hold pg8000.native connections
        native = db.connect()
        try:
            assert load.check_invariants(native) == stats.committed
        finally:
            native.close()


def test_a_snapshot_copy_balances_and_a_torn_copy_does_not(engine):
    """Read both tables in one snapshot: consistent. Read them moments apart: caught."""
    db, fresh = engine
    connect, dialect = for_database(db)

    with BankLoad(connect, dialect, seed=2) as load:
        reader = connect()
        try:
            # One snapshot, with transfers committing between the two reads.
            before = load.committed
            for statement in dialect.begin_snapshot:
                query(reader, statement)
            accounts_rows = query(reader, "SELECT id, balance FROM accounts ORDER BY id")
            load.wait_for_commits(30)
            ledger_rows = query(reader, "SELECT id, txn, account, delta, at FROM ledger ORDER BY id")
            query(reader, "COMMIT")
            after = load.committed
            snapshot = (accounts_rows, ledger_rows)

            # Torn: each table read in its own statement-level snapshot, moments apart.
            torn_accounts = query(reader, "SELECT id, balance FROM accounts ORDER BY id")
            load.wait_for_commits(30)
            torn_ledger = query(reader, "SELECT id, txn, account, delta, at FROM ledger ORDER BY id")
        finally:
            reader.close()

    with fresh() as target:
        connection = for_database(target)[0]()
        try:
            snapshot_problems = violations_of_copy(connection, dialect, *snapshot)
            problems = violations_of_copy(connection, dialect, torn_accounts, torn_ledger)
        finally:
            connection.close()

    assert snapshot_problems == []
    transfers_in_snapshot = max(row[1] for row in snapshot[1])
    assert before <= transfers_in_snapshot <= after
    assert any("disagree with the ledger" in problem for problem in problems), problems
    # The total alone cannot see it: every committed transfer conserves money.
    assert not any(problem.startswith("total balance") for problem in problems)


def test_violations_name_what_is_wrong(pg_database):
    connect, dialect = for_database(pg_database)
    connection = connect()
    try:
        create_bank(connection, dialect, accounts=3, initial_balance=100)
        query(connection, "UPDATE accounts SET balance = 90 WHERE id = 1")
        query(connection, "INSERT INTO ledger (txn, account, delta) VALUES (1, 1, -10), (1, 2, 10), (3, 2, 5)")
        query(connection, "DELETE FROM accounts WHERE id = 3")

        problems = invariant_violations(connection, accounts=3, initial_balance=100)
    finally:
        connection.close()

    assert problems == [
        "accounts: expected ids 1..3, missing [3], unexpected []",
        "total balance 190 != initial total 300",
        "1 account(s) disagree with the ledger: #2: balance 100 but ledger says 115",
        "ledger deltas sum to 5, not 0",
        "ledger txns are not exactly 1..K: 2 distinct, from 1 to 3",
        "torn transfers (txn, rows, sum): (3, 1, 5)",
    ]
