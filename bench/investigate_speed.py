"""From the evaluation that fires to a stored report (issue 4), on the built-in store.

A generated bad release (``tests/scenarios.py``) with ~2,100 traces of the journey (7,000 in all) in the
baseline and incident windows, their logs and span metrics is written to a SQLite store
as the collector would; then one watcher evaluation opens the incident and its
investigation (exemplars, traces, logs, metrics, correlators, report stored) runs to the
end. Timed from the evaluation's start to the report being in the database.

    .venv/bin/python bench/investigate_speed.py [--runs 5] [--traces-per-minute 470]

Target: at most 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.changes import ChangeLog
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator
from bot.settings import Settings
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.build import build_sources
from bot.store import Store
from tests.scenarios import generate
from tests.stored import S, shop_config, store_telemetry


def run_once(folder: Path, run: int, traces_per_minute: int) -> tuple[float, int, str]:
    scenario = generate("deploy_exception", 3, traces_per_minute=traces_per_minute)
    config = shop_config()
    store = Store(f"sqlite:///{folder}/run{run}.db")
    store.migrate()
    store_telemetry(store, config, scenario.traces, scenario.logs)
    sources = build_sources(config, Settings(), store)
    incidents = IncidentRepository(store.engine)
    investigator = Investigator(config, sources, incidents, ChangeLog(store.engine))
    watcher = Watcher(config, sources, incidents, JourneyStates(store.engine), investigator)
    started = time.perf_counter()
    opened = watcher.evaluate_all(scenario.incident[1] / S)
    for future in watcher.pending:
        future.result(timeout=120)
    took = time.perf_counter() - started
    incident = incidents.get(opened[0].incident_id)
    assert incident is not None and incident["report"] is not None
    report = incident["report"]
    watcher.close()
    investigator.close()
    store.close()
    return took, report["bad_traces"] + report["baseline_traces"], report["candidates"][0]["service"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--traces-per-minute", type=int, default=470)
    args = parser.parse_args()
    scenario = generate("deploy_exception", 3, traces_per_minute=args.traces_per_minute)
    checkout = sum(1 for t in scenario.traces if t.journey == "checkout")
    print(f"{len(scenario.traces)} traces stored ({checkout} of checkout), {len(scenario.logs)} log lines")
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            took, analysed, top = run_once(Path(folder), run, args.traces_per_minute)
            times.append(took)
            print(f"run {run + 1}: {took:.2f} s, {analysed} traces analysed, top suspect {top}")
    print(f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (target 5 s)")


if __name__ == "__main__":
    main()
