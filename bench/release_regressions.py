"""Release regressions on generated traffic (tests/release_traffic.py): how often each
case is called, how many minutes of the new version's traffic it takes, how often a
release that changed nothing is called, and how long one comparison of 2,000 traces takes.

Each seed is one release: old-version traffic before it (``--before`` minutes), then the
new version at 10 requests/s, looked at after each minute of it as the bot's job looks
(the verdict of a look uses all traffic so far), up to ``--minutes``. A case is called
at the first look whose verdict is ``regressed``.

    .venv/bin/python bench/release_regressions.py [--seeds 50] [--minutes 10] [--before 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from correlators.regression import compare_versions
from correlators.traces import assemble
from tests.release_traffic import CASES, NEW, OLD, SERVICE, Release, minutes_to_call, traffic


def speed(repeats: int = 5) -> tuple[float, float]:
    """Median seconds for 2,000 traces (1,000 a side): the comparison on assembled trees,
    and with assembling."""
    traces = traffic(0, Release(slower=0.3, before_s=100, after_s=100))[:2000]
    compare, whole = [], []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        trees = [assemble(t) for t in traces]
        t1 = time.perf_counter()
        compare_versions(trees, SERVICE, OLD, NEW)
        t2 = time.perf_counter()
        compare.append(t2 - t1)
        whole.append(t2 - t0)
    return statistics.median(compare), statistics.median(whole)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--before", type=float, default=5.0, help="minutes of old-version traffic")
    args = parser.parse_args()
    print(f"command: {' '.join(sys.argv)}")
    print(f"{'case':<14} {'called':>8} {'rate':>6} {'minutes to verdict (median, max)':>34}")
    for name, case in CASES.items():
        release = Release(
            slower=case.slower, errors=case.errors, before_s=args.before * 60, after_s=args.minutes * 60
        )
        called = [m for seed in range(args.seeds) if (m := minutes_to_call(seed, release, args.minutes))]
        rate = len(called) / args.seeds
        when = f"{statistics.median(called):g}, {max(called)}" if called else "-"
        label = "false alarms" if name == "no change" else "called"
        print(f"{name:<14} {len(called):>3}/{args.seeds:<4} {rate:>6.0%} {when:>34}  ({label})")
    compare, whole = speed()
    print(
        f"2,000 traces: {compare * 1000:.0f} ms the comparison, "
        f"{whole * 1000:.0f} ms with assembling (median of 5)"
    )


if __name__ == "__main__":
    main()
