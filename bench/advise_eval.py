"""Pattern detectors against traces with planted patterns and healthy look-alikes
(tests/planted.py): precision and recall per pattern, how close the estimated time saved
is to the planted cost, and the detectors' time on 2,000 traces.

A finding matches a planted pattern of its kind in the same trace, made by the same
service to the same callee (for consecutive calls, the same callees in order). Cost error
is |estimated saved - planted cost| / planted cost over matched pairs.

Targets (issue 18): precision >= 0.95 and recall >= 0.90 per pattern, estimated time saved
within 20 % of the planted cost, detectors well under a second for 2,000 traces.
``--held`` runs the seed range kept out of all tuning (10,000 and up); report both.
``--redacted`` puts every span through ingest's redaction first, as stored spans are: each
statement its fingerprint, its literals only a keyed digest.
Run by hand:  .venv/bin/python bench/advise_eval.py [--cases 50] [--held] [--redacted]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import RedactionRules
from bot.telemetry.redact import Redactor
from correlators.patterns import Pattern, PatternKind, detect
from correlators.traces import assemble
from tests.planted import Case, Planted, generate

HELD_OUT_START = 10_000
TOLERANCE = 0.2


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=50, help="cases of 40 requests each")
    parser.add_argument("--held", action="store_true", help="the held-out seed range")
    parser.add_argument("--first", type=int, help="the first seed, for a range never run before")
    parser.add_argument("--redacted", action="store_true", help="spans redacted as ingest stores them")
    args = parser.parse_args()
    first = args.first if args.first is not None else HELD_OUT_START if args.held else 0
    cases = [generate(seed) for seed in range(first, first + args.cases)]
    if args.redacted:
        redactor = Redactor(RedactionRules(), b"advise-eval")
        for case in cases:
            for trace in case.traces:
                for span in trace.spans:
                    redactor.redact_span(span)
    tally = Tally()
    for case in cases:
        tally.add(case, detect([assemble(t) for t in case.traces]))
    below = Counter(p.kind.value for c in cases for p in c.below)
    redacted = ", redacted as stored" if args.redacted else ""
    tally.print(
        f"seeds {first}..{first + args.cases - 1}, {sum(len(c.traces) for c in cases)} traces{redacted}"
    )
    print(f"planted below their definition's share of the request (look-alikes): {dict(below)}")
    timing(cases)


class Tally:
    def __init__(self) -> None:
        self.planted: Counter[PatternKind] = Counter()
        self.found: Counter[PatternKind] = Counter()
        self.matched: Counter[PatternKind] = Counter()
        self.errors: defaultdict[PatternKind, list[float]] = defaultdict(list)
        self.wrong: list[Pattern] = []
        self.missed: list[Planted] = []

    def add(self, case: Case, found: list[Pattern]) -> None:
        open_plants: defaultdict[tuple[str, PatternKind, str, str], list[Planted]] = defaultdict(list)
        for plant in case.planted:
            self.planted[plant.kind] += 1
            open_plants[(plant.trace_id, plant.kind, plant.service, plant.callee)].append(plant)
        for pattern in found:
            self.found[pattern.kind] += 1
            candidates = open_plants.get((pattern.trace_id, pattern.kind, pattern.service, pattern.callee))
            if not candidates:
                self.wrong.append(pattern)
                continue
            plant = min(candidates, key=lambda p: abs(p.cost_ns - pattern.saved_ns))
            candidates.remove(plant)
            self.matched[pattern.kind] += 1
            self.errors[pattern.kind].append(abs(pattern.saved_ns - plant.cost_ns) / max(1, plant.cost_ns))
        self.missed.extend(p for plants in open_plants.values() for p in plants)

    def print(self, title: str) -> None:
        print(title)
        print(f"{'pattern':18} {'planted':>7} {'found':>6} {'precision':>9} {'recall':>7} "
              f"{'saved within 20 %':>17} {'median error':>12}")  # fmt: skip
        for kind in PatternKind:
            planted, found, matched = self.planted[kind], self.found[kind], self.matched[kind]
            errors = self.errors[kind]
            within = sum(e <= TOLERANCE for e in errors) / len(errors) if errors else float("nan")
            median = statistics.median(errors) if errors else float("nan")
            precision = matched / found if found else float("nan")
            recall = matched / planted if planted else float("nan")
            figures = f"{precision:9.3f} {recall:7.3f} {within:17.3f} {median:12.3f}"
            print(f"{kind.value:18} {planted:7} {found:6} {figures}")
        for pattern in self.wrong[:8]:
            where = f"{pattern.trace_id[-6:]} {pattern.service} -> {pattern.callee} {pattern.target[:50]}"
            saved = pattern.saved_ns / 1e6
            print(f"  unplanted: {pattern.kind.value} {where} x{pattern.count} saved {saved:.1f} ms")
        for plant in self.missed[:8]:
            print(f"  missed: {plant.kind.value} {plant.trace_id[-6:]} {plant.service} -> {plant.callee}"
                  f" cost {plant.cost_ns / 1e6:.1f} ms")  # fmt: skip


def timing(cases: list[Case]) -> None:
    """Detectors on 2,000 traces at once (the timeout caps are judged across all of them),
    trees assembled before the clock starts: CPU seconds of this process (the machine is
    shared), with the cyclic collector on, and off as `journeywatch advise` runs them."""
    traces = [t for case in cases for t in case.traces][:2_000]
    spans = sum(len(t.spans) for t in traces)
    for collect in (True, False):
        seconds = []
        for _ in range(5):
            trees = [assemble(t) for t in traces]
            gc.collect()
            if not collect:
                gc.disable()
            start = time.process_time()
            detect(trees)
            seconds.append(time.process_time() - start)
            gc.enable()
        label = "collector on " if collect else "collector off"
        median = statistics.median(seconds)
        figures = f"detectors {median:.3f} s CPU (max {max(seconds):.3f})"
        print(f"{len(traces)} traces, {spans} spans, {label}: {figures}")


if __name__ == "__main__":
    main()
