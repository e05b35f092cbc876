"""The first line's figures, on hand-built buckets and reports."""

from __future__ import annotations

from pathlib import Path

from bot.config import AppConfig, Journey, JourneyMatch, LatencyObjective, Objectives, Runbook
from bot.incidents.headline import (
    ChangeNote,
    Headline,
    Headlines,
    Onset,
    Suspect,
    added_ms,
    first_bad_bucket,
    onset,
)
from bot.runbooks import best_runbook, matching_runbooks
from bot.slack import messages as say
from bot.slack.blocks import headline_line
from bot.slack.mrkdwn import Quote
from bot.sources.builtin import BuiltinTraceSource
from bot.store import Store
from bot.telemetry.spanmetrics import SpanMetricRow
from correlators.changes import ReleaseJudged
from correlators.model import SpanKind
from tests.spantree import TraceBuilder
from tests.stored import store_telemetry, stored_report

BASE_MS = 1_700_000_000_000


def test_the_start_is_where_the_bad_share_changed_not_a_lone_bad_request_before_it() -> None:
    # (bucket start, requests, bad): one slow request at 20 in a quiet baseline, then
    # from 60 half the requests are bad; the burn was noticed at 90
    buckets = [(0, 10, 0), (10, 10, 0), (20, 10, 1), (30, 10, 0), (40, 10, 0), (50, 10, 0)]
    buckets += [(60, 10, 5), (70, 10, 4), (80, 10, 6), (90, 10, 5), (100, 10, 5)]
    # before 90: 16 bad of 90 (0.178); from 90: 10 of 20 (0.5); reference 0.339; the running
    # sum is lowest (-19.3) after bucket 50, so the change is at 60, its first bad bucket
    assert first_bad_bucket(buckets, 90) == 60


def test_no_bad_request_means_no_start() -> None:
    assert first_bad_bucket([(0, 10, 0), (10, 10, 0)], 10) is None


def test_a_single_service_release_offers_the_roll_back_runbook() -> None:
    rollback = Runbook(title="Roll back a release", url="https://runbooks.example/rollback", fault="release")
    config = AppConfig(journeys=[], runbooks=[rollback])
    fields = {
        "scope": {"kind": "localized", "level": "service", "subject": "cart", "confidence": 0.7},
        "candidates": [{"service": "cart", "score": 0.5}],
    }
    deploy = {"kind": "deploy", "time_ns": 0, "minutes_before": 2.0}
    report = stored_report({**fields, "changes": [{"service": "cart", **deploy}]})
    assert best_runbook(config, None, report) == rollback
    assert matching_runbooks(config, None, report) == [rollback]
    unrelated = stored_report({**fields, "changes": [{"service": "shipping", **deploy}]})
    assert best_runbook(config, None, unrelated) is None


def test_changes_are_timed_against_the_first_bad_request() -> None:
    assert say.change_words("cart", "deploy", "2.4.1", 2.0) == (
        "cart 2.4.1 deployed 2 min before the first bad request"
    )
    assert say.change_words("pricing", "flag", None, -1.5) == (
        "pricing flag flipped 1 min 30 s after the first bad request"
    )


def test_the_suspect_is_named_with_what_the_on_call_can_act_on() -> None:
    flag = say.suspect_words("pricing", "feature_flag", "new_pricing=true", "pricing-1", [], None)
    assert flag == "likely pricing, feature flag new_pricing=true"  # not one pod's fault
    service = say.suspect_words("catalog", "service", None, "catalog-1", [], 0.4)
    assert service == "likely catalog"  # nor a "+0 ms" that says nothing
    instance = say.suspect_words("catalog", "instance", "catalog-2", "catalog-2", [], 120.4)
    assert instance == "likely catalog (catalog-2) (instance) (+120 ms per request)"
    routed = say.suspect_words("GET /users/<id>", "service", None, None, [], None)
    assert routed == "likely GET /users/&lt;id&gt;"  # telemetry text is escaped, never markup


def test_people_are_those_of_bad_entry_requests_not_of_traces_with_a_late_inner_span(tmp_path: Path) -> None:
    """A checkout answered in 100 ms whose e-mail job ends at 900 ms is not slow against
    400 ms: span metrics judge the entry request, and so are the people counted."""
    config = AppConfig(
        journeys=[
            Journey(
                name="checkout",
                match=JourneyMatch(attribute="journey.name"),
                objectives=Objectives(latency=LatencyObjective(threshold_ms=400, target=0.99)),
            )
        ]
    )
    store = Store(f"sqlite:///{tmp_path}/jw.db")
    store.migrate()
    traces = []
    for n, (root_ms, inner_ms) in enumerate(((900, 50), (100, 900), (120, 60))):
        builder = TraceBuilder(f"{n + 1:032x}")
        root = builder.span("frontend", "POST /checkout", BASE_MS, BASE_MS + root_ms, kind=SpanKind.SERVER)
        builder.span("mailer", "send receipt", BASE_MS + 10, BASE_MS + inner_ms, parent=root)
        trace = builder.trace()
        trace.journey, trace.session_id = "checkout", f"s-{n + 1}"
        traces.append(trace)
    store_telemetry(store, config, traces)
    headlines = Headlines(config, store, BuiltinTraceSource(store), bucket_s=10)

    impact = headlines.impact("checkout", "latency", 400, BASE_MS / 1000, BASE_MS / 1000 + 60)

    assert impact is not None
    assert (impact.bad, impact.requests, impact.people, impact.people_kind) == (1, 3, 1, "sessions")
    store.close()


class _Rows:
    """Span metrics as the store reads them: entry rows a minute apart, calm for ten
    minutes, then every second request slower than the objective (and none failed)."""

    def span_metrics(self, *, journey: str | None, start_s: int, end_s: int) -> list[SpanMetricRow]:
        return [
            SpanMetricRow(
                t,
                "checkout",
                "web",
                "POST /checkout",
                True,
                requests=20,
                errors=0,
                slow=10 if t >= 600 else 0,
            )
            for t in range(0, 900, 60)
            if start_s <= t < end_s
        ]


def test_an_on_demand_onset_is_where_the_objective_that_went_bad_began() -> None:
    """Nothing failed, so availability has no onset; latency's is at 600 s, with 50 slow
    requests since (5 buckets of 10)."""
    found = onset(_Rows(), "checkout", ["availability", "latency"], 0, 900)  # type: ignore[arg-type]
    assert found == Onset("latency", 600, 50)
    assert onset(_Rows(), "checkout", ["availability"], 0, 900) is None  # type: ignore[arg-type]


def test_a_caller_slow_on_an_uninstrumented_database_is_headlined_with_the_time_it_added() -> None:
    """The demo's N+1: orders waits 440 ms more on SQLite, counted on the path to
    sqlite:shop, and the verdict is orders (only its calls are slow). The first line says
    what orders added, not the millisecond of its own code."""
    slow_calls = {
        "finding": "slow_from_one_caller",
        "instance": "orders-1",
        "dependency": "sqlite:shop",
        "share": 0.9,
    }
    report = stored_report(
        {
            "scope": {"kind": "localized", "level": "service", "subject": "orders", "confidence": 0.8},
            "candidates": [
                {
                    "service": "orders",
                    "score": 1.0,
                    "evidence": [
                        {"kind": "critical_path", "summary": "", "weight": 1.0, "figures": slow_calls}
                    ],
                }
            ],
            "bottlenecks": [
                {
                    "service": "sqlite:shop",
                    "operation": "INSERT",
                    "incident_ms": 500.0,
                    "baseline_ms": 60.0,
                    "delta_ms": 440.0,
                    "share": 0.99,
                },
                {
                    "service": "orders",
                    "operation": "POST /orders",
                    "incident_ms": 21.0,
                    "baseline_ms": 20.0,
                    "delta_ms": 1.0,
                    "share": 0.01,
                },
            ],
        }
    )
    assert added_ms(report, report.candidates[0]) == 1.0 + 440.0 * 0.9
    alone = stored_report({**report.to_json(), "candidates": [{"service": "orders", "score": 1.0}]})
    assert added_ms(alone, alone.candidates[0]) == 1.0  # no finding ties the database's time to it


def test_a_deploy_in_the_first_line_carries_its_release_verdict_with_the_operation_quoted() -> None:
    regressed = ReleaseJudged("regressed", operation="INSERT <orders>", quantile=0.95, change=0.31)
    headline = Headline(
        journey="checkout",
        impact=None,
        suspect=Suspect("orders", "release", "orders 2.0.0", None, (), 120.0),
        changes=(
            ChangeNote("orders", "deploy", "2.0.0", 3.0, regressed),
            ChangeNote("orders", "flag", None, 1.0),
        ),
        other_changes=0,
        runbook=None,
        investigated=True,
    )
    line = headline_line(headline, Quote())
    assert (
        "orders 2.0.0 deployed 3 min before the first bad request; "
        "release regressed: INSERT &lt;orders&gt; p95 +31%"
    ) in line
    assert "orders flag flipped 1 min before the first bad request ·" in line + " ·"
