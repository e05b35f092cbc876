"""Root-cause accuracy on generated, labelled incidents (tests/scenarios.py).

For each case: AC@k at service level (the ground-truth service or dependency among the
top k candidates; for a zone fault, the scope naming that zone; for a release or flag
rolled to several services, any of them; for a traffic surge, the traffic scope), Avg@5,
scope accuracy with a confusion matrix, and seconds per case.

Targets (correlator issue): AC@1 >= 0.90, AC@3 >= 0.97, scope accuracy >= 0.90.
Run by hand:  .venv/bin/python bench/rca_eval.py [--seeds 17]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from correlators.analyze import AnalysisInput, analyze
from correlators.metrics import Window
from correlators.report import Report
from tests.scenarios import FAULT_KINDS, Scenario, generate


def hit_rank(scenario: Scenario, report: Report) -> int | None:
    """1-based rank of the right answer among the candidates, None if absent."""
    fault = scenario.fault
    if fault.level == "zone":
        subject = report.scope.subject or ""
        return 1 if report.scope.level == "zone" and subject.endswith(fault.target[-1]) else None
    if fault.level == "traffic":
        return 1 if report.scope.level == "traffic" else None
    right = set(fault.services) if fault.services else {fault.target}
    for rank, candidate in enumerate(report.candidates, start=1):
        name = candidate.service.split(":")[0]
        aliases = {name, "postgres" if name == "postgresql" else name}
        if aliases & right:
            return rank
    return None


def run_case(kind: str, seed: int) -> tuple[Scenario, Report, float]:
    scenario = generate(kind, seed)
    began = time.perf_counter()
    report = analyze(
        AnalysisInput(
            traces=scenario.traces,
            logs=scenario.logs,
            metrics=scenario.metrics,
            baseline=Window(*scenario.baseline),
            incident=Window(*scenario.incident),
        )
    )
    return scenario, report, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=17)
    args = parser.parse_args()
    ranks: list[int | None] = []
    confusion: Counter[tuple[str, str]] = Counter()
    per_kind: dict[str, list[int | None]] = {}
    seconds = []
    for kind in FAULT_KINDS:
        for seed in range(args.seeds):
            scenario, report, took = run_case(kind, seed)
            rank = hit_rank(scenario, report)
            ranks.append(rank)
            per_kind.setdefault(kind, []).append(rank)
            seconds.append(took)
            confusion[(scenario.fault.scope, report.scope.kind)] += 1
    n = len(ranks)

    def ac(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    avg5 = sum(ac(k) for k in range(1, 6)) / 5
    scope_ok = sum(v for (truth, got), v in confusion.items() if truth == got) / n
    print(f"cases: {n} ({len(FAULT_KINDS)} fault kinds x {args.seeds} seeds)")
    print(f"AC@1 {ac(1):.3f}  AC@3 {ac(3):.3f}  Avg@5 {avg5:.3f}  scope accuracy {scope_ok:.3f}")
    print("scope confusion (truth -> verdict):", dict(confusion))
    for kind, found in per_kind.items():
        top1 = sum(1 for r in found if r == 1) / len(found)
        print(f"  {kind:18} AC@1 {top1:.2f}")
    print(f"seconds per case: mean {sum(seconds) / n:.3f}, max {max(seconds):.3f}")


if __name__ == "__main__":
    main()
