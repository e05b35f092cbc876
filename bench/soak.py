"""Soak: does memory stay flat under the budgets when every value is new and large?

Starts a real `journeywatch serve` (the shipped config and sampling, the watcher idle) and
sends it, for ``--minutes`` (10), the adversarial traffic of tests/adversarial.py from
``--senders`` threads: 1 MiB log bodies, 30 KiB attribute values under keys never seen
before, spans stamped years ahead and back and minutes ahead, values nested 45 deep, new
service and span names in every request. Every ``--every`` seconds it samples the RSS of
the server and of its store writer and what /healthz says the budgets hold, and prints the
curve; at the end, the growth after the warm-up (the first ``--warm-up`` share of the run)
and the peak against the bound the configuration sets: the server's RSS after start-up
plus its byte budgets (the sampler's buffer, the writer's queue; the ingest caches are
bounded within a few MiB).

Run by hand:  .venv/bin/python bench/soak.py [--minutes 10] [--senders 2] [--every 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faults import Server, start  # noqa: E402
from ingest import bench_config  # noqa: E402

from tests.adversarial import MIB, Adversary, children, rss_mib  # noqa: E402


@dataclass
class Sample:
    at_s: float
    server_mib: float
    writer_mib: float
    buffered_mib: float
    pending_mib: float
    caches_mib: float
    sent: int


def config_file(folder: Path) -> Path:
    """The shipped config, sampling included, with the watcher's first run a day away."""
    return bench_config(folder, keep_all=False, watch=False)


def sample(server: Server, began: float, adversary: Adversary) -> Sample:
    pid = server.process.pid
    writers = children(pid)
    try:
        health = server.health()
    except httpx.HTTPError:
        health = {}
    collector = health.get("collector", {})
    return Sample(
        at_s=time.monotonic() - began,
        server_mib=rss_mib(pid),
        writer_mib=rss_mib(writers[0]) if writers else 0.0,
        buffered_mib=collector.get("buffered_bytes", 0) / MIB,
        pending_mib=health.get("pending_write_bytes", 0) / MIB,
        caches_mib=sum(collector.get("cache_bytes", {}).values()) / MIB,
        sent=adversary.sent,
    )


def growth_after_warm_up(values: list[float], warm_up: int) -> float:
    """The highest value after the warm-up less the highest during it: what a leak adds."""
    return max(values[warm_up:]) - max(values[:warm_up])


def slope_per_minute(times: list[float], values: list[float]) -> float:
    """Least-squares slope over the samples given, in units a minute."""
    if len(values) < 2:
        return 0.0
    slope, _ = statistics.linear_regression(times, values)
    return slope * 60


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between one sender's requests")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--warm-up", type=float, default=0.2, help="share of the run taken as warm-up")
    parser.add_argument("--span-budget-mib", type=int, default=128)
    parser.add_argument("--write-budget-mib", type=int, default=64)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="jw-soak-") as folder:
        data = Path(folder) / "data"
        data.mkdir()
        env = {
            "JOURNEYWATCH_COLLECTOR__SPAN_BUDGET_BYTES": str(args.span_budget_mib * MIB),
            "JOURNEYWATCH_COLLECTOR__MAX_PENDING_WRITE_BYTES": str(args.write_budget_mib * MIB),
        }
        server = start(REPO, data, config_file(Path(folder)), env)
        time.sleep(2)
        idle = rss_mib(server.process.pid)
        bound = idle + args.span_budget_mib + args.write_budget_mib
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"server idle {idle:.0f} MiB; budgets {args.span_budget_mib} + {args.write_budget_mib} MiB")
        print(" t (s)  server MiB  writer MiB  buffered MiB  pending MiB  caches MiB  requests")
        samples: list[Sample] = []
        began = time.monotonic()
        adversary = Adversary(server.url, senders=args.senders, interval_s=args.interval).start()
        try:
            while time.monotonic() - began < args.minutes * 60:
                time.sleep(args.every)
                s = sample(server, began, adversary)
                samples.append(s)
                print(
                    f"{s.at_s:6.0f}  {s.server_mib:10.0f}  {s.writer_mib:10.0f}  {s.buffered_mib:12.1f}"
                    f"  {s.pending_mib:11.1f}  {s.caches_mib:10.1f}  {s.sent:8d}",
                    flush=True,
                )
        finally:
            adversary.stop()
            alive = server.process.poll() is None
            server.process.terminate()
            server.process.wait(60)
        report(samples, args.warm_up, bound, adversary, alive)


def report(
    samples: list[Sample], warm_up_share: float, bound: float, adversary: Adversary, alive: bool
) -> None:
    warm_up = max(1, int(len(samples) * warm_up_share))
    times = [s.at_s for s in samples]
    server = [s.server_mib for s in samples]
    writer = [s.writer_mib for s in samples]
    print(
        f"sent {adversary.sent} requests, {adversary.sent_bytes / MIB:,.0f} MiB; answers {adversary.answers}"
    )
    print(f"server still up at the end: {alive}")
    for name, values in (("server", server), ("writer", writer)):
        grew = growth_after_warm_up(values, warm_up)
        slope = slope_per_minute(times[warm_up:], values[warm_up:])
        print(
            f"{name}: peak {max(values):.0f} MiB, after the warm-up ({times[warm_up - 1]:.0f} s) "
            f"grew {grew:+.0f} MiB, slope {slope:+.1f} MiB/min"
        )
    verdict = "within" if max(server) <= bound else "OVER"
    print(f"server peak {max(server):.0f} MiB against the bound {bound:.0f} MiB: {verdict}")


if __name__ == "__main__":
    main()
