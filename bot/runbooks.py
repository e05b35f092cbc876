"""Which runbook links go with an incident: the journey's own, and those (the journey's or
shared ones) whose ``service`` is the top suspect or whose ``fault`` is the scope's level
or kind. Order: journey-wide first, then by service, then by fault; no repeats."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.config import AppConfig, Journey, Runbook


def matching_runbooks(
    config: AppConfig, journey: Journey | None, report: dict[str, Any] | None
) -> list[Runbook]:
    candidates = (report or {}).get("candidates") or []
    scope = (report or {}).get("scope") or {}
    top = candidates[0]["service"] if candidates else None
    faults = {scope.get("level"), scope.get("kind")} - {None}
    pool = [*(journey.runbooks if journey else []), *config.runbooks]
    own = journey.runbooks if journey else []
    rules: list[Callable[[Runbook], bool]] = [
        lambda r: r.service is None and r.fault is None and r in own,
        lambda r: r.service is not None and r.service == top and (r.fault is None or r.fault in faults),
        lambda r: r.service is None and r.fault in faults,
    ]
    chosen: list[Runbook] = []
    for wanted in rules:
        chosen.extend(r for r in pool if wanted(r) and r not in chosen)
    return chosen
