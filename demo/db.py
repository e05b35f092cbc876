"""The shared SQLite database, reached through CLIENT spans named like the real thing.

Each statement is a CLIENT span ``"{operation} shop.{table}"`` with ``db.system=sqlite``,
``db.name=shop``, ``db.operation`` and the parameterized ``db.statement`` (values stay
out of telemetry). The bot sends no spans for a database, so it names the dependency
from those attributes: ``sqlite:shop``, one node shared by every service that queries it.

The ``db-slow`` fault adds 300-600 ms inside the span, before the statement runs: the
database is slow to answer, every caller waits, and the time is charged to
``sqlite:shop``, not to the caller.

A statement may also say what it costs a database server (``server_s``): SQLite in the
process answers in microseconds, where a real server over the network takes a round trip
and, for a scan, its reading. Only the ``n-plus-one`` fault's statements say it, so the
shop's ordinary statements keep SQLite's timing.
"""

from __future__ import annotations

import queue
import random
import sqlite3
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from demo.control import FaultSwitches
from demo.data import DATABASE_NAME

DB_SLOW = "db-slow"
SLOW_S = (0.3, 0.6)

tracer = trace.get_tracer("demo.db")


class DatabaseError(Exception):
    """A statement failed; the message names the table and SQLite's reason."""


class Database:
    def __init__(self, path: str, faults: FaultSwitches) -> None:
        self._path = path
        self._faults = faults
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()

    def query(
        self, sql: str, params: tuple[Any, ...] = (), *, table: str, server_s: float = 0.0
    ) -> list[dict[str, Any]]:
        return self._run(sql, params, table=table, fetch=True, server_s=server_s)

    def execute(self, sql: str, params: tuple[Any, ...] = (), *, table: str, server_s: float = 0.0) -> None:
        self._run(sql, params, table=table, fetch=False, server_s=server_s)

    def _run(
        self, sql: str, params: tuple[Any, ...], *, table: str, fetch: bool, server_s: float
    ) -> list[dict[str, Any]]:
        operation = sql.split(None, 1)[0].upper()
        with tracer.start_as_current_span(
            f"{operation} {DATABASE_NAME}.{table}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": "sqlite",
                "db.name": DATABASE_NAME,
                "db.operation": operation,
                "db.sql.table": table,
                "db.statement": sql,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if self._faults.on(DB_SLOW):
                time.sleep(random.uniform(*SLOW_S))
            if server_s:
                time.sleep(server_s)
            connection = self._connection()
            try:
                cursor = connection.execute(sql, params)
                rows = [dict(row) for row in cursor.fetchall()] if fetch else []
                connection.commit()
            except sqlite3.Error as exc:
                cause = f"{table}: {type(exc).__name__}: {exc}"
                span.set_status(Status(StatusCode.ERROR, cause))
                span.set_attribute("error.type", type(exc).__name__)
                connection.close()
                raise DatabaseError(cause) from exc
            self._pool.put(connection)
            if fetch:
                span.set_attribute("db.response.returned_rows", len(rows))
            return rows

    def _connection(self) -> sqlite3.Connection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            connection = sqlite3.connect(self._path, timeout=5.0, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            return connection
