"""Root-cause accuracy on generated, labelled incidents (tests/scenarios.py).

Each case goes through `journeywatch analyze` itself (traces, logs and metrics written as OTLP
JSON Lines, the command run in-process with its JSON output parsed);
``--in-process`` calls the analysis directly, faster, for tuning.

For each case: AC@k at service level (the ground-truth service or dependency among the
top k candidates; for a zone fault, the scope naming that zone; for a release or flag
rolled to several services, any of them; for a traffic surge, the traffic scope), Avg@5,
scope accuracy with a confusion matrix, and seconds per case.

Targets (correlator issue): AC@1 >= 0.90, AC@3 >= 0.97, scope accuracy >= 0.90.
Run by hand:  .venv/bin/python bench/rca_eval.py [--seeds 17]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli import app as cli
from correlators.analyze import AnalysisInput, analyze
from correlators.metrics import Window
from correlators.report import Report
from tests.otlp_json import write_case
from tests.scenarios import FAULT_KINDS, Scenario, generate


@dataclass
class Verdict:
    candidates: list[str]
    scope_kind: str
    scope_level: str
    scope_subject: str | None

    @classmethod
    def of(cls, report: Report) -> Verdict:
        scope = report.scope
        return cls([c.service for c in report.candidates], scope.kind, scope.level, scope.subject)

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> Verdict:
        scope = data["scope"]
        return cls(
            [c["service"] for c in data["candidates"]], scope["kind"], scope["level"], scope["subject"]
        )


def hit_rank(scenario: Scenario, verdict: Verdict) -> int | None:
    """1-based rank of the right answer among the candidates, None if absent."""
    fault = scenario.fault
    if fault.level == "zone":
        subject = verdict.scope_subject or ""
        return 1 if verdict.scope_level == "zone" and subject.endswith(fault.target[-1]) else None
    if fault.level == "traffic":
        return 1 if verdict.scope_level == "traffic" else None
    right = set(fault.services) if fault.services else {fault.target}
    for rank, service in enumerate(verdict.candidates, start=1):
        name = service.split(":")[0]
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


def run_case_cli(kind: str, seed: int, folder: Path) -> tuple[Scenario, Verdict, float]:
    """The case through `journeywatch analyze --format json` on files."""
    scenario = generate(kind, seed)
    args = [*write_case(folder, scenario), "--format", "json", "--config", str(folder / "none.yaml")]
    began = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    took = time.perf_counter() - began
    if result.exit_code != 0:
        raise SystemExit(f"journeywatch analyze failed on {kind} seed {seed}: {result.output}")
    return scenario, Verdict.of_json(json.loads(result.output)), took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=17)
    parser.add_argument("--in-process", action="store_true", help="skip files and the command")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="jw-rca-"))
    ranks: list[int | None] = []
    confusion: Counter[tuple[str, str]] = Counter()
    per_kind: dict[str, list[int | None]] = {}
    seconds = []
    for kind in FAULT_KINDS:
        for seed in range(args.seeds):
            if args.in_process:
                scenario, report, took = run_case(kind, seed)
                verdict = Verdict.of(report)
            else:
                scenario, verdict, took = run_case_cli(kind, seed, folder)
            rank = hit_rank(scenario, verdict)
            ranks.append(rank)
            per_kind.setdefault(kind, []).append(rank)
            seconds.append(took)
            confusion[(scenario.fault.scope, verdict.scope_kind)] += 1
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
    how = "analysis only" if args.in_process else "journeywatch analyze, reading the files"
    print(f"seconds per case ({how}): mean {sum(seconds) / n:.3f}, max {max(seconds):.3f}")


if __name__ == "__main__":
    main()
