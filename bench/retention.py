"""Retention run time: one run of the ``retention`` job over a store of a few days.

The store holds ``--days`` days of span metrics in the collector's 10 s buckets for
``--series`` series (journey, service, operation), ``--traces`` traces of 8 spans and as
many log records, all taken at one time by a fake clock. The first run is timed at the
moment the traces and logs have expired and the span metrics older than the raw tier are
due to be merged into 5-minute buckets; the second, right after, has nothing left to do
(what every later run costs until more expires). The longest merge
window is what the writer may wait for: its transaction holds SQLite's write lock.

Run by hand:  .venv/bin/python bench/retention.py [--days 6] [--series 20] [--traces 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.changes import ChangeLog  # noqa: E402
from bot.incidents.expiry import IncidentExpiry  # noqa: E402
from bot.retention import Retention  # noqa: E402
from bot.settings import RetentionSettings  # noqa: E402
from bot.slo.state import JourneyStates  # noqa: E402
from bot.store import Store, expiry  # noqa: E402
from bot.telemetry.spanmetrics import SpanMetricRow  # noqa: E402
from correlators.model import LogRecord, Span, SpanKind, Trace  # noqa: E402

HOUR = 3600
S = 1_000_000_000
START = 1_800_000_000


def fill(store: Store, days: int, series: int, traces: int) -> int:
    """Span metrics from START for ``days``, traces and logs at START; returns rows."""
    buckets = days * 24 * HOUR // 10
    rows = 0
    for lo in range(0, buckets, 8640):
        batch = [
            SpanMetricRow(START + 10 * b, "checkout", f"svc-{k}", "GET /", k == 0, requests=3, errors=b % 2)
            for b in range(lo, min(lo + 8640, buckets))
            for k in range(series)
        ]
        store.write_span_metrics(batch)
        rows += len(batch)
    for lo in range(0, traces, 1000):
        batch_traces = []
        for n in range(lo, min(lo + 1000, traces)):
            trace_id = f"{n:032x}"
            spans = [
                Span(
                    trace_id,
                    f"{i + 1:016x}",
                    None if i == 0 else f"{1:016x}",
                    f"svc-{i}",
                    "op",
                    START * S,
                    START * S + S,
                    SpanKind.SERVER,
                )
                for i in range(8)
            ]
            batch_traces.append(Trace(trace_id, spans, journey="checkout"))
        store.write_traces(batch_traces)
        store.write_logs(
            [
                LogRecord(START * S, "svc-0", f"line {n}", trace_id=f"{n:032x}")
                for n in range(lo, min(lo + 1000, traces))
            ]
        )
    return rows


WINDOWS: list[float] = []
"""Seconds each merge window's work took (its transaction holds SQLite's write lock)."""


def timed_windows() -> None:
    merge = expiry._merge_window

    def timed(*args: object) -> int:
        began = time.perf_counter()
        try:
            return merge(*args)  # type: ignore[arg-type]
        finally:
            WINDOWS.append(time.perf_counter() - began)

    expiry._merge_window = timed  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--traces", type=int, default=20_000)
    args = parser.parse_args()
    timed_windows()
    now = [float(START)]
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/r.db", clock=lambda: int(now[0] * S))
        store.migrate()
        rows = fill(store, args.days, args.series, args.traces)
        changes = ChangeLog(store.engine, clock=lambda: now[0])
        retention = Retention(
            RetentionSettings(),
            store,
            IncidentExpiry(store.engine),
            changes,
            JourneyStates(store.engine),
            clock=lambda: now[0],
        )
        now[0] = START + args.days * 24 * HOUR
        for label in ("first run", "second run"):
            WINDOWS.clear()
            began = time.perf_counter()
            run = retention.run()
            took = time.perf_counter() - began
            print(
                f"{label}: {took:.2f} s; {rows} metric rows, {args.traces} traces in; deleted "
                f"{run.deleted.get('traces', 0)} traces, {run.deleted.get('logs', 0)} logs, merged away "
                f"{run.deleted.get('span_metrics_merged', 0)} metric rows in {len(WINDOWS)} windows, "
                f"the longest {max(WINDOWS, default=0):.3f} s; left {run.sizes}"
            )
        store.close()


if __name__ == "__main__":
    main()
