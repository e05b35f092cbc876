"""Critical path of a 10,000-span trace: assemble + critical path, median and p95 of 50 runs.

Target (correlator issue): at most 50 ms on the 2-core machine.
Run by hand:  .venv/bin/python bench/critical_path.py
"""

from __future__ import annotations

import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlators.critical_path import critical_path
from correlators.model import Span, SpanKind, Trace
from correlators.traces import assemble

MS = 1_000_000


def wide_trace(spans: int = 10_000, seed: int = 1) -> Trace:
    """Fan-out ~4 per span to depth ~7, children partly parallel, partly sequential."""
    rng = random.Random(seed)
    trace_id = "cd" * 16
    root = Span(trace_id, f"{1:016x}", None, "frontend", "GET /", 0, 10_000 * MS, kind=SpanKind.SERVER)
    out = [root]
    frontier = [root]
    while len(out) < spans:
        parent = frontier.pop(0)
        width = parent.end_ns - parent.start_ns
        for _ in range(4):
            if len(out) >= spans:
                break
            start = parent.start_ns + rng.randrange(0, max(1, width // 2))
            end = min(parent.end_ns, start + rng.randrange(1, max(2, width // 2)))
            child = Span(
                trace_id,
                f"{len(out) + 1:016x}",
                parent.span_id,
                f"svc{len(out) % 13}",
                f"op {len(out) % 50}",
                start,
                end,
                kind=SpanKind.SERVER,
            )
            out.append(child)
            frontier.append(child)
    return Trace(trace_id, out)


def main() -> None:

    trace = wide_trace()
    times = []
    path_only = []
    for _ in range(50):
        began = time.perf_counter()
        tree = assemble(trace)
        assembled = time.perf_counter()
        critical_path(tree)
        done = time.perf_counter()
        times.append((done - began) * 1000)
        path_only.append((done - assembled) * 1000)
    times.sort()
    path_only.sort()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(
        f"10,000-span trace, critical path alone: median {statistics.median(path_only):.1f} ms, "
        f"p95 {path_only[int(len(path_only) * 0.95) - 1]:.1f} ms"
    )
    print(
        f"10,000-span trace, assemble + critical path: median {statistics.median(times):.1f} ms, "
        f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
