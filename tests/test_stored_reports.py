"""The read boundary of stored reports: the repository hands the edges a typed Report,
reads a report an older release stored, and a row whose report does not read costs that
report only, never the incident's page, its API answer or another incident's grouping."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from bot.incidents.lifecycle import Action, Firing
from bot.incidents.repository import IncidentRepository
from bot.render.report import evidence_words, report_json, scope_reasons, summary
from bot.server import create_app
from bot.store import Store
from bot.store.state import IncidentRow
from bot.wiring import Bot
from correlators.analyze import analyze
from correlators.report import Report
from tests.asgi import AppClient
from tests.scenarios import generate
from tests.test_incident_api import bot  # noqa: F401  (the app's bot, SQLite, API token)

T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def analysed() -> Report:
    return analyze(generate("deploy_exception", 3).analysis_input())


def opened(repository: IncidentRepository, journey: str, at: float = 0.0) -> int:
    firing = Firing("availability", "page-fast", 0, "page", 20.0, 0.5, T0 + at - 60)
    applied = repository.apply(journey, Action.OPEN, firing, T0 + at)
    assert applied is not None
    return applied.incident_id


def keep_text(repository: IncidentRepository, incident_id: int, text: str) -> None:
    """Put ``text`` in the report column as an older release (or a broken disk) left it."""
    with repository.engine.begin() as connection:
        connection.execute(update(IncidentRow).where(IncidentRow.id == incident_id).values(report=text))


def older(report: Report) -> dict[str, Any]:
    """The report as a release before worst traces, input gaps, metric peaks, the
    evidence's figures and the scope's grounds wrote it."""
    data = report_json(report)
    for key in ("worst_traces", "input_gaps"):
        del data[key]
    del data["scope"]["grounds"]
    for candidate in data["candidates"]:
        candidate["evidence"] = [
            {k: v for k, v in e.items() if k not in ("subject", "figures")} for e in candidate["evidence"]
        ]
    data["metric_anomalies"] = [
        {k: v for k, v in m.items() if k != "baseline_peak"} for m in data["metric_anomalies"]
    ]
    return data


def test_the_repository_hands_out_what_was_stored_typed(any_store: Store, analysed: Report) -> None:
    repository = IncidentRepository(any_store.engine)
    incident_id = opened(repository, "checkout")
    assert repository.reports(incident_id) == (None, None)
    repository.store_report(incident_id, analysed, T0 + 10, 1.0)
    first = repository.reports(incident_id)
    assert first.current == analysed and first.previous is None
    repository.store_report(incident_id, analysed, T0 + 20, 1.0)
    assert repository.reports(incident_id) == (analysed, analysed)
    body = repository.get(incident_id)
    assert body is not None and body["report"] == json.loads(json.dumps(report_json(analysed)))
    trace = analysed.worst_traces[0]
    assert [i["id"] for i in repository.citing(trace)] == [incident_id]


def test_a_report_an_older_release_stored_reads_and_is_cited(any_store: Store, analysed: Report) -> None:
    repository = IncidentRepository(any_store.engine)
    incident_id = opened(repository, "checkout")
    keep_text(repository, incident_id, json.dumps(older(analysed)))
    report = repository.reports(incident_id).current
    assert report is not None
    assert report.worst_traces == [] and summary(report) == summary(analysed)
    said = [[evidence_words(e) for e in c.evidence] for c in report.candidates]
    assert said == [[evidence_words(e) for e in c.evidence] for c in analysed.candidates]
    assert all(e.figures is None for c in report.candidates for e in c.evidence)
    assert report.scope.grounds == [] and scope_reasons(report.scope) == scope_reasons(analysed.scope)
    logged = next(iter(analysed.exemplar_logs))
    assert [i["id"] for i in repository.citing(logged)] == [incident_id]
    [past] = repository.past("checkout", T0 + 1, exclude=0)
    assert (past.id, past.top_service) == (incident_id, analysed.candidates[0].service)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"scope": "systemic"}', '{"schema_version": 9}'])
def test_a_report_that_does_not_read_costs_only_itself(any_store: Store, analysed: Report, text: str) -> None:
    repository = IncidentRepository(any_store.engine, group_within_s=600)
    broken = opened(repository, "checkout")
    keep_text(repository, broken, text)
    assert repository.reports(broken) == (None, None)
    assert repository.citing(analysed.worst_traces[0]) == []
    assert repository.past("checkout", T0 + 1, exclude=0) == []
    login = opened(repository, "login", at=20)
    repository.store_report(login, analysed, T0 + 30, 1.0)  # grouping reads the broken row too
    assert repository.reports(login).current == analysed
    assert repository.group(login) is None


def test_pages_and_api_of_an_old_and_a_broken_report(bot: Bot, analysed: Report) -> None:  # noqa: F811
    client = AppClient(create_app(bot), headers={"Authorization": "Bearer s3cret"})
    old, broken = opened(bot.incidents, "checkout"), opened(bot.incidents, "login")
    keep_text(bot.incidents, old, json.dumps(older(analysed)))
    keep_text(bot.incidents, broken, '{"scope": "systemic"}')

    page = client.get(f"/incidents/{old}")
    assert page.status_code == 200
    assert 'data-service="cart"' in page.text and "1.5.0" in page.text
    assert client.get(f"/api/incidents/{old}").json()["report"] == older(analysed)

    page = client.get(f"/incidents/{broken}")
    assert page.status_code == 200 and 'id="verdict"' not in page.text
    assert client.get(f"/api/incidents/{broken}").json()["report"] == {"scope": "systemic"}
