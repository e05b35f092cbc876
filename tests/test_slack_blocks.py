"""Block Kit rendering of reports: generated incidents, runbook matching, limits, redaction."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.config import AppConfig, Runbook
from bot.incidents.hypothesis import Hypothesis, Posted, Shift
from bot.runbooks import matching_runbooks
from bot.slack.blocks import SECTION_LIMIT, hypothesis_line, incident_message, led_by, summary_message
from bot.slack.mrkdwn import Quote
from correlators.analyze import AnalysisInput, analyze
from correlators.grounds import EveryInstance
from correlators.logs import TemplateChange
from correlators.metrics import Window
from correlators.report import Report
from tests.scenarios import generate
from tests.stored import shop_config

RUNBOOKS = [
    Runbook(title="Checkout runbook", url="https://runbooks.example/checkout"),
    Runbook(title="Cart runbook", url="https://runbooks.example/cart", service="cart"),
    Runbook(title="PostgreSQL is slow", url="https://runbooks.example/pg", fault="shared_dependency"),
    Runbook(
        title="Cart instance restarts",
        url="https://runbooks.example/cart-instance",
        service="cart",
        fault="instance",
    ),
]


def config() -> AppConfig:
    base = shop_config()
    checkout = base.journeys[0].model_copy(update={"runbooks": RUNBOOKS[:1]})
    return base.model_copy(update={"journeys": [checkout, *base.journeys[1:]], "runbooks": RUNBOOKS[1:]})


def report_of(kind: str, seed: int) -> Report:
    scenario = generate(kind, seed)
    report = analyze(
        AnalysisInput(
            traces=scenario.traces,
            baseline=Window(*scenario.baseline),
            incident=Window(*scenario.incident),
            logs=scenario.logs,
            metrics=scenario.metrics,
            journey="checkout",
            latency_threshold_ms=1500,
        )
    )
    return report


@pytest.mark.parametrize(
    ("kind", "seed", "verdict", "top", "runbooks", "not_runbooks"),
    [
        (
            "deploy_exception",
            3,
            "*Localized* fault, service",
            "cart",
            ["Checkout runbook", "Cart runbook"],
            ["PostgreSQL is slow", "Cart instance restarts"],
        ),
        (
            "shared_db_slow",
            5,
            "*Systemic* fault, shared_dependency",
            "postgresql:shop",
            ["Checkout runbook", "PostgreSQL is slow"],
            ["Cart runbook"],
        ),
    ],
)
def test_a_generated_incident_summary_names_verdict_suspect_and_runbooks(
    kind: str, seed: int, verdict: str, top: str, runbooks: list[str], not_runbooks: list[str]
) -> None:
    app = config()
    report = report_of(kind, seed)
    chosen = matching_runbooks(app, app.journey("checkout"), report)
    message = summary_message(
        report, runbooks=chosen, incident_url="https://jw/incidents/1", trace_url=None, quote=Quote()
    )
    text = json.dumps(message.blocks)
    assert verdict in text
    assert f"*1. {top}*" in text
    suspects = next(
        b["text"]["text"] for b in message.blocks if "Top suspects" in b.get("text", {}).get("text", "")
    )
    assert "score" not in " ".join(line for line in suspects.split("\n") if line.startswith("*"))
    for title in runbooks:
        assert title in text
    for title in not_runbooks:
        assert title not in text


def test_long_content_is_cut_with_a_link_never_refused() -> None:
    report = report_of("deploy_exception", 3)
    report.scope = replace(report.scope, grounds=[EveryInstance("x" * 5000)])
    report.log_changes = [TemplateChange("cart", "t", "new", 0, 9, None, 17, "y" * 9000)] * 3
    message = summary_message(
        report, runbooks=[], incident_url="https://jw/incidents/1", trace_url=None, quote=Quote()
    )
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    assert all(len(t) <= SECTION_LIMIT for t in sections)
    assert any(t.endswith("<https://jw/incidents/1|more>") for t in sections)


def test_info_lines_are_not_error_lines() -> None:
    """ "login ok for a free user" surges with the traffic; it is not listed among the
    error lines, the WARN line beside it is."""
    report = report_of("deploy_exception", 3)
    report.log_changes = [
        TemplateChange("auth", "t", "surging", 10, 90, 9.0, 9, "login ok for a free user"),
        TemplateChange("auth", "u", "surging", 10, 90, 9.0, 13, "token refresh slow"),
    ]
    message = summary_message(
        report, runbooks=[], incident_url="https://jw/incidents/1", trace_url=None, quote=Quote()
    )
    text = json.dumps(message.blocks)
    assert "token refresh slow" in text and "login ok" not in text


def test_the_parent_turns_green_with_duration_and_budget_when_resolved() -> None:
    incident = {
        "id": 7,
        "journey": "checkout",
        "status": "resolved",
        "severity": "page",
        "tier": "page-fast",
        "objective": "availability",
        "burn_rate": 20.0,
        "budget_left": 0.62,
        "duration_s": 1260,
        "budget_spent": 0.031,
        "summary": "Localized fault (service); most likely cart",
    }
    message = incident_message(
        incident,
        owner="team-payments",
        slo_window_s=30 * 86400,
        incident_url="u",
        journey_url="j",
        quote=Quote(),
    )
    payload = message.payload()
    assert payload["attachments"][0]["color"] == "#2eb67d"
    text = json.dumps(payload)
    assert "Resolved after 21 min. It spent 3.1 % of the 30 days' error budget." in text
    fields = [f["text"] for b in payload["attachments"][0]["blocks"] for f in b.get("fields", [])]
    assert "*Budget (30 days)*\n62 % left · this incident 3.1 %" in fields
    assert "*Duration*\n21 min" in fields
    assert "Burn rate" not in text and "burning" not in text  # resolved: how long, not how fast
    assert payload["text"] == "checkout: resolved after 21 min"
    assert "verdict_one_hop" in text and "incident_ack" not in text


def test_a_moved_hypothesis_leads_with_one_line_then_the_evidence() -> None:
    before, after = report_of("deploy_exception", 3), report_of("shared_db_slow", 5)
    was, now = Hypothesis.of_report(before), Hypothesis.of_report(after)
    lead = hypothesis_line(Posted(Shift.CHANGED, now, was), Quote())
    assert lead == (
        f"*Hypothesis changed:* now postgresql:shop (shared dependency), was {was.suspect} (service)"
    )
    summary = summary_message(after, runbooks=[], incident_url="u", trace_url=None, quote=Quote())
    message = led_by(lead, summary, "u")
    assert message.text == lead
    assert message.blocks[0]["text"]["text"] == lead and message.blocks[1:] == summary.blocks
    stronger = Posted(Shift.STRENGTHENED, now, Hypothesis(**{**now.to_detail(), "confidence": 60}))
    assert hypothesis_line(stronger, Quote()) == (
        "*Hypothesis strengthened:* postgresql:shop (shared dependency), "
        f"confidence 60 % → {now.confidence} %"
    )
