"""The watcher on the built-in store (SQLite): a generated bad release burns checkout's
budget, the watcher opens one incident, investigates it, keeps it through restarts and
repeated evaluations, and resolves it once the burn has been quiet for the hysteresis."""

from __future__ import annotations

import dataclasses

import pytest

from bot.changes import ChangeLog
from bot.config import AppConfig
from bot.incidents.lifecycle import Action
from bot.incidents.repository import IncidentRepository
from bot.investigate import Investigator
from bot.settings import Settings
from bot.slo.state import JourneyStates
from bot.slo.watcher import Watcher
from bot.sources.build import build_sources
from bot.store import Store
from correlators.changes import Change
from tests.scenarios import Scenario, generate
from tests.stored import S, shop_config, store_telemetry


@pytest.fixture(scope="module")
def release() -> Scenario:
    return generate("deploy_exception", 3)  # cart's new release throws on checkout


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


def make_watcher(store: Store, config: AppConfig) -> Watcher:
    """A fresh set of objects on the same database: what a restarted process builds."""
    sources = build_sources(config, Settings(), store)
    incidents = IncidentRepository(store.engine)
    investigator = Investigator(config, sources, incidents, ChangeLog(store.engine), link_base="http://bot")
    return Watcher(config, sources, incidents, JourneyStates(store.engine), investigator)


def test_a_bad_release_opens_one_incident_with_its_report(store: Store, release: Scenario) -> None:
    config = shop_config()
    store_telemetry(store, config, release.traces, release.logs)
    ChangeLog(store.engine).add(Change("cart", "deploy", release.incident[0] - 60 * S, version="2.4.0"))
    watcher = make_watcher(store, config)
    now = release.incident[1] / S

    changes = watcher.evaluate_all(now)

    assert [(c.journey, c.action) for c in changes] == [("checkout", Action.OPEN)]
    for future in watcher.pending:
        future.result(timeout=60)
    incident = watcher.incidents.get(changes[0].incident_id)
    assert incident is not None
    assert (incident["status"], incident["severity"], incident["tier"]) == ("open", "page", "page-burst")
    assert incident["burn_rate"] > 14.4
    kinds = [e["kind"] for e in incident["timeline"]]
    assert kinds == ["opened", "investigated", "hypothesis"]  # the first report's: new
    report = incident["report"]
    assert report["candidates"][0]["service"] == "cart"
    assert report["scope"]["kind"] == "localized"
    assert any(c["service"] == "cart" and c["version"] == "2.4.0" for c in report["changes"])
    assert any(e["kind"] == "change" for e in report["candidates"][0]["evidence"])
    watcher.close()


def test_evaluations_and_restarts_never_open_a_second_incident(any_store: Store, release: Scenario) -> None:
    store = any_store
    config = shop_config()
    store_telemetry(store, config, release.traces)
    now = release.incident[1] / S
    first = make_watcher(store, config)
    assert [c.action for c in first.evaluate_all(now)] == [Action.OPEN]
    assert first.evaluate_all(now + 5) == []  # same tier still firing: an update, nobody told
    first.close()

    restarted = make_watcher(store, config)
    assert restarted.evaluate_all(now + 10) == []
    assert len(restarted.incidents.find(journey="checkout")) == 1
    states = {(s.objective, s.tier): s for s in restarted.states.current("checkout")}
    assert states[("availability", "page-burst")].firing
    # "firing since" survived the restart: it is the first evaluation's time
    assert states[("availability", "page-burst")].firing_since == pytest.approx(int(now), abs=1)
    restarted.close()


def test_resolves_after_the_hysteresis_with_duration_and_budget_spent(
    store: Store, release: Scenario
) -> None:
    config = shop_config(resolve_after=600)
    store_telemetry(store, config, release.traces)
    watcher = make_watcher(store, config)
    watcher.investigator = None
    end = release.incident[1] / S
    assert [c.action for c in watcher.evaluate_all(end)] == [Action.OPEN]
    # traffic stops with the fault: from here no window burns
    quiet_from = end + 300
    assert watcher.evaluate_all(quiet_from) == []
    assert watcher.evaluate_all(end + 599) == []  # still inside the hysteresis
    resolved = watcher.evaluate_all(end + 600)
    assert [(c.journey, c.action) for c in resolved] == [("checkout", Action.RESOLVE)]
    incident = watcher.incidents.get(resolved[0].incident_id)
    assert incident is not None and incident["status"] == "resolved"
    last = incident["timeline"][-1]
    assert last["kind"] == "resolved" and last["actor"] == "journeywatch"
    assert last["detail"]["duration_s"] >= 0
    assert incident["budget_spent"] is not None and incident["budget_spent"] >= 0
    # and the next burn would be a new incident
    assert watcher.incidents.open_state("checkout") is None
    watcher.close()


def test_a_second_incident_names_the_first_as_similar(store: Store, release: Scenario) -> None:
    config = shop_config(resolve_after=60)
    store_telemetry(store, config, release.traces, release.logs)
    watcher = make_watcher(store, config)
    end = release.incident[1] / S
    [first] = watcher.evaluate_all(end)
    for future in watcher.pending:
        future.result(timeout=60)
    assert [c.action for c in watcher.evaluate_all(end + 400)] == [Action.RESOLVE]  # quiet past 60 s

    # the same release burns again a day later: the same traces, shifted
    day = 86400 * S
    again = [
        dataclasses.replace(
            t,
            trace_id=f"{int(t.trace_id, 16) ^ 1:032x}",
            spans=[
                dataclasses.replace(
                    s,
                    trace_id=f"{int(s.trace_id, 16) ^ 1:032x}",
                    start_ns=s.start_ns + day,
                    end_ns=s.end_ns + day,
                )
                for s in t.spans
            ],
        )
        for t in release.traces
    ]
    store_telemetry(store, config, again)
    [second] = watcher.evaluate_all(end + 86400)
    for future in watcher.pending:
        future.result(timeout=60)
    incident = watcher.incidents.get(second.incident_id)
    assert incident is not None and second.incident_id != first.incident_id
    similar = incident["report"]["similar"]
    assert [s["id"] for s in similar] == [first.incident_id]
    assert similar[0]["why"] == "same top suspect (cart)"
    assert similar[0]["link"] == f"http://bot/incidents/{first.incident_id}"
    watcher.close()


def test_the_incident_window_starts_where_the_burn_began(store: Store, release: Scenario) -> None:
    """The last evaluation that saw the last minute quiet dates the burn's start, so the
    baseline ends there instead of a whole tier window before the page."""
    config = shop_config()
    store_telemetry(store, config, release.traces)
    watcher = make_watcher(store, config)
    watcher.investigator = None
    onset = release.incident[0] / S
    assert watcher.evaluate_all(onset) == []  # the fault has not begun: all quiet
    [opened] = watcher.evaluate_all(onset + 200)
    row = watcher.incidents.row(opened.incident_id)
    assert row is not None and row.burn_start == pytest.approx(onset - 60, abs=1)
    watcher.close()
