"""Detection benchmark (issue 4): replayed event streams through the real watcher.

A journey with a 99.9 % availability objective and the default alert tiers gets 20
requests/s as span-metric rows in a SQLite store, written as the collector would write
them: a 10-second bucket becomes visible 20 s after it ends (the 10 s quiet period before
a trace is decided, plus the flush grace). The watcher evaluates every 30 s on the
built-in SLI source, and the incident lifecycle runs as in production. Each stream starts
with 7 hours of healthy traffic so every window has history.

    .venv/bin/python bench/detection.py

Targets: a total outage pages within 2 min of onset; a 2 % error rate within 5 min;
0.05 % errors for 6 h never page; recovery resolves within the hysteresis (10 min) plus
one evaluation of the burn stopping.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import AppConfig, Journey, JourneyMatch, Objectives
from bot.incidents.lifecycle import Action
from bot.incidents.repository import IncidentRepository
from bot.settings import Settings
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.build import build_sources
from bot.store import Store
from bot.telemetry.spanmetrics import SpanMetricRow

BUCKET_S = 10
VISIBLE_AFTER_S = 20
EVALUATE_EVERY_S = 30
RATE = 20
HISTORY_S = 7 * 3600
T0 = 1_800_000_000


@dataclass
class Stream:
    name: str
    bad_ratio: Callable[[int], float]
    """Share of bad events at a time offset from onset (negative: before it)."""
    length_s: int
    target: str


@dataclass
class Outcome:
    opened_after_s: float | None
    severity: str | None
    last_firing_after_s: float | None
    resolved_after_s: float | None


def replay(stream: Stream, folder: Path) -> Outcome:
    store = Store(f"sqlite:///{folder / stream.name}.db")
    store.migrate()
    config = AppConfig(
        journeys=[
            Journey(
                name="checkout",
                match=JourneyMatch(root_service="frontend"),
                objectives=Objectives(availability=0.999),
            )
        ]
    )
    sources = build_sources(config, Settings(), store)
    incidents = IncidentRepository(store.engine)
    watcher = Watcher(config, sources, incidents, JourneyStates(store.engine), None)
    onset = T0 + HISTORY_S
    written_until = T0
    carry = 0.0
    outcome = Outcome(None, None, None, None)
    for now in range(onset - 600, onset + stream.length_s + 1, EVALUATE_EVERY_S):
        rows = []
        while written_until + BUCKET_S + VISIBLE_AFTER_S <= now:
            per_bucket = RATE * BUCKET_S
            carry += per_bucket * stream.bad_ratio(written_until - onset)
            bad = int(carry)
            carry -= bad
            rows.append(
                SpanMetricRow(written_until, "checkout", "frontend", "POST /checkout", True, per_bucket, bad)
            )
            written_until += BUCKET_S
        if rows:
            store.write_span_metrics(rows)
        for change in watcher.evaluate_all(now):
            if change.action is Action.OPEN and outcome.opened_after_s is None:
                outcome.opened_after_s = now - onset
                row = incidents.row(change.incident_id)
                outcome.severity = row.severity if row else None
            if change.action is Action.RESOLVE and outcome.resolved_after_s is None:
                outcome.resolved_after_s = now - onset
        row = incidents.row(1)
        if row is not None:
            outcome.last_firing_after_s = row.last_firing_at - onset
    watcher.close()
    store.close()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    outage_s = 600
    streams = [
        Stream("total-outage", lambda t: 1.0 if t >= 0 else 0.0, 600, "pages within 120 s"),
        Stream("two-percent", lambda t: 0.02 if t >= 0 else 0.0, 1800, "pages within 300 s"),
        Stream("half-per-mille-6h", lambda t: 0.0005 if t >= 0 else 0.0, 6 * 3600, "never pages"),
        Stream(
            "outage-then-recovery",
            lambda t: 1.0 if 0 <= t < outage_s else 0.0,
            outage_s + 1800,
            f"resolves within 600 s + 30 s of the burn stopping (recovery at {outage_s} s)",
        ),
    ]
    with tempfile.TemporaryDirectory() as folder:
        for stream in streams:
            started = time.perf_counter()
            outcome = replay(stream, Path(folder))
            took = time.perf_counter() - started
            print(
                f"{stream.name:22} opened after {outcome.opened_after_s} s ({outcome.severity}); "
                f"last firing at {outcome.last_firing_after_s} s; "
                f"resolved after {outcome.resolved_after_s} s "
                f"— target: {stream.target} [replayed in {took:.1f} s]"
            )


if __name__ == "__main__":
    main()
