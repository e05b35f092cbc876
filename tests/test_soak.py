"""A short soak (issue 14, item 4): a real `journeywatch serve` fed adversarial distinct
large values for about 25 s keeps its RSS under its byte budgets, and flat after a warm-up.

The quiet period is 30 s, longer than the run, so nothing is decided because it went
quiet: only the sampler's byte budget (32 MiB here) bounds its buffer. Counted in spans
alone, the ~1 MiB spans sent would have held ~200 MiB by the end. bench/soak.py is the
10-minute version, with the figures in docs/benchmarks.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tests.adversarial import MIB, Adversary, children, rss_mib
from tests.fixtures.bot_server import BotProcess

RUN_S = 25.0
WARM_UP_S = 10.0
SPAN_BUDGET_MIB = 32
WRITE_BUDGET_MIB = 16
SLACK_MIB = 64
"""Beyond the budgets: the ingest caches (bounded in entries of at most 512 bytes) and the
allocator's arenas, which keep pages a burst touched."""
GROWTH_MIB = 32
"""What the highest RSS after the warm-up may add to the highest during it."""


def test_rss_stays_under_the_byte_budgets_and_flat_under_adversarial_values(
    start_bot: Callable[..., BotProcess],
) -> None:
    bot = start_bot(
        JOURNEYWATCH_COLLECTOR__QUIET_PERIOD_S="30",
        JOURNEYWATCH_COLLECTOR__SPAN_BUDGET_BYTES=str(SPAN_BUDGET_MIB * MIB),
        JOURNEYWATCH_COLLECTOR__MAX_PENDING_WRITE_BYTES=str(WRITE_BUDGET_MIB * MIB),
    )
    pid = bot.process.pid
    time.sleep(1)
    idle = rss_mib(pid)
    adversary = Adversary(bot.url, senders=2, interval_s=0.2).start()
    began = time.monotonic()
    samples: list[tuple[float, float, float]] = []
    try:
        while (elapsed := time.monotonic() - began) < RUN_S:
            time.sleep(1)
            writers = children(pid)
            samples.append((elapsed, rss_mib(pid), rss_mib(writers[0]) if writers else 0.0))
    finally:
        adversary.stop()
    health = httpx.get(f"{bot.url}/healthz", timeout=30).json()

    warm = [server for at, server, _ in samples if at < WARM_UP_S]
    after = [server for at, server, _ in samples if at >= WARM_UP_S]
    curve = [round(server) for _, server, _ in samples]
    assert adversary.sent > 50 and adversary.answers.get(200, 0) > 25, adversary.answers
    assert max(after) - max(warm) < GROWTH_MIB, curve
    assert max(warm + after) < idle + SPAN_BUDGET_MIB + WRITE_BUDGET_MIB + SLACK_MIB, (idle, curve)
    assert health["collector"]["buffered_bytes"] <= SPAN_BUDGET_MIB * MIB
    assert health["collector"]["early_decisions"] > 0  # the byte budget decided, not the quiet period
    assert max(writer for _, _, writer in samples) < 128, samples
