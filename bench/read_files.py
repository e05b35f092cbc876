"""How fast `journeywatch analyze` reads its input files: read_spans, read_logs and
read_metrics on one case folder (traces.jsonl.gz, logs.jsonl.gz, metrics.jsonl.gz, each
where present), median of a few runs, with what each read skipped.

Reading was most of the command's time on the real cases (issue 12: median <= 2 s a case
through the CLI), so this isolates it from the analysis.

``--all-metrics`` reads the metrics file of every case under the datasets folder once
and prints the CPU time it took (the VM is shared: wall time there says more about the
neighbours) with a digest of every series read (names, labels, units, points), so two
trees can be compared for speed and for sameness.

Run by hand:  .venv/bin/python bench/read_files.py [--case DIR] [--runs 5] [--all-metrics]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.telemetry_files import FileRead, read_logs, read_metrics, read_spans  # noqa: E402

DEFAULT_CASE = ROOT.parent / "shared" / "datasets" / "nezha" / "ob-2022-08-22-0353"
READERS: list[tuple[str, str, Callable[[Path], FileRead[Any]]]] = [
    ("traces.jsonl.gz", "spans", read_spans),
    ("logs.jsonl.gz", "log records", read_logs),
    ("metrics.jsonl.gz", "series", read_metrics),
]


def _time(read: Callable[[Path], FileRead[Any]], path: Path, runs: int) -> tuple[float, FileRead[Any]]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = read(path)
        times.append(time.perf_counter() - began)
    assert result is not None
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="a case folder")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--all-metrics", action="store_true", help="every case's metrics, once")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.all_metrics:
        all_metrics(args.case.parent)
        return
    print(f"case: {args.case.name}, median of {args.runs} runs")
    for name, unit, read in READERS:
        path = args.case / name
        if not path.exists():
            continue
        seconds, result = _time(read, path, args.runs)
        count = len(result.items)
        skipped = f", skipped {result.gap.skipped}" if result.gap else ""
        rate = f"{count / seconds:>10,.0f} {unit}/s"
        print(f"  {name:18} {count:>7,} {unit:12} {seconds:6.3f} s  {rate}{skipped}")


def all_metrics(datasets: Path) -> None:
    digest = hashlib.sha256()
    seconds, count = 0.0, 0
    paths = sorted(datasets.glob("*/metrics.jsonl.gz"))
    for path in paths:
        began = time.process_time()
        read = read_metrics(path)
        seconds += time.process_time() - began
        for series in sorted(read.items, key=lambda s: (s.name, sorted(s.labels.items()))):
            points = [(p.time_ns, p.value) for p in series.points]
            digest.update(
                json.dumps([series.name, sorted(series.labels.items()), series.unit, points]).encode()
            )
            count += 1
    found = digest.hexdigest()[:12]
    print(f"{len(paths)} metrics files, {count:,} series in {seconds:.2f} s CPU, digest {found}")


if __name__ == "__main__":
    main()
