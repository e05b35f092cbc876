"""Tail sampling: what is kept, with which weight, when it is decided, and memory bounds."""

from __future__ import annotations

from pathlib import Path

from bot.collector.pipeline import Collector
from bot.collector.sampling import TailSampler, sampled, trace_randomness
from bot.config import AppConfig, Sampling
from bot.settings import CollectorSettings
from bot.store import BatchWriter, Store, TraceQuery
from bot.telemetry.journeys import JourneyMatcher
from bot.telemetry.redact import Redactor
from correlators.model import Span, SpanKind, StatusCode

MS = 1_000_000
CONFIG = AppConfig.model_validate(
    {
        "journeys": [
            {
                "name": "checkout",
                "match": {"root_service": "frontend", "operation": "POST /checkout"},
                "objectives": {"latency": {"threshold_ms": 800, "target": 0.99}},
                "keep_fraction": 0.25,
            },
        ],
        "sampling": {
            "default_keep_fraction": 0.0,
            "priority_rules": ["payment.amount > 500", 'user.tier == "enterprise"'],
        },
    }
)


def sampler(**settings: object) -> TailSampler:
    values = {"quiet_period_s": 10.0, **settings}
    return TailSampler(CONFIG, CollectorSettings(**values), JourneyMatcher(CONFIG))  # type: ignore[arg-type]


def spans(
    trace_id: str,
    *,
    dur_ms: int = 100,
    error: bool = False,
    name: str = "POST /checkout",
    resource: dict[str, object] | None = None,
    **attrs: object,
) -> list[Span]:
    root = Span(
        trace_id,
        "1" * 16,
        None,
        "frontend",
        name,
        0,
        dur_ms * MS,
        kind=SpanKind.SERVER,
        resource=resource or {},
    )  # type: ignore[arg-type]
    child = Span(
        trace_id,
        "2" * 16,
        "1" * 16,
        "payments",
        "charge",
        MS,
        2 * MS,
        kind=SpanKind.SERVER,
        status=StatusCode.ERROR if error else StatusCode.UNSET,
        attributes=dict(attrs),
    )  # type: ignore[arg-type]
    return [root, child]


# trace ids whose low 56 bits put them just under / over a 25% keep fraction
UNDER = "f" * 18 + "3fffffffffffff"
OVER = "0" * 18 + "40000000000000"


def test_randomness_threshold_is_exact() -> None:
    assert trace_randomness(UNDER) == (1 << 54) - 1
    assert sampled(UNDER, 0.25) is True
    assert sampled(OVER, 0.25) is False
    assert sampled(OVER, 1.0) is True
    assert sampled(UNDER, 0.0) is False


def test_keep_reasons_in_order() -> None:
    s = sampler()
    s.add(spans(OVER.replace("0", "1", 1), error=True), now=0)
    s.add(spans(OVER.replace("0", "2", 1), dur_ms=900), now=0)
    s.add(spans(OVER.replace("0", "3", 1), **{"payment.amount": 750}), now=0)
    s.add(spans(OVER.replace("0", "4", 1), resource={"user.tier": "enterprise"}), now=0)
    s.add(spans(UNDER), now=0)
    s.add(spans(OVER), now=0)
    s.add(spans(OVER.replace("0", "5", 1), name="GET /other"), now=0)  # no journey, default 0
    decisions = {d.trace.trace_id[:1]: d for d in s.tick(now=10)}
    assert {k: (d.keep, d.reason, d.trace.sampling_weight) for k, d in decisions.items()} == {
        "1": (True, "error", 1.0),
        "2": (True, "slow", 1.0),
        "3": (True, "priority:payment.amount > 500", 1.0),
        "4": (True, 'priority:user.tier == "enterprise"', 1.0),
        "f": (True, "sampled", 4.0),
        "0": (False, "not sampled", 0.0),
        "5": (False, "not sampled", 0.0),
    }
    assert decisions["f"].trace.journey == "checkout"
    assert decisions["5"].trace.journey is None
    assert s.stats.kept == {"error": 1, "slow": 1, "priority": 2, "sampled": 1}
    assert s.stats.dropped == 2


def test_quiet_period_restarts_with_every_span() -> None:
    s = sampler()
    first, second = spans(UNDER)
    s.add([first], now=0)
    s.add([second], now=8)
    assert s.tick(now=10) == []
    assert s.buffered_spans == 2
    [decision] = s.tick(now=18)
    assert len(decision.trace.spans) == 2
    assert s.buffered_spans == 0


def test_late_spans_follow_the_decision() -> None:
    s = sampler()
    kept_root, kept_child = spans(UNDER)
    dropped_root, dropped_child = spans(OVER)
    s.add([kept_root, dropped_root], now=0)
    s.tick(now=20)
    late = s.add([kept_child, dropped_child], now=21)
    assert [(t.trace_id, t.journey, len(t.spans)) for t in late] == [(UNDER, "checkout", 1)]
    assert s.stats.late_kept == 1 and s.stats.late_dropped == 1
    assert s.buffered_spans == 0


def test_span_budget_decides_least_recently_seen_first() -> None:
    s = sampler(span_budget=4)
    ids = [f"{i:02x}" + "0" * 30 for i in range(1, 4)]
    for t, trace_id in enumerate(ids):
        s.add(spans(trace_id), now=t)
    decisions = s.tick(now=2.5)  # nothing is quiet yet, but 6 spans > budget of 4
    # decided down to 90 % of the budget (3.6 spans), oldest first, so in batches
    assert [d.trace.trace_id for d in decisions] == [ids[0], ids[1]]
    assert s.stats.early_decisions == 2
    assert s.buffered_spans == 2


def test_orphans_are_flagged_when_decided() -> None:
    s = sampler()
    root, child = spans(UNDER)
    stray = Span(UNDER, "3" * 16, "9" * 16, "inventory", "reserve", 0, MS)
    s.add([root, child, stray], now=0)
    [decision] = s.flush_all(now=0)
    assert [(sp.span_id[:1], sp.orphan) for sp in decision.trace.spans] == [
        ("1", False),
        ("2", False),
        ("3", True),
    ]


def test_the_collector_keeps_the_span_budget_as_spans_arrive(tmp_path: Path) -> None:
    """Between ticks, ingest alone must not take the buffer past the budget: the request
    that crosses it decides the oldest traces there and then, and they are stored."""
    settings = CollectorSettings(span_budget=10, quiet_period_s=60, writer_process=False)
    store = Store(f"sqlite:///{tmp_path}/budget.db")
    store.migrate()
    writer = BatchWriter(store, max_pending=1_000, process=False)
    writer.start()
    keep_all = CONFIG.model_copy(update={"sampling": Sampling(default_keep_fraction=1.0)})
    collector = Collector(keep_all, settings, writer, Redactor(keep_all.redaction, b"k" * 32))
    try:
        trace_ids = [f"{n:032x}" for n in range(1, 21)]
        for trace_id in trace_ids:  # 2 spans a trace, never a tick
            collector.ingest_spans(spans(trace_id, name="GET /other"))
            assert collector.sampler.buffered_spans <= 10
        writer.flush(timeout=30)
        stored = {t.trace_id for t in store.find_traces(TraceQuery(limit=100))}
        buffered = collector.sampler.buffered_traces
        assert stored == set(trace_ids[: 20 - buffered])  # oldest first; the rest wait
        assert 4 <= buffered <= 5 and collector.sampler.stats.early_decisions == 20 - buffered
    finally:
        writer.stop()
        store.close()


def test_a_trace_that_never_goes_quiet_is_decided_after_max_trace_wait() -> None:
    """It would otherwise be held for ever, and with it every spooled request after its
    first span's; its later spans follow the decision."""
    s = sampler(quiet_period_s=10, max_trace_wait_s=60)
    busy, quiet = "a" * 32, "b" * 32
    s.add(spans(busy, error=True), now=0, epoch=1)
    for now in range(5, 60, 5):  # a span every 5 s: never quiet for 10
        assert s.add([Span(busy, f"{now:016x}", "1" * 16, "cart", "poll", 0, MS)], now=now, epoch=2) == []
        assert s.tick(now) == []
    s.add(spans(quiet, name="GET /other"), now=58, epoch=3)
    assert s.oldest_epoch == 1
    [overdue] = s.tick(61)
    assert overdue.trace.trace_id == busy and overdue.keep and overdue.epoch == 1
    assert len(overdue.trace.spans) == 13
    assert s.stats.overdue_decisions == 1
    assert s.oldest_epoch == 3, "the quiet trace's epoch is now the oldest held"
    late = s.add([Span(busy, "f" * 16, "1" * 16, "cart", "poll", 0, MS)], now=62, epoch=4)
    assert [t.trace_id for t in late] == [busy]
    [decided] = s.tick(68)  # quiet since 58
    assert decided.trace.trace_id == quiet and decided.epoch == 3
    assert s.oldest_epoch is None
