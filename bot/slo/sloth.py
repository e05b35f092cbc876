"""Sloth specs (https://sloth.dev) as journeys: ``version: prometheus/v1`` files and the
Kubernetes ``PrometheusServiceLevel`` (apiVersion sloth.slok.dev/v1), whose ``spec`` holds
the same fields in camelCase (older releases spelt them as the file does; both are read).

What each field becomes, and why:

- each of ``slos[]`` is a journey named after it (``<service>-<name>`` when two collide),
  owned by ``service``. Sloth's SLO period is 30 days unless the ``sloth`` command is told
  otherwise, which a spec does not record, so ``slo_window`` is 30d.
- ``objective`` (a percentage) / 100 is the objective: availability, or latency when the
  error query counts a histogram bucket (see ``documents.ratio_objective``).
- ``sli.events.error_query`` and ``total_query`` are the ``bad`` and ``total`` PromQL,
  Sloth's ``{{.window}}`` becoming our ``{window}`` and ``rate()`` becoming ``increase()``
  (see ``documents.ratio_objective``). ``sli.raw`` (a ready error ratio) and ``sli.plugin``
  give no counts to split, so the journey counts events from spans.
- ``alerting.page_alert.disable`` switches our page tiers off and ``ticket_alert.disable``
  our ticket tiers: Sloth's page and ticket alerts are the same multiwindow burn-rate pairs
  as ours. ``runbook`` and ``runbook_url`` annotations become runbooks; alert labels route
  in Alertmanager, which we do not use, and are reported.
"""

from __future__ import annotations

import re
from typing import Any

from bot.slo.documents import Document, Draft, Field, journey_name, ratio_objective, tidy
from correlators.burn import DEFAULT_TIERS

PAGE_TIERS = tuple(t.name for t in DEFAULT_TIERS if t.severity == "page")
TICKET_TIERS = tuple(t.name for t in DEFAULT_TIERS if t.severity == "ticket")

_TEMPLATE = re.compile(r"\{\{\s*\.window\s*\}\}")
_URL = re.compile(r"^https?://\S+$")


def convert(doc: Document) -> list[Draft]:
    """One journey per SLO of the spec, in order."""
    spec = doc.root.at("spec") if "apiVersion" in doc.data else doc.root
    service = spec.at("service").text()
    slos = spec.at("slos").items()
    if not slos:
        spec.at("slos").fail("needs at least one SLO")
    return [_slo(slo, service) for slo in slos]


def _slo(slo: Field, service: str) -> Draft:
    name = journey_name(slo.at("name").text())
    if not name:
        slo.at("name").fail("has no letter or digit to make a journey name of")
    slo = slo.about(f"slo {slo.at('name').text()}")
    measure = _measure(slo, _objective(slo.at("objective")))
    journey: dict[str, Any] = {"name": name, "owner": service, "objectives": measure["objectives"]}
    journey |= {"slo_window": "30d", "sli": measure["sli"]}
    alerts, runbooks = _alerts(slo), _runbooks(slo, name)
    journey |= ({"alerts": alerts} if alerts else {}) | ({"runbooks": runbooks} if runbooks else {})
    return Draft(journey, slo, service)


def _objective(field: Field) -> float:
    value = field.number()
    if not 0 < value < 100:
        field.fail("must be above 0 and below 100: an objective of 100 leaves no error budget to burn")
    return value / 100


def _measure(slo: Field, target: float) -> dict[str, Any]:
    """``objectives`` and ``sli`` from the one SLI type the SLO uses."""
    sli = slo.at("sli")
    events = sli.at("events")
    if events.exists:
        bad = _windowed(events.first("error_query", "errorQuery"))
        total = _windowed(events.first("total_query", "totalQuery"))
        return ratio_objective(target, slo, total, bad, "bad")
    if sli.at("raw").exists:
        slo.warn(
            "sli.raw is a ready error ratio with no total and bad counts to split, which journeywatch "
            "needs; the journey counts its events from spans (sli.source builtin)"
        )
    elif sli.at("plugin").exists:
        plugin = sli.at("plugin").first("id", "ID").optional_text()
        slo.warn(f"SLI plugin {plugin!r} runs inside Sloth; the journey counts its events from spans")
    else:
        sli.fail("needs events, raw or plugin")
    return {"objectives": {"availability": tidy(target)}, "sli": {"source": "builtin"}}


def _windowed(query: Field) -> str:
    """Sloth's ``{{.window}}`` as our ``{window}``; Sloth requires it, so its absence is
    worth a warning: every burn-rate window would read the same value."""
    text = query.text()
    if not _TEMPLATE.search(text):
        query.warn(f"{query.name} has no {{{{.window}}}}; edit it to count over [{{window}}]")
    return _TEMPLATE.sub("{window}", text)


def _alerts(slo: Field) -> dict[str, dict[str, bool]]:
    """Our default tiers of a kind switched off where Sloth's alert of that kind is."""
    alerting, page, ticket = _alerting(slo)
    labels = sorted({key for alert in (alerting, page, ticket) for key in _keys(alert.at("labels"))})
    if labels:
        slo.warn(
            f"alert labels ({', '.join(labels)}) route alerts in Alertmanager and are not imported; "
            "set the journey's channel"
        )
    off = (PAGE_TIERS if page.at("disable").flag() else ()) + (
        TICKET_TIERS if ticket.at("disable").flag() else ()
    )
    return {tier: {"enabled": False} for tier in off}


def _runbooks(slo: Field, name: str) -> list[dict[str, str]]:
    """Runbook links from the annotations on the SLO's alerts, each once."""
    urls: dict[str, None] = {}
    for alert in _alerting(slo):
        for key in ("runbook", "runbook_url"):
            url = alert.at("annotations", key)
            if url.exists and _URL.match(url.text()):
                urls[url.text()] = None
            elif url.exists:
                url.warn(f"{url.name} {url.text()!r} is not an http(s) URL; not imported as a runbook")
    title = f"{slo.at('alerting', 'name').optional_text() or name} runbook"
    return [{"title": title, "url": url} for url in urls]


def _alerting(slo: Field) -> tuple[Field, Field, Field]:
    """``alerting`` and its page and ticket alerts, in either spelling."""
    alerting = slo.at("alerting")
    return alerting, alerting.first("page_alert", "pageAlert"), alerting.first("ticket_alert", "ticketAlert")


def _keys(field: Field) -> list[str]:
    if not field.exists:
        return []
    if not isinstance(field.value, dict):
        field.fail("must be a mapping")
    return [str(key) for key in field.value]
