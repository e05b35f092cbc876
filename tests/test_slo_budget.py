"""The error budget over the SLO window, against figures worked out by hand.

30 days at 99.9 % allow 0.1 % of the window's events to be bad. Until history fills the
window, the window's events are the events seen at the rate they came in (see
``bot.slo.budget``): 1,800 events in the last 30 minutes stand for 1,800 * 1,440 =
2,592,000 events in 30 days, so 2,592 may be bad.
"""

from __future__ import annotations

import itertools

import pytest

from bot.config import AppConfig
from bot.incidents.repository import IncidentRepository
from bot.settings import Settings
from bot.slack import messages as say
from bot.slack.blocks import incident_message
from bot.slack.mrkdwn import Quote
from bot.slo.budget import WindowBudget, covered, refinement
from bot.slo.evaluate import evaluate_journey
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.build import build_sources
from bot.store import Store
from tests.stored import shop_config, steady_traffic, store_telemetry

DAYS_30 = 30 * 86400
NOW = 1_700_000_000
"""A multiple of the 10 s metric buckets."""


def test_a_full_window_spends_its_bad_events_against_a_tenth_of_a_percent() -> None:
    budget = WindowBudget(DAYS_30, 0.999, events=1_000_000, bad=400, covered_s=DAYS_30)
    assert budget.allowed_bad == pytest.approx(1000)
    assert budget.left == pytest.approx(0.6)
    assert budget.share(50) == pytest.approx(0.05)


def test_an_overspent_budget_is_exhausted_not_negative() -> None:
    budget = WindowBudget(DAYS_30, 0.999, events=1_000_000, bad=2500, covered_s=DAYS_30)
    assert budget.left == 0.0
    assert say.budget_left_words(budget.left) == "exhausted"
    assert budget.share(2500) == pytest.approx(2.5)
    assert say.budget_share_words(budget.share(2500)) == "250 %"


def test_a_short_history_stands_for_the_window_at_its_rate() -> None:
    # 6,000 events in 10 minutes: 25,920,000 in 30 days, 25,920 of which may be bad
    budget = WindowBudget(DAYS_30, 0.999, events=6000, bad=300, covered_s=600)
    assert budget.expected_events == pytest.approx(25_920_000)
    assert budget.left == pytest.approx(1 - 300 / 25_920)  # 0.98843
    assert say.budget_left_words(budget.left) == "99 % left"
    assert say.budget_share_words(budget.share(150)) == "0.6 %"  # 150 / 25,920 = 0.579 %
    assert WindowBudget(DAYS_30, 0.999, events=0, bad=0, covered_s=DAYS_30).left == 1.0


def test_how_far_back_history_goes_is_read_from_the_window_counts() -> None:
    totals = {60: 10.0, 300: 50.0, 1800: 300.0, 3600: 300.0, DAYS_30: 300.0}
    assert covered(totals, DAYS_30) == 1800
    steps = refinement(totals, DAYS_30)
    assert steps[0] > 300 and steps[-1] < 1800 and len(steps) == 7
    assert all(b / a == pytest.approx(6 ** (1 / 8), rel=0.01) for a, b in itertools.pairwise(steps))
    assert refinement({60: 1.0, DAYS_30: 5.0}, DAYS_30) == []  # older events: the window is full
    assert covered({60: 0.0, DAYS_30: 0.0}, DAYS_30) == DAYS_30


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (0.0, "exhausted"),
        (0.004, "under 1 % left"),
        (0.12, "12 % left"),
        (0.998, "over 99 % left"),
        (1.0, "100 % left"),
    ],
)
def test_budget_words(left: float, words: str) -> None:
    assert say.budget_left_words(left) == words


def burning(store: Store, config: AppConfig) -> None:
    """30 minutes of checkout at 10 requests per 10 s (1,800 events), 4 of each 10
    failing in the last 5 minutes (30 buckets: 120 bad events)."""
    traffic = steady_traffic(
        "checkout", NOW - 1800, NOW, per_bucket=10, failing_from_s=NOW - 300, failing_per_bucket=4
    )
    store_telemetry(store, config, traffic)


def test_an_incident_on_half_an_hour_of_history_has_the_hand_computed_budget(any_store: Store) -> None:
    store = any_store
    config = shop_config()
    burning(store, config)
    sources = build_sources(config, Settings(), store)
    checkout = config.journeys[0]

    status = evaluate_journey(checkout, sources.sli, NOW)
    [availability, latency] = status.objectives
    assert (availability.events, availability.budget.bad, availability.budget.covered_s) == (1800, 120, 1800)
    assert availability.budget_left == pytest.approx(1 - 120 / 2592)  # 0.9537, not 1 - 120 / 1.8
    assert latency.budget_left == 1.0  # every request took 50 ms, under 1,500 ms

    incidents = IncidentRepository(store.engine)
    watcher = Watcher(config, sources, incidents, JourneyStates(store.engine), None)
    [opened] = watcher.evaluate_all(NOW)
    incident = incidents.get(opened.incident_id)
    assert incident is not None
    # the burn began at most 5 minutes ago (min_incident_window): all 120 bad events
    assert incident["budget_left"] == pytest.approx(0.9537, abs=1e-4)
    assert incident["budget_spent"] == pytest.approx(round(120 / 2592, 4))
    incidents.set_status(opened.incident_id, "resolved", "U0ALICE", NOW + 60)

    resolved = incidents.get(opened.incident_id)
    assert resolved is not None
    message = incident_message(
        resolved, owner=None, slo_window_s=DAYS_30, incident_url="u", journey_url="j", quote=Quote()
    ).payload()
    blocks = message["attachments"][0]["blocks"]
    fields = [f["text"] for b in blocks for f in b.get("fields", [])]
    assert "*Budget (30 days)*\n95 % left · this incident 4.6 %" in fields
    texts = [b["text"]["text"] for b in blocks if b.get("text")]
    assert "Resolved after 1 min. It spent 4.6 % of the 30 days' error budget." in texts
    assert message["text"] == "checkout: resolved after 1 min"
