"""The parent message leads with the line an on-call engineer acts on: how bad, since
when, where, what changed, what to do, with figures a test can work out from the
generated telemetry by hand."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

from bot.config import AppConfig, Journey, JourneyMatch, LatencyObjective, Objectives, Runbook
from bot.slack.config import SlackConfig
from bot.telemetry.assembly import session_of
from bot.wiring import Bot
from tests.fixtures.fake_slack import FakeSlack
from tests.scenarios import generate
from tests.stored import S, store_telemetry
from tests.test_slack import make_bot, page, parents  # noqa: F401  (make_bot is a fixture)

THRESHOLDS_MS = {"checkout": 400, "login": 100}
BUCKET_S = 10


def latency_config() -> AppConfig:
    """Checkout and login against latency objectives a slow shared database breaks."""
    journeys = [
        Journey(
            name=name,
            channel=f"#{name}-oncall",
            match=JourneyMatch(attribute="journey.name"),
            objectives=Objectives(latency=LatencyObjective(threshold_ms=ms, target=0.99)),
        )
        for name, ms in THRESHOLDS_MS.items()
    ]
    runbooks = [
        Runbook(title="Database latency", url="https://runbooks.example/db", fault="shared_dependency"),
        Runbook(title="Roll back a release", url="https://runbooks.example/rollback", fault="release"),
    ]
    return AppConfig(journeys=journeys, runbooks=runbooks, slack=SlackConfig())


def first_line(call_args: dict[str, object]) -> str:
    blocks = call_args["attachments"][0]["blocks"]  # type: ignore[index]
    return str(blocks[0]["text"]["text"]).split("\n")[0]


def test_a_shared_database_incident_leads_with_impact_start_suspect_changes_and_runbook(
    make_bot: Callable[..., Bot],  # noqa: F811
    fake_slack: FakeSlack,
) -> None:
    fake_slack.channels["C0LOGIN"] = "login-oncall"
    scenario = generate("shared_db_slow", 3)
    bot = make_bot(latency_config())
    for trace in scenario.traces:  # as the collector's sampler does
        trace.session_id, trace.user_id = session_of(trace.spans)
    store_telemetry(bot.store, bot.config, scenario.traces, scenario.logs)
    page(bot, scenario)

    lines, finals = {}, []
    for call in parents(fake_slack):
        channel = call.response["channel"]
        finals.append(fake_slack.message_history(channel, call.response["ts"])[-1])
        lines[channel] = first_line(finals[-1])
    assert set(lines) == {"C0CHECKOUT", "C0LOGIN"}

    fault_s = scenario.incident[0] // S
    end_s = scenario.incident[1] // S
    changes = {
        "checkout": "no change of postgresql:shop (1 other change)",
        "login": "no recent deploys",
    }  # checkout saw shipping 3.1.0 in its spans
    for journey, channel in (("checkout", "C0CHECKOUT"), ("login", "C0LOGIN")):
        threshold_ns = THRESHOLDS_MS[journey] * 1_000_000
        mine = [t for t in scenario.traces if t.journey == journey and t.root is not None]
        # the start: the 10-s bucket of the fault's first slow request; a lone slow
        # request of the baseline (checkout has two) does not move it
        slow_in_fault = [
            t.root.start_ns // S
            for t in mine
            if t.root.duration_ns > threshold_ns and t.root.start_ns >= fault_s * S
        ]  # type: ignore[union-attr]
        started = min(slow_in_fault) - min(slow_in_fault) % BUCKET_S
        since = [t for t in mine if started * S <= t.root.start_ns < (end_s + 1) * S]  # type: ignore[union-attr]
        slow = [t for t in since if t.root.duration_ns > threshold_ns]  # type: ignore[union-attr]
        sessions = {t.root.attributes["session.id"] for t in slow}  # type: ignore[union-attr]
        share = round(100 * len(slow) / len(since))
        clock = dt.datetime.fromtimestamp(started, dt.UTC).strftime("%H:%M UTC")
        line = lines[channel]
        assert line.startswith(
            f"{share} % of {journey} requests slower than {THRESHOLDS_MS[journey]} ms "
            f"since {clock} ({len(slow)} requests, {len(sessions)} sessions) · "
            "likely postgresql:shop, shared by auth, catalog, inventory, orders (+"
        ), line
        assert line.endswith(
            f" ms per request) · {changes[journey]} · next: <https://runbooks.example/db|Database latency>"
        ), line
    assert all("Budget (30 days)" in json.dumps(m) for m in finals)  # in the facts below
