"""What the audit trail costs a read: ``GET /api/traces/{id}`` through the app the server
builds (in-process ASGI, one client, one request at a time), and one ``AuditTrail.record``
alone, on a file SQLite database (or ``--url``).

Every audited read writes one row in a transaction of its own after the read, so the
figure to watch is the read's latency before and after. Run it on a tree without the
trail for the "before" (``--tree`` imports journeywatch from there):

    .venv/bin/python bench/audit.py --tree /work/main     # before
    .venv/bin/python bench/audit.py                       # after

``--key viewer`` (or ``responder``, ``admin``) reads with an access key of that role
scoped to checkout instead of the API token: what the policy and the keyring's cached
lookup add to a read (the trace is checkout's, so it is found).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TRACE_ID = "0123456789abcdef0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--url", help="SQLAlchemy URL of an empty database; default a temporary SQLite file")
    parser.add_argument("--tree", type=Path, default=REPO, help="import journeywatch from this checkout")
    parser.add_argument("--key", help="read with an access key of this role (viewer, responder, admin)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        bot = build(url)
        try:
            credential = "bench" if args.key is None else access_key(bot, args.key)
            latencies = asyncio.run(reads(bot, args.requests, credential))
            report(f"GET /api/traces/{{id}} ({args.key or 'API token'})", latencies)
            if importlib.util.find_spec("bot.audit") is not None:
                report("AuditTrail.record", records(bot, args.requests))
        finally:
            bot.watcher.close()
            bot.investigator.close()
            bot.store.close()


def build(url: str) -> Any:
    from pydantic import SecretStr

    from bot.config import load_config
    from bot.server import build_bot
    from bot.settings import Settings
    from correlators.model import Span, SpanKind, Trace

    settings = Settings(database_url=url, api_token=SecretStr("bench"))
    settings.collector.writer_process = False
    settings.collector.spool.enabled = False
    bot = build_bot(settings, load_config(REPO / "config" / "journeys.yaml"))
    spans = [
        Span(TRACE_ID, f"{n + 1:016x}", None if n == 0 else "0000000000000001", "frontend", "GET /", 0, 1000)
        for n in range(8)
    ]
    for span in spans:
        span.kind = SpanKind.SERVER
    bot.store.write_traces([Trace(TRACE_ID, spans, journey="checkout")])
    return bot


def access_key(bot: Any, role: str) -> str:
    from bot.keys import KeyRegistry

    journeys = None if role == "admin" else ["checkout"]
    return str(KeyRegistry(bot.store.engine).create("bench", role=role, journeys=journeys).key)


async def reads(bot: Any, count: int, credential: str) -> list[float]:
    import httpx

    from bot.server import create_app

    transport = httpx.ASGITransport(app=create_app(bot))
    headers = {"Authorization": f"Bearer {credential}"}
    latencies = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        for _ in range(count):
            began = time.perf_counter()
            answer = await client.get(f"/api/traces/{TRACE_ID}")
            latencies.append(time.perf_counter() - began)
            assert answer.status_code == 200, answer.text
    return latencies


def records(bot: Any, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        began = time.perf_counter()
        bot.audit.record("api-token", "api", "read", "trace", TRACE_ID)
        latencies.append(time.perf_counter() - began)
    return latencies


def report(label: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{label}: {len(latencies)} calls, median {statistics.median(latencies) * 1e6:.0f} us, "
        f"p99 {p99 * 1e6:.0f} us, {len(latencies) / sum(latencies):.0f}/s"
    )


if __name__ == "__main__":
    main()
