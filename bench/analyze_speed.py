"""How long one analysis takes on a large case: ~4,000 traces / ~50,000 spans and 10,000
log lines (a generated shared-database incident), median of 5 runs.

Target (correlator issue): at most 2 s.
Run by hand:  .venv/bin/python bench/analyze_speed.py
"""

from __future__ import annotations

import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlators.analyze import AnalysisInput, analyze
from correlators.metrics import Window
from correlators.model import LogRecord
from tests.scenarios import SERVICES, Scenario, generate


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


def main() -> None:
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
    for _ in range(5):
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


if __name__ == "__main__":
    main()
