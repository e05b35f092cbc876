"""Root-cause accuracy on real labelled incidents (the Nezha cases in ../shared/datasets/nezha).

Each case goes through `journeywatch analyze` as a new user would run it: the installed
command in its own process, on the case's files, with the windows from its ``case.json``
passed as they are, and no journeys file (the traces of these systems match none).

Scored as the dataset's README says: a case counts at k when ``root_service`` is among the
first k distinct services of the ranked candidates. Printed per system, per fault type and
in all: AC@1, AC@3, AC@5, Avg@5; instance-level AC@1 (``inject_pod`` among the instances
named for the top candidate); seconds per case through the command (median, max).

Targets (issue 12): AC@1 >= 0.85 and AC@3 >= 0.95 on each system, no fault type under 0.60
AC@1, median <= 2 s per case (largest <= 5 s).

Run by hand:  .venv/bin/python bench/rca_real.py [--data DIR] [--only ob] [--jobs 2]
``--jobs`` above 1 runs cases side by side: good for a quick look, not for the timings.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "nezha"
COMMAND = ROOT / ".venv" / "bin" / "journeywatch"


@dataclass
class Outcome:
    case: str
    system: str
    fault_type: str
    truth: str
    inject_pod: str
    services: list[str]
    """Distinct services of the ranked candidates, in order."""
    top_instances: list[str]
    seconds: float
    skipped_lines: int
    error: str | None = None

    def rank(self) -> int | None:
        return self.services.index(self.truth) + 1 if self.truth in self.services else None

    def hit(self, k: int) -> bool:
        rank = self.rank()
        return rank is not None and rank <= k


def run_case(folder: Path, empty_config: Path, command: Sequence[str]) -> Outcome:
    case = json.loads((folder / "case.json").read_text())
    args = [
        *command,
        "analyze",
        "--traces",
        str(folder / "traces.jsonl.gz"),
        "--baseline-start",
        case["baseline_start"],
        "--baseline-end",
        case["baseline_end"],
        "--incident-start",
        case["incident_start"],
        "--incident-end",
        case["incident_end"],
        "--config",
        str(empty_config),
        "--format",
        "json",
    ]
    for signal in ("logs", "metrics"):
        path = folder / f"{signal}.jsonl.gz"
        if path.exists():
            args += [f"--{signal}", str(path)]
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    took = time.perf_counter() - began
    outcome = Outcome(
        folder.name,
        case["system"],
        case["fault_type"],
        case["root_service"],
        case["inject_pod"],
        [],
        [],
        took,
        0,
    )
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines() or ["(nothing said)"]
        outcome.error = f"exit {done.returncode}: {said[-1]}"
        return outcome
    report = json.loads(done.stdout)
    outcome.services = _distinct(c["service"] for c in report["candidates"])
    if report["candidates"]:
        top = report["candidates"][0]
        outcome.top_instances = [i for i in [top.get("instance"), *top.get("instances", [])] if i]
    outcome.skipped_lines = sum(g.get("skipped", 0) for g in report.get("input_gaps", []))
    return outcome


def _distinct(services: Any) -> list[str]:
    seen: list[str] = []
    for service in services:
        if service not in seen:
            seen.append(service)
    return seen


def table(title: str, groups: dict[str, list[Outcome]]) -> None:
    print(f"\n{title}")
    print(f"  {'':24} {'n':>3} {'AC@1':>5} {'AC@3':>5} {'AC@5':>5} {'Avg@5':>5} {'inst@1':>6}")
    for name, found in groups.items():
        n = len(found)
        ac = {k: sum(o.hit(k) for o in found) / n for k in range(1, 6)}
        avg5 = sum(ac.values()) / 5
        instance = sum(o.hit(1) and o.inject_pod in o.top_instances for o in found) / n
        print(f"  {name:24} {n:>3} {ac[1]:>5.2f} {ac[3]:>5.2f} {ac[5]:>5.2f} {avg5:>5.2f} {instance:>6.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of case folders")
    parser.add_argument("--only", default="", help="case folders starting with this (ob, tt, ...)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--save", type=Path, help="write every outcome as JSON here")
    parser.add_argument(
        "--command",
        default=str(COMMAND),
        help="the command, e.g. 'env PYTHONPATH=/tmp/old .venv/bin/python -m bot.cli' for another checkout",
    )
    args = parser.parse_args(argv)
    folders = sorted(
        p for p in args.data.iterdir() if (p / "case.json").exists() and p.name.startswith(args.only)
    )
    if not folders:
        raise SystemExit(f"no cases under {args.data}")
    empty = Path(tempfile.mkdtemp(prefix="jw-real-")) / "no-journeys.yaml"
    empty.write_text("journeys: []\n")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda folder: run_case(folder, empty, shlex.split(args.command)), folders))
    for o in outcomes:
        mark = "ok " if o.hit(1) else ("~  " if o.rank() else "X  ")
        got = " > ".join(o.services[:3]) or (o.error or "no candidate")
        rank = o.rank() or "-"
        print(f"{mark}{o.case:22} {o.fault_type:15} {o.truth:30} rank {rank:>2}  {o.seconds:4.1f}s  {got}")
    by_system: dict[str, list[Outcome]] = defaultdict(list)
    by_fault: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_system[o.system].append(o)
        by_fault[o.fault_type].append(o)
    table("per system", dict(sorted(by_system.items())) | {"all": outcomes})
    table("per fault type", dict(sorted(by_fault.items())))
    seconds = [o.seconds for o in outcomes]
    failed = [o for o in outcomes if o.error]
    median, slowest = statistics.median(seconds), max(seconds)
    print(f"\nseconds per case through the command: median {median:.2f}, max {slowest:.2f}")
    skipped = sum(o.skipped_lines for o in outcomes)
    print(f"cases that did not finish: {len(failed)}; input lines and records skipped: {skipped}")
    for o in failed:
        print(f"  {o.case}: {o.error}")
    if args.save:
        args.save.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
