"""How long one analysis takes on a large case (a generated shared-database incident).

- default: ~4,000 traces / ~50,000 spans and 10,000 log lines, ``analyze()`` in-process,
  median of 5 runs. Target (correlator issue): at most 2 s.
- ``--files``: the same kind of case scaled to ~60,000 spans, 4,000 log lines and ~10,000
  metric points, written as OTLP JSON Lines and analysed through the command a user types
  (`journeywatch analyze --format json`, a new process each run); then reading, trace
  assembly and analysis timed apart in-process, with cyclic garbage collection paused as
  the command pauses it. The command is timed twice: from source with no bytecode (an
  editable checkout under PYTHONDONTWRITEBYTECODE) and as installed (bytecode compiled, as
  `pip install` leaves it). Target (issue 13): at most 2 s.

Run by hand:  .venv/bin/python bench/analyze_speed.py [--files] [--runs 5]
"""

from __future__ import annotations

import argparse
import compileall
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.analysis import cycles_uncollected  # noqa: E402
from bot.config import AppConfig  # noqa: E402
from bot.telemetry.journeys import assemble_traces  # noqa: E402
from bot.telemetry_files import read_logs, read_metrics, read_spans  # noqa: E402
from correlators.analyze import AnalysisInput, analyze  # noqa: E402
from correlators.metrics import Window  # noqa: E402
from correlators.model import LogRecord  # noqa: E402
from tests.otlp_json import write_case  # noqa: E402
from tests.scenarios import SERVICES, Scenario, generate  # noqa: E402

T = TypeVar("T")


def _pad_logs(scenario: Scenario, total: int) -> None:
    """Routine INFO lines (a dozen templates) across the services, up to ``total``."""
    rng = random.Random(5)
    start, end = scenario.baseline[0], scenario.incident[1]
    templates = [
        "cache refresh of {} items took {} ms",
        "user {} viewed page {}",
        "flushed {} metrics in {} ms",
        "connection pool at {} of {}",
        "scheduled job {} finished in {} s",
        "queue depth {} after {} polls",
    ]
    while len(scenario.logs) < total:
        body = rng.choice(templates).format(rng.randrange(1000), rng.randrange(1000))
        scenario.logs.append(LogRecord(rng.randrange(start, end), rng.choice(SERVICES), body, "INFO", 9))


def in_process(runs: int) -> None:
    scenario = generate("shared_db_slow", 1, traces_per_minute=270)
    _pad_logs(scenario, 10_000)
    spans = sum(len(t.spans) for t in scenario.traces)
    given = AnalysisInput(
        traces=scenario.traces,
        logs=scenario.logs,
        metrics=scenario.metrics,
        baseline=Window(*scenario.baseline),
        incident=Window(*scenario.incident),
    )
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        report = analyze(given)
        times.append(time.perf_counter() - began)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(
        f"{len(scenario.traces):,} traces, {spans:,} spans, {len(scenario.logs):,} log lines, "
        f"{len(scenario.metrics)} metric series"
    )
    print(
        f"analyze: median {statistics.median(times):.2f} s, max {max(times):.2f} s "
        f"(top candidate {report.candidates[0].service}, {report.scope.kind}/{report.scope.level})"
    )


def _timed(run: Callable[[], T], runs: int) -> tuple[float, T]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    assert result is not None
    return statistics.median(times), result


def from_files(runs: int) -> None:
    scenario = generate("shared_db_slow", 1, traces_per_minute=330)
    _pad_logs(scenario, 4_000)
    spans = sum(len(t.spans) for t in scenario.traces)
    points = sum(len(s.points) for s in scenario.metrics)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        args = write_case(folder, scenario)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(
            f"{len(scenario.traces):,} traces, {spans:,} spans, {len(scenario.logs):,} log lines, "
            f"{points:,} metric points in {len(scenario.metrics)} series; {size:.0f} MB of OTLP JSON Lines"
        )
        command = [sys.executable, "-m", "bot.cli", *args, "--format", "json"]
        for bytecode in (False, True):
            _bytecode(compiled=bytecode)
            wall, _ = _timed(lambda: subprocess.run(command, cwd=ROOT, check=True, capture_output=True), runs)
            how = "as installed, bytecode compiled" if bytecode else "from source, no bytecode"
            print(f"journeywatch analyze (a new process each run, {how}): median {wall:.2f} s of {runs}")
        with cycles_uncollected():
            _parts(folder, scenario, runs)


def _bytecode(*, compiled: bool) -> None:
    """Compile the package's bytecode, or remove it.

    `pip install` compiles an installed package's bytecode; an editable checkout compiles
    it on first import unless ``PYTHONDONTWRITEBYTECODE`` is set (as on the machines the
    team works on), and then compiles all of it again in every process, some 80 ms of a
    run. The command is timed both ways."""
    packages = [ROOT / "bot", ROOT / "correlators"]
    if compiled:
        for package in packages:
            compileall.compile_dir(package, quiet=1)
        return
    for package in packages:
        for cache in package.rglob("__pycache__"):
            shutil.rmtree(cache)


def _parts(folder: Path, scenario: Scenario, runs: int) -> None:
    """Reading, trace assembly and analysis of the files the command read, timed apart."""
    read, (spans_read, logs_read, metrics_read) = _timed(
        lambda: (
            read_spans(folder / "traces.jsonl"),
            read_logs(folder / "logs.jsonl"),
            read_metrics(folder / "metrics.jsonl"),
        ),
        runs,
    )
    assembling, traces = _timed(lambda: assemble_traces(spans_read.items, AppConfig()), runs)
    given = AnalysisInput(
        traces=traces,
        logs=logs_read.items,
        metrics=metrics_read.items,
        baseline=Window(*scenario.baseline),
        incident=Window(*scenario.incident),
    )
    analysing, report = _timed(lambda: analyze(given), runs)
    print(
        f"  in-process, collector paused: reading {read:.2f} s, trace assembly {assembling:.2f} s, "
        f"analysis {analysing:.2f} s (top candidate {report.candidates[0].service})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", action="store_true", help="through the command on OTLP JSON Lines")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.files:
        from_files(args.runs)
    else:
        in_process(args.runs)


if __name__ == "__main__":
    main()
