"""Time and memory of drawing a 60-row trace waterfall PNG (``render_png``).

Reports the first render (it imports the drawing library), the median of 20 warm renders,
and, in a process that has already imported the server, the resident memory one render
and eleven renders leave behind: the main process draws for every incident report.

Run by hand:  .venv/bin/python bench/waterfall.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bot.server  # noqa: E402, F401 - the main process's imports, for the memory figure
from bot.render.waterfall import render_png, waterfall_rows  # noqa: E402
from correlators.model import SpanKind, Trace  # noqa: E402
from tests.spantree import TraceBuilder  # noqa: E402


def sixty_rows() -> Trace:
    b = TraceBuilder()
    root = b.span("frontend", "GET /search", 0, 300, kind=SpanKind.SERVER)
    for i in range(59):
        b.span(f"svc{i % 7}", f"GET /items/{i}", i * 4, i * 4 + 40, parent=root, error=i % 13 == 0)
    return b.trace()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    trace = sixty_rows()
    waterfall_rows(trace)  # the layout is not what is measured
    before = rss_mb()
    began = time.perf_counter()
    png = render_png(trace)
    first = time.perf_counter() - began
    after_one = rss_mb()
    warm = []
    for _ in range(20):
        began = time.perf_counter()
        render_png(trace)
        warm.append(time.perf_counter() - began)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"first render {first * 1000:.0f} ms, warm median {statistics.median(warm) * 1000:.0f} ms; "
        f"PNG {len(png):,} B"
    )
    print(
        f"RSS {before:.0f} MB after importing the server: +{after_one - before:.1f} MB after one render, "
        f"+{rss_mb() - before:.1f} MB after 21"
    )


if __name__ == "__main__":
    main()
