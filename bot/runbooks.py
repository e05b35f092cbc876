"""Which runbook links go with an incident: the journey's own, and those (the journey's or
shared ones) whose ``service`` is the top suspect or whose ``fault`` is the scope's level
or kind. Order: journey-wide first, then by service, then by fault; no repeats.

A release of the top suspect shortly before the burn counts as the fault ``release`` even
when the scope is one service: rolling back that one service's release is still the first
thing to try, and the scope alone would never offer the "Roll back a release" runbook."""

from __future__ import annotations

from collections.abc import Callable

from bot.config import AppConfig, Journey, Runbook
from correlators.report import Report

RELEASE_BEFORE_MIN = 120.0
"""A deploy of the top suspect up to this long before the burn counts as its release."""
RELEASE_AFTER_MIN = 10.0
"""... or this long after: the burn's start is the start of the alerting tier's short
window, which may fall after the first bad request."""


def matching_runbooks(config: AppConfig, journey: Journey | None, report: Report | None) -> list[Runbook]:
    chosen: list[Runbook] = []
    for wanted in _rules(config, journey, report):
        chosen.extend(r for r in _pool(config, journey) if wanted(r) and r not in chosen)
    return chosen


def best_runbook(
    config: AppConfig,
    journey: Journey | None,
    report: Report | None,
    more_faults: frozenset[str] = frozenset(),
) -> Runbook | None:
    """The one runbook to name as the next step: the most specific that matches (the
    fault's, then the suspect service's, then the journey's own). ``more_faults``: what
    the caller found beyond the report (a dependency seen shared across journeys)."""
    for wanted in reversed(_rules(config, journey, report, more_faults)):
        found = next((r for r in _pool(config, journey) if wanted(r)), None)
        if found is not None:
            return found
    return None


def _pool(config: AppConfig, journey: Journey | None) -> list[Runbook]:
    return [*(journey.runbooks if journey else []), *config.runbooks]


def _rules(
    config: AppConfig,
    journey: Journey | None,
    report: Report | None,
    more_faults: frozenset[str] = frozenset(),
) -> list[Callable[[Runbook], bool]]:
    top = report.candidates[0].service if report and report.candidates else None
    faults = set(more_faults) | ({report.scope.level, report.scope.kind} if report else set())
    if report is not None and top is not None and _released(report, top):
        faults.add("release")
    own = journey.runbooks if journey else []
    return [
        lambda r: r.service is None and r.fault is None and r in own,
        lambda r: r.service is not None and r.service == top and (r.fault is None or r.fault in faults),
        lambda r: r.service is None and r.fault in faults,
    ]


def _released(report: Report, service: str) -> bool:
    """A deploy (posted, or a new version seen in the spans) of ``service`` before the burn."""
    return any(
        c.change.service == service
        and c.change.kind == "deploy"
        and -RELEASE_AFTER_MIN <= c.minutes_before <= RELEASE_BEFORE_MIN
        for c in report.changes
    )
