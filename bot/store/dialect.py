"""What differs between SQLite and PostgreSQL: the engine, the insert and the upsert.

Everything else in the store is plain SQLAlchemy Core that both dialects run unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, case, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from bot.store.schema import resources, spans, traces

READ_CACHE_MIB = 4
WRITER_CACHE_MIB = 8
"""SQLite's own page cache, per connection. The kernel caches the file as well, outside
the process's RSS: the writer wrote as fast with 8 MiB as with 16 or 32 (bench/ingest.py:
45-47k against 37-48k spans/s, writer 58 against 67 MB; 16 against 32 MiB saved 16 MB
before); readers take 4 MiB."""


def make_engine(url: str, *, echo: bool = False, page_cache_mib: int = READ_CACHE_MIB) -> Engine:
    """An engine for ``url``; for a SQLite file, its folder is created and every
    connection gets WAL, synchronous=NORMAL and a page cache of ``page_cache_mib``: the
    writer's is large (see ``_sqlite_pragmas``); readers (the API, the watcher, the
    scheduler) keep a small one each, since a pool of five 32 MiB caches filled by a
    30-day SLI scan cost the collector ~80 MB of RSS in bench/ingest.py."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
    event.listen(engine, "connect", functools.partial(_sqlite_pragmas, cache_kib=page_cache_mib * 1024))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _: Any, *, cache_kib: int) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the query API) run while the writer commits; NORMAL syncs at
    # checkpoints only, which is safe in WAL mode (a crash loses at most the last commits).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Random trace ids make every insert touch a random index page: the page cache keeps
    # the hot ones, and rarer, larger checkpoints rewrite each page once instead of once
    # per commit (measured in bench/store_insert.py). See WRITER_CACHE_MIB for its size.
    cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    cursor.execute("PRAGMA wal_autocheckpoint=8192")
    cursor.close()


def insert_ignore_sql(engine: Engine, table: str, columns: Sequence[str]) -> str:
    """INSERT … ON CONFLICT DO NOTHING in the driver's own parameter style, for the
    driver's executemany with plain tuples: SQLAlchemy's per-row parameter processing
    costs more than SQLite's own insert (measured in bench/store_insert.py)."""
    placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    values = ", ".join([placeholder] * len(columns))
    # table and columns are our own constants, never input
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) ON CONFLICT DO NOTHING"  # noqa: S608


RESOURCE_REFRESH_NS = 3600 * 1_000_000_000
"""A resource's ``seen_ns`` is rewritten at most this often: every transaction names its
resources, and a row lock plus a write for each of them every time would cost more than
the spans."""


def resource_upsert_sql(engine: Engine) -> str:
    """Insert resources by id; one already stored only has ``seen_ns`` moved on, once it is
    an hour old. Parameters: (id, seen_ns, data).

    Retention deletes resources unseen for longer than traces are kept (plus a margin),
    so a resource that spans still name is always fresh enough to survive it; and because
    this statement updates (and so locks) any row old enough to be deleted, a purge and a
    write that race over one resource are ordered by PostgreSQL's row lock, as SQLite's
    single writer orders them anyway."""
    placeholder = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    table = resources.name
    # table and column names are our own constants, never input
    return (
        f"INSERT INTO {table} (id, seen_ns, data) VALUES ({placeholder}, {placeholder}, {placeholder}) "  # noqa: S608
        f"ON CONFLICT (id) DO UPDATE SET seen_ns = excluded.seen_ns "
        f"WHERE {table}.seen_ns < excluded.seen_ns - {RESOURCE_REFRESH_NS}"
    )


def trace_upsert(engine: Engine) -> Any:
    """Insert trace rows; a trace already stored (late spans) is merged: its window and
    error flag widened, its counts and root recomputed from the spans table, which the
    same transaction has just written, so re-sent spans are never counted twice. The
    sampling decision and the first journey, session and user seen are kept; the arrival
    is the latest write's, so a trace still taking late spans is never purged half-way."""
    is_postgres = engine.dialect.name == "postgresql"
    statement = (postgresql.insert if is_postgres else sqlite.insert)(traces)
    new = statement.excluded
    least = func.least if is_postgres else func.min
    greatest = func.greatest if is_postgres else func.max
    start = least(traces.c.start_ns, new.start_ns)
    end = greatest(traces.c.end_ns, new.end_ns)
    return statement.on_conflict_do_update(
        index_elements=[traces.c.trace_id],
        set_={
            "start_ns": start,
            "end_ns": end,
            "duration_ns": end - start,
            "span_count": _count_spans(),
            "orphan_count": _count_spans(spans.c.orphan),
            "root_service": _root(spans.c.service),
            "root_name": _root(spans.c.name),
            "error": traces.c.error | new.error,
            "arrived_ns": greatest(func.coalesce(traces.c.arrived_ns, 0), new.arrived_ns),
            "journey": func.coalesce(traces.c.journey, new.journey),
            "session_id": func.coalesce(traces.c.session_id, new.session_id),
            "user_id": func.coalesce(traces.c.user_id, new.user_id),
        },
    )


def _count_spans(*where: Any) -> Any:
    return (
        select(func.count())
        .select_from(spans)
        .where(spans.c.trace_id == traces.c.trace_id, *where)
        .scalar_subquery()
    )


def _root(column: Any) -> Any:
    """The root as ``correlators.model.root_of`` picks it: the earliest parentless span,
    else (broken propagation) the earliest span."""
    has_parent = case((spans.c.parent_span_id.is_(None), 0), else_=1)
    return (
        select(column)
        .where(spans.c.trace_id == traces.c.trace_id)
        .order_by(has_parent, spans.c.start_ns)
        .limit(1)
        .scalar_subquery()
    )
