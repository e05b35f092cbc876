"""Memory of spans read back from the store: what an investigation holds per span.

Writes bench/ingest.py's batches (64 x 512 spans, one attribute unique to each span) into
a fresh SQLite store, then reads every trace back with ``Store.get_traces`` under
tracemalloc and reports the bytes retained per span read, the peak during the read, and
the read time per span (traced, so slower than untraced).

Run by hand:  .venv/bin/python bench/read_memory.py
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import ingest  # noqa: E402

from bot.store import Store  # noqa: E402
from bot.telemetry.otlp import decode_traces  # noqa: E402
from correlators.model import Span, Trace  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="jw-read-") as folder:
        store = Store(f"sqlite:///{folder}/read.db")
        store.migrate()
        ids: list[str] = []
        for seed in range(64):
            body, trace_ids = ingest.batch_template(seed)
            by_trace: dict[str, list[Span]] = defaultdict(list)
            for span in decode_traces(ingest.fresh(body, trace_ids), "protobuf").items:
                by_trace[span.trace_id].append(span)
            batch = [Trace(t, spans, journey="checkout") for t, spans in by_trace.items()]
            ids += [t.trace_id for t in batch]
            store.write_traces(batch)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        began = time.perf_counter()
        found = store.get_traces(ids)
        took = time.perf_counter() - began
        gc.collect()
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        spans = sum(len(t.spans) for t in found)
        store.close()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"{spans:,} spans in {len(found):,} traces read: {(retained - before) / spans:,.0f} B a span "
        f"retained, {(peak - before) / spans:,.0f} B peak, {took / spans * 1e6:.0f} us a span (traced)"
    )


if __name__ == "__main__":
    main()
