"""Store insert speed: N spans in 512-span batches into a fresh database, in spans/s.

Each batch is 64 traces x 8 spans over 4 services, 10 attributes a span (strings, ints,
a float, a bool, one value unique to the span), a resource, an event on every fourth
span: the shape bench/ingest.py sends. Reported, for the same batches:

- write_traces: ``Store.write_traces`` per batch, one transaction each (rows built inside);
- coalesced: rows built first, then written 10 batches a transaction, as the writer
  coalesces them under load (``Store.write_rows``);
- build only: ``to_rows`` alone (the request-side cost when the writer is a process);
- with ``--core``: the span insert through SQLAlchemy Core's insertmanyvalues instead of
  the driver's executemany, to re-check the choice made in ``bot.store.dialect``.

Run by hand:  .venv/bin/python bench/store_insert.py [--spans 200000] [--url URL]
A PostgreSQL URL must name an empty database (tables are created in it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import delete  # noqa: E402
from sqlalchemy.dialects import postgresql, sqlite  # noqa: E402

from bot.store import Store  # noqa: E402
from bot.store.rows import SPAN_COLUMNS, Rows, to_rows  # noqa: E402
from bot.store.schema import spans as spans_table  # noqa: E402
from bot.store.schema import traces as traces_table  # noqa: E402
from correlators.model import Span, SpanEvent, SpanKind, StatusCode, Trace  # noqa: E402

BATCH = 512
SPANS_PER_TRACE = 8
SERVICES = ("frontend", "cart", "payments", "inventory")


def make_batch(seed: int, start_ns: int) -> list[Trace]:
    traces = []
    for t in range(BATCH // SPANS_PER_TRACE):
        trace_id = os.urandom(16).hex()
        ids = [os.urandom(8).hex() for _ in range(SPANS_PER_TRACE)]
        spans = [make_span(trace_id, ids, i, seed, start_ns + t * 1_000_000) for i in range(8)]
        traces.append(Trace(trace_id, spans, journey="checkout", session_id=f"s-{seed}-{t}"))
    return traces


def make_span(trace_id: str, ids: list[str], i: int, seed: int, start_ns: int) -> Span:
    service = SERVICES[i % len(SERVICES)]
    begin = start_ns + i * 2_000_000
    return Span(
        trace_id=trace_id,
        span_id=ids[i],
        parent_span_id=ids[i - 1] if i else None,
        service=service,
        name=f"GET /api/{service}/{i}",
        start_ns=begin,
        end_ns=begin + (20 - i) * 1_000_000,
        kind=SpanKind.SERVER if i % 2 == 0 else SpanKind.CLIENT,
        status=StatusCode.ERROR if (seed + i) % 50 == 0 else StatusCode.UNSET,
        instance=f"{service}-{i % 3}",
        service_version="1.4.2",
        region="eu-west-1",
        language="python",
        attributes={
            "http.request.method": "GET",
            "http.route": f"/api/{service}/{{id}}",
            "http.response.status_code": 200,
            "server.address": f"{service}.internal",
            "net.peer.port": 8080,
            "cart.items": i + 1,
            "feature_flag.new_cart": bool(i % 2),
            "db.system": "postgresql",
            "payment.amount": 20.5 + i,
            "order.id": f"o-{seed}-{i}-{ids[i]}",
        },
        resource={"service.name": service, "host.name": f"host-{i % 3}"},
        events=[SpanEvent("retry", begin + 1000, {"attempt": 1})] if i % 4 == 0 else [],
    )


def timed(label: str, spans: int, action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    rate = spans / (time.perf_counter() - began)
    print(f"{label:<46} {rate:>10,.0f} spans/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--url", help="database URL (default: a fresh SQLite file per run)")
    parser.add_argument("--core", action="store_true", help="also time the Core span insert")
    args = parser.parse_args()
    count = max(1, args.spans // BATCH)
    total = count * BATCH
    base = time.time_ns()
    batches = [make_batch(seed, base + seed * 1_000_000_000) for seed in range(count)]
    rows = [to_rows(trace_batch=b) for b in batches]
    runs: list[tuple[str, Callable[[Store], object]]] = [
        ("write_traces, 1 batch/transaction", lambda store: _each(store, batches)),
        ("coalesced, 10 batches/transaction", lambda store: _coalesced(store, rows)),
    ]
    if args.core:
        runs.append(("Core insertmanyvalues, 1 batch/tx", lambda store: _core(store, rows)))
    with tempfile.TemporaryDirectory(prefix="jw-store-bench-") as tmp:
        print(f"{total:,} spans in {count} batches of {BATCH}")
        for n, (label, run) in enumerate(runs):
            store = Store(args.url or f"sqlite:///{tmp}/bench-{n}.db")
            store.migrate()
            _clear(store)
            timed(f"{label} ({store.engine.dialect.name})", total, partial(run, store))
            store.close()
    timed("build rows only (to_rows)", total, lambda: [to_rows(trace_batch=b) for b in batches])


def _each(store: Store, batches: list[list[Trace]]) -> None:
    for batch in batches:
        store.write_traces(batch)


def _coalesced(store: Store, rows: list[Rows]) -> None:
    for i in range(0, len(rows), 10):
        joined = Rows()
        for part in rows[i : i + 10]:
            joined.extend(part)
        store.write_rows(joined)


def _core(store: Store, rows: list[Rows]) -> None:
    dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(spans_table).on_conflict_do_nothing()
    for part in rows:
        with store.engine.begin() as connection:
            connection.execute(statement, [dict(zip(SPAN_COLUMNS, s, strict=True)) for s in part.spans])
            connection.execute(store._trace_upsert, part.traces)


def _clear(store: Store) -> None:
    with store.engine.begin() as connection:
        connection.execute(delete(spans_table))
        connection.execute(delete(traces_table))


if __name__ == "__main__":
    main()
