"""The demo's promise (issue 6): from fault injection to the incident's report in at most
3 minutes, with the right verdict, for each of the six faults over three runs each. For
``n-plus-one`` (issue 18) the line also says whether the advice on the incident's worst
traces names the patterns it planted (``advice=True``) and what it said.

Each run is a real `journeywatch demo --fault F --stop-after-verdict` (the bot, the shop's
Python and Node processes and the traffic, all on this machine), one after the other;
the result files say when the incident opened, when its report was stored and what it
said against the ground truth.

    .venv/bin/python bench/demo_faults.py [--runs 3] [--faults db-slow,payment-errors]
        [--examples docs/demo-messages.md]

``--examples`` writes each fault's Slack parent message, from its first run, as Markdown:
the examples in docs/ are made this way, not by hand.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FAULTS = ("db-slow", "payment-errors", "bad-release", "instance-cpu", "flag-slow-path", "n-plus-one")
TARGET_S = 180


def run(fault: str, seed: int, folder: Path) -> dict[str, Any]:
    out = folder / f"{fault}-{seed}.json"
    command = [
        sys.executable, "-m", "bot.cli", "demo", "--fault", fault, "--duration", "300", "--warmup", "60",
        "--port", "0", "--seed", str(seed), "--stop-after-verdict", "--json-out", str(out),
        "--data-dir", str(folder / f"data-{fault}-{seed}"),
    ]  # fmt: skip
    started = time.monotonic()
    finished = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    if not out.exists():
        return {"fault": fault, "seed": seed, "error": finished.stdout[-2000:] + finished.stderr[-2000:]}
    result = json.loads(out.read_text())
    result["wall_s"] = round(took, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--examples", type=Path, help="write each fault's parent message here")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fault in args.faults.split(","):
            for seed in range(1, args.runs + 1):
                result = run(fault, seed, Path(tmp))
                rows.append(result)
                print(line(fault, seed, result), flush=True)
    if args.examples is not None:
        args.examples.write_text(examples(rows))
    times = sorted(float(r["report_after_s"]) for r in rows if r.get("report_after_s") is not None)
    within = [t for t in times if t <= TARGET_S]
    right = [r for r in rows if r.get("right") is True]
    print(f"{len(right)}/{len(rows)} right, {len(within)}/{len(rows)} reports within {TARGET_S} s")
    if times:
        middle = times[len(times) // 2]
        print(f"report after injection: min {times[0]:.0f} s, median {middle:.0f} s, max {times[-1]:.0f} s")


def examples(rows: list[dict[str, Any]]) -> str:
    """Each fault's parent message (mrkdwn, as posted) from its first run with a verdict."""
    out = [
        "# The demo's Slack parent messages\n",
        f"Written by `.venv/bin/python bench/demo_faults.py {' '.join(sys.argv[1:])}`:",
        "each fault's parent message as the bot posted it (Slack mrkdwn, one line per block),",
        "after the first report. Times are UTC.\n",
    ]
    seen: set[str] = set()
    for row in rows:
        verdict = row.get("verdict") or {}
        if row["fault"] in seen or not verdict.get("parent"):
            continue
        seen.add(row["fault"])
        truth = row.get("truth") or {}
        out.append(f"## {row['fault']}\n")
        out.append(
            f"Injected: {truth.get('culprit')} ({truth.get('scope')} / {truth.get('level')}); "
            f"report {row.get('report_after_s')} s after the injection; right: {row.get('right')}.\n"
        )
        out.append("```\n" + str(verdict["parent"]) + "\n```\n")
    return "\n".join(out)


def line(fault: str, seed: int, result: dict[str, Any]) -> str:
    verdict = result.get("verdict") or {}
    truth = result.get("truth") or {}
    text = (
        f"{fault:15} seed {seed}: opened {result.get('opened_after_s')} s, "
        f"report {result.get('report_after_s')} s, "
        f"right={result.get('right')} (verdict {verdict.get('culprit')} {verdict.get('scope')}/"
        f"{verdict.get('level')}; truth {truth.get('culprit')} {truth.get('scope')}/{truth.get('level')})"
    )
    if result.get("advice_right") is not None:
        said = "; ".join(a["summary"] for a in result.get("advice") or [])
        text += f" advice={result['advice_right']} ({said})"
    if result.get("fix_lines_right") is not None:
        told = "; ".join(a["summary"] for a in result.get("fix_lines") or [])
        text += f" thread's fix lines={result['fix_lines_right']} ({told})"
    return text + (f" ERROR {result['error']}" if "error" in result else "")


if __name__ == "__main__":
    main()
