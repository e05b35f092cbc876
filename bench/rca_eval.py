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

``--generator worlds`` uses tests/worlds.py instead: a random world per case (6-30
services, sampling, broken propagation, confusers), so the analyzer cannot agree with the
generator by construction. It reports, per fault kind and overall, scope accuracy, level
accuracy (the verdict's level equals the truth's; for a zone, a release or a feature flag
its subject must name the zone, the version or ``flag=value`` too), the level with the
subject ignored, AC@1, AC@3 and seconds per case. ``--held`` runs the seed range kept out
of all tuning (10,000 and up); report it beside the tuning range (0 and up).
Run by hand:  .venv/bin/python bench/rca_eval.py --generator worlds --seeds 10 [--held] [--in-process]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli import app as cli
from correlators.analyze import analyze
from correlators.report import Report
from tests import worlds
from tests.otlp_json import write_case
from tests.scenarios import FAULT_KINDS, Scenario, generate

Generate = Callable[[str, int], Scenario]
GENERATORS: dict[str, tuple[Sequence[str], Generate]] = {
    "scenarios": (FAULT_KINDS, generate),
    "worlds": (worlds.FAULT_KINDS, worlds.generate),
}
HELD_OUT_START = 10_000
"""First seed of the range never used for tuning (``--held``)."""
SUBJECT_LEVELS = ("zone", "release", "feature_flag")
"""Levels whose verdict is only right with the right subject: which zone, version, flag."""


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


def run_case(kind: str, seed: int, make: Generate = generate) -> tuple[Scenario, Report, float]:
    scenario = make(kind, seed)
    began = time.perf_counter()
    report = analyze(scenario.analysis_input())
    return scenario, report, time.perf_counter() - began


def run_case_cli(
    kind: str, seed: int, folder: Path, make: Generate = generate
) -> tuple[Scenario, Verdict, float]:
    """The case through `journeywatch analyze --format json` on files."""
    scenario = make(kind, seed)
    args = [*write_case(folder, scenario), "--format", "json", "--config", str(folder / "none.yaml")]
    began = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    took = time.perf_counter() - began
    if result.exit_code != 0:
        raise SystemExit(f"journeywatch analyze failed on {kind} seed {seed}: {result.output}")
    return scenario, Verdict.of_json(json.loads(result.output)), took


def level_right(fault: worlds.WorldFault, verdict: Verdict, *, subject: bool = True) -> bool:
    """The verdict names the truth's level (and, where it matters, its subject)."""
    if verdict.scope_level != fault.level:
        return False
    if not subject or fault.level not in SUBJECT_LEVELS:
        return True
    got, want = (verdict.scope_subject or "").strip().lower(), fault.subject.lower()
    if fault.level == "release":
        return want in got  # the version must be named; the services may be too
    return got == want


def world_hit_rank(fault: worlds.WorldFault, verdict: Verdict) -> int | None:
    """1-based rank of the right answer: the target service or dependency (any service of
    a release or flag); for a zone, a platform fault or a surge, the scope naming it."""
    if fault.level in ("zone", "traffic", "platform"):
        return 1 if level_right(fault, verdict) else None
    right = set(fault.services) or {fault.target}
    for rank, service in enumerate(verdict.candidates, start=1):
        if service in right:
            return rank
    return None


@dataclass
class Outcome:
    kind: str
    seed: int
    fault: worlds.WorldFault
    verdict: Verdict
    seconds: float

    @property
    def rank(self) -> int | None:
        return world_hit_rank(self.fault, self.verdict)

    @property
    def scope_right(self) -> bool:
        return self.verdict.scope_kind == self.fault.scope


def run_worlds(seeds: range, *, in_process: bool, verbose: bool) -> list[Outcome]:
    folder = Path(tempfile.mkdtemp(prefix="jw-worlds-"))
    outcomes = []
    for kind in worlds.FAULT_KINDS:
        for seed in seeds:
            if in_process:
                case, report, took = run_case(kind, seed, worlds.generate)
                verdict = Verdict.of(report)
            else:
                case, verdict, took = run_case_cli(kind, seed, folder, worlds.generate)
            assert isinstance(case.fault, worlds.WorldFault)
            outcome = Outcome(kind, seed, case.fault, verdict, took)
            outcomes.append(outcome)
            if verbose:
                _print_case(outcome)
    return outcomes


def _print_case(o: Outcome) -> None:
    f, v = o.fault, o.verdict
    print(
        f"  {o.kind:22} seed {o.seed:<6} truth {f.scope}/{f.level} {f.subject!r} -> "
        f"{v.scope_kind}/{v.scope_level} {v.scope_subject!r}; rank {o.rank}; top {v.candidates[:3]}",
        flush=True,
    )


def _row(name: str, group: Sequence[Outcome]) -> str:
    n = len(group)

    def share(values: Sequence[bool]) -> float:
        return sum(values) / n

    return (
        f"{name:24} {n:>4} {share([o.scope_right for o in group]):>6.3f} "
        f"{share([level_right(o.fault, o.verdict) for o in group]):>6.3f} "
        f"{share([level_right(o.fault, o.verdict, subject=False) for o in group]):>7.3f} "
        f"{share([o.rank == 1 for o in group]):>6.3f} "
        f"{share([o.rank is not None and o.rank <= 3 for o in group]):>6.3f} "
        f"{sum(o.seconds for o in group) / n:>7.3f}"
    )


def report_worlds(outcomes: Sequence[Outcome], seeds: range, how: str) -> None:
    print(
        f"generator worlds, seeds {seeds.start}..{seeds.stop - 1}, {len(outcomes)} cases "
        f"({len(worlds.FAULT_KINDS)} kinds x {len(seeds)} seeds), {how}"
    )
    print(
        f"{'kind':24} {'n':>4} {'scope':>6} {'level':>6} {'level*':>7} {'AC@1':>6} {'AC@3':>6} {'s/case':>7}"
    )
    for kind in worlds.FAULT_KINDS:
        print(_row(kind, [o for o in outcomes if o.kind == kind]))
    for scope in ("localized", "systemic"):
        print(_row(f"({scope} truth)", [o for o in outcomes if o.fault.scope == scope]))
    print(_row("all", outcomes))
    print("level* ignores the subject (zone, version, flag); s/case times the analysis only, or the")
    print("command with reading the files (not the generation).")
    scopes = Counter((o.fault.scope, o.verdict.scope_kind) for o in outcomes)
    print("scope confusion (truth -> verdict):", dict(sorted(scopes.items())))
    print("levels (truth -> verdict: count):")
    for level in sorted({o.fault.level for o in outcomes}):
        got = Counter(o.verdict.scope_level for o in outcomes if o.fault.level == level)
        print(f"  {level:18} -> " + ", ".join(f"{k} {v}" for k, v in got.most_common()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=17)
    parser.add_argument("--in-process", action="store_true", help="skip files and the command")
    parser.add_argument("--cli", action="store_true", help="through the command on files (the default)")
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="scenarios")
    parser.add_argument("--held", action="store_true", help=f"seeds from {HELD_OUT_START}, never tuned on")
    parser.add_argument("--verbose", action="store_true", help="one line per case (worlds)")
    args = parser.parse_args()
    if args.cli and args.in_process:
        parser.error("--cli and --in-process exclude each other")
    first = HELD_OUT_START if args.held else 0
    if args.generator == "worlds":
        seeds = range(first, first + args.seeds)
        how = "analysis only" if args.in_process else "journeywatch analyze, reading the files"
        report_worlds(run_worlds(seeds, in_process=args.in_process, verbose=args.verbose), seeds, how)
        return
    kinds, make = GENERATORS[args.generator]
    folder = Path(tempfile.mkdtemp(prefix="jw-rca-"))
    ranks: list[int | None] = []
    confusion: Counter[tuple[str, str]] = Counter()
    per_kind: dict[str, list[int | None]] = {}
    seconds = []
    for kind in kinds:
        for seed in range(first, first + args.seeds):
            if args.in_process:
                scenario, report, took = run_case(kind, seed, make)
                verdict = Verdict.of(report)
            else:
                scenario, verdict, took = run_case_cli(kind, seed, folder, make)
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
