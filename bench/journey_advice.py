"""What the journey page's ranking costs: a thousand kept checkout traces with planted
patterns (tests/planted.py) in a SQLite store, ranked cold (read, assembled, detected,
ranked) and then from the cache, as a page view meets them.

Run by hand:  .venv/bin/python bench/journey_advice.py [--traces 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.journey_advice import AdviceCache
from bot.sources.builtin import BuiltinTraceSource
from bot.store import Store
from tests import planted
from tests.stored import shop_config

S = 1_000_000_000


def stored_traffic(store: Store, count: int) -> float:
    """``count`` checkout traces; returns the end of their window, in seconds."""
    seed, written, last_ns = 0, 0, 0
    while written < count:
        case = planted.generate(seed, requests=min(40, count - written))
        traces = [replace(t, journey="checkout") for t in case.traces]
        for t in traces:
            t.trace_id = f"{seed:08x}{t.trace_id[8:]}"
            for span in t.spans:
                span.trace_id = t.trace_id
        shifted = [_shift(t, seed * 3400 * S) for t in traces]  # 25 cases over a day
        store.write_traces(shifted)
        last_ns = max([last_ns, *(t.start_ns for t in shifted)])
        written += len(traces)
        seed += 1
    return last_ns / S + 1


def _shift(trace: planted.Trace, by_ns: int) -> planted.Trace:
    spans = [replace(s, start_ns=s.start_ns + by_ns, end_ns=s.end_ns + by_ns) for s in trace.spans]
    return replace(trace, spans=spans)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    journey = shop_config().journey("checkout")
    assert journey is not None
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.migrate()
        end_s = stored_traffic(store, args.traces)
        source = BuiltinTraceSource(store)
        cold, warm = [], []
        for _ in range(args.runs):
            cache = AdviceCache(source, window_s=24 * 3600, limit=args.traces, refresh_s=600)
            started = time.perf_counter()
            ranked = cache.of(journey, end_s)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            cache.of(journey, end_s)
            warm.append(time.perf_counter() - started)
        store.close()
    top = ranked.advice.advice[0].kind.value if ranked.advice.advice else "none"
    print(
        f"{ranked.advice.requests} traces ranked, {len(ranked.advice.advice)} pieces (top: {top}); "
        f"cold median {statistics.median(cold):.2f} s (runs {', '.join(f'{c:.2f}' for c in cold)}), "
        f"cached median {statistics.median(warm) * 1e6:.0f} us"
    )


if __name__ == "__main__":
    main()
