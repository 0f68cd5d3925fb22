"""Run hand-written SQL as PostgreSQL prepared statements, so PostgreSQL does not plan it on every request.

PostgreSQL plans each statement it receives, and for the joins on the
annotator's path planning cost more than running. On the study that
benchmarks/annotation_cpu.py seeds, EXPLAIN ANALYZE (PostgreSQL 15) gave
0.47 ms of planning against 0.04 ms of execution for the task lookup, and
0.4 ms against 0.3 ms for the task page's counts. A statement prepared
once per database connection skips parsing on each EXECUTE. After five
executions, PostgreSQL's default `plan_cache_mode = auto` reuses a generic
plan when its estimated cost is no higher than that of the custom plans,
which skips planning too. Otherwise it plans each EXECUTE for its values,
as for unprepared SQL. In a study with 100,000 judgments by three
annotators, the task page's counts and the annotator's state kept custom
plans that way, whose generic ones ran about 5 and 20 times slower.

Prepared statements live in the database session. A pooler in transaction
mode (PgBouncer's `pool_mode = transaction`, for one) hands each
transaction a different server session, where the statement does not
exist, so such a set-up must turn them off with
HUMEVAL_PREPARED_STATEMENTS=0. Other databases run the SQL as given:
Python's sqlite3 module keeps its own cache of compiled statements.
"""

import functools
import hashlib
import re

from django.conf import settings
from django.db import connection

_PLACEHOLDER = re.compile(r"%s")


@functools.lru_cache(maxsize=256)
def _statement_parts(sql: str) -> tuple[str, str, str]:
    """Return the statement's name, its PREPARE command and the EXECUTE to run in its place."""
    if "%%" in sql:
        raise ValueError("Prepared SQL must not contain a literal percent sign.")
    name = "humeval_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
    numbers = iter(range(1, sql.count("%s") + 1))
    body = _PLACEHOLDER.sub(lambda _match: f"${next(numbers)}", sql)
    placeholders = ", ".join(["%s"] * sql.count("%s"))
    execute = f"EXECUTE {name}({placeholders})" if placeholders else f"EXECUTE {name}"
    return name, f"PREPARE {name} AS {body}", execute


def prepared(sql: str) -> str:
    """Return the SQL to run in place of `sql`, with the same %s parameters.

    On PostgreSQL, with HUMEVAL_PREPARED_STATEMENTS on, that is an EXECUTE
    of a statement prepared on the current connection, which this prepares
    on first use. Otherwise it is `sql` itself. PostgreSQL infers each
    parameter's type from its place in `sql`, so a parameter must be
    compared with a column or be cast, and never be a bare select-list item.
    """
    if connection.vendor != "postgresql" or not settings.PREPARED_STATEMENTS:
        return sql
    name, prepare, execute = _statement_parts(sql)
    connection.ensure_connection()
    # Keyed by the DB-API connection object: Django replaces it when it
    # reconnects (CONN_MAX_AGE, a closed connection), and the new session
    # has no prepared statements. A PREPARE survives the rollback of the
    # transaction it ran in, so the record stays true after a rollback.
    known = getattr(connection, "_humeval_prepared", None)
    if known is None or known[0] is not connection.connection:
        known = (connection.connection, set())
        connection._humeval_prepared = known
    if name not in known[1]:
        with connection.cursor() as cursor:
            cursor.execute(prepare)
        known[1].add(name)
    return execute
