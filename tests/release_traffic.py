"""Generated checkout traffic around a release of one service, with what the release did.

Requests arrive as a Poisson process (``rate_per_s``, 10 by default). Each is six spans:
the frontend's ``POST /checkout`` calls orders, whose ``POST /orders`` does some work,
runs one statement (:data:`STATEMENT`, the operation a release slows) and calls payments.
Durations are log-normal around fixed medians; a small share of orders' requests fail
on every version (:data:`BASE_ERRORS`). Orders runs :data:`OLD` until the release and
:data:`NEW` after it; in a canary, the new version takes a share of requests beside the
old one instead. The new version may make the statement slower by a factor, or fail an
extra share of requests, or change nothing.

Used by tests/test_release_traffic.py and bench/release_regressions.py.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from correlators.model import Span, SpanKind, StatusCode, Trace
from correlators.regression import Outcome, ReleaseComparison
from correlators.traces import assemble

MS = 1_000_000
S = 1_000_000_000
SERVICE = "orders"
OLD = "1.4.2"
NEW = "2.0.0"
STATEMENT = "SELECT items"
BASE_ERRORS = 0.001
START_NS = 1_767_000_000 * S
"""2025-12-29: a time an OTLP file and the store can carry."""


@dataclass(frozen=True, slots=True)
class Release:
    """What version 2.0.0 does, and how the traffic around it runs."""

    slower: float = 0.0
    """The statement's durations multiplied by 1 + this on the new version."""
    errors: float = 0.0
    """Extra share of orders' requests that fail on the new version."""
    rate_per_s: float = 10.0
    before_s: float = 600.0
    """Old-version traffic before the release (before/after)."""
    after_s: float = 600.0
    canary: float = 0.0
    """When above 0: no before; for ``after_s`` this share of requests runs the new version."""
    flag: bool = False
    """The change is no version (a flag flip): orders runs the old version throughout."""


CASES = {
    "no change": Release(),
    "latency +10%": Release(slower=0.1),
    "latency +30%": Release(slower=0.3),
    "errors +1%": Release(errors=0.01),
}


def release_time(release: Release) -> int:
    """When the new version's first request may arrive."""
    return START_NS + (0 if release.canary else int(release.before_s * S))


def traffic(seed: int, release: Release) -> list[Trace]:
    """The requests, in order of arrival."""
    rng = random.Random(seed)
    released = release_time(release)
    end = released + int(release.after_s * S)
    traces: list[Trace] = []
    at = START_NS
    i = 0
    while True:
        at += int(rng.expovariate(release.rate_per_s) * S)
        if at >= end:
            return traces
        new = at >= released and (not release.canary or rng.random() < release.canary)
        traces.append(_request(rng, f"{seed:08x}{i:024x}", at, release if new else None))
        i += 1


def minutes_to_call(seed: int, release: Release, minutes: int) -> int | None:
    """Looked at after each minute of the new version's traffic, as the bot's job looks
    (each verdict on all traffic so far): the first minute whose verdict is ``regressed``."""
    comparison = ReleaseComparison(SERVICE, OLD, NEW)
    released = release_time(release)
    traces = traffic(seed, release)
    i = 0
    for minute in range(1, minutes + 1):
        until = released + minute * 60 * S
        while i < len(traces) and traces[i].spans[0].start_ns < until:
            comparison.add(assemble(traces[i]))
            i += 1
        if comparison.verdict().outcome is Outcome.REGRESSED:
            return minute
    return None


def _ms(rng: random.Random, median_ms: float, sigma: float) -> int:
    return int(rng.lognormvariate(0, sigma) * median_ms * MS)


def _request(rng: random.Random, trace_id: str, at: int, new: Release | None) -> Trace:
    """One checkout: ``new`` is the release when orders runs the new version."""
    version = NEW if new and not new.flag else OLD
    failed = rng.random() < BASE_ERRORS + (new.errors if new else 0.0)
    slower = 1 + (new.slower if new else 0.0)
    t = at + _ms(rng, 3, 0.3)
    orders_start = t + _ms(rng, 1, 0.3)
    db_start = orders_start + _ms(rng, 4, 0.4)
    db_end = db_start + int(_ms(rng, 12, 0.5) * slower)
    if failed:
        orders_end = db_end + _ms(rng, 1, 0.3)
        pay = None
    else:
        pay_start = db_end + _ms(rng, 2, 0.3)
        pay_end = pay_start + _ms(rng, 30, 0.4)
        pay = (pay_start, pay_end)
        orders_end = pay_end + _ms(rng, 1, 0.3)
    call_end = orders_end + _ms(rng, 1, 0.3)
    root_end = call_end + _ms(rng, 2, 0.3)

    def span(n: int, parent: int | None, service: str, name: str, start: int, end: int, **kw: object) -> Span:
        return Span(
            trace_id,
            f"{n:016x}",
            f"{parent:016x}" if parent else None,
            service,
            name,
            start,
            end,
            service_version=version if service == SERVICE else "3.1.0",
            resource={"service.name": service, "service.version": version if service == SERVICE else "3.1.0"},
            **kw,  # type: ignore[arg-type]
        )

    error = StatusCode.ERROR if failed else StatusCode.UNSET
    spans = [
        span(1, None, "frontend", "POST /checkout", at, root_end, kind=SpanKind.SERVER, status=error),
        span(2, 1, "frontend", "call orders", t, call_end, kind=SpanKind.CLIENT, status=error),
        span(3, 2, SERVICE, "POST /orders", orders_start, orders_end, kind=SpanKind.SERVER, status=error),
        span(
            4,
            3,
            SERVICE,
            STATEMENT,
            db_start,
            db_end,
            kind=SpanKind.CLIENT,
            attributes={"db.system": "postgresql", "db.statement": "SELECT * FROM items WHERE cart = ?"},
        ),
    ]
    if pay is not None:
        spans.append(span(5, 3, SERVICE, "call payments", *pay, kind=SpanKind.CLIENT))
        spans.append(span(6, 5, "payments", "POST /charge", *pay, kind=SpanKind.SERVER))
    return Trace(trace_id, spans, journey="checkout")
