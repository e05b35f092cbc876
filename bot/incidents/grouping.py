"""Which incidents share one cause: the rule, pure (stored reports in, groups out).

When a database slows down, every journey that reaches it burns, and each journey's
investigation sees the fault from its own side: checkout, whose many services call the
database, finds a shared dependency; login, which reaches it only through auth, a
dependency of auth, or auth itself. Paged separately, two channels then act on verdicts
that contradict each other. Incidents open at the same time whose verdicts name one cause
are one incident to the people paged: the first opened is the primary, the others are
linked to it, and each is shown the shared cause beside what its own analysis said.

A verdict names causes through the report's structured fields only (the scope's level
and subject, the ranked candidates, the suspect's deploys), never through its wording:

- a dependency (scope ``dependency`` or ``shared_dependency``): one dependency that
  several journeys' incidents name is shared, whatever each journey alone saw of it;
- a release, as service and version: the scope's release, or a deploy of the top suspect
  among the report's changes;
- a flag (``key=value``), a zone, the platform: the scope's subject;
- the top suspect service.

Two verdicts share a cause when both name it, or when one names a dependency or a release
and the other ranks that dependency, or the released service (unless it names another
release of it), among its first :data:`SUSPECTS` suspects (login's auth only waits on the
slow database, so the database is its second suspect). The broadest cause both share
names the group, so the group says what to act on. A traffic surge is not a cause here:
two journeys may grow for reasons of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from correlators.report import Report

SUSPECTS = 3
"""How far down another report's candidates a dependency or a released service may rank
and still be that report's cause."""
SYSTEMIC_LEVELS = ("shared_dependency", "release", "feature_flag", "zone", "platform")
"""Causes from the broadest to the narrowest; ``service`` comes last."""


@dataclass(frozen=True, slots=True)
class Cause:
    """One root cause as several incidents can share it."""

    level: str
    """``shared_dependency``, ``release``, ``feature_flag``, ``zone``, ``platform`` or
    ``service``."""
    subject: str
    """The dependency, ``service version``, ``key=value``, zone, or service."""
    service: str | None = None
    """The service or dependency a ranking would name for it (the released service)."""

    @property
    def kind(self) -> str:
        return "localized" if self.level == "service" else "systemic"

    def same(self, other: Cause) -> bool:
        return (self.level, self.subject) == (other.level, other.subject)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "subject": self.subject, "service": self.service}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cause:
        return cls(str(data["level"]), str(data["subject"]), data.get("service"))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one incident's own analysis said: its scope and its top suspect."""

    kind: str
    level: str
    subject: str | None
    suspect: str | None

    @classmethod
    def of(cls, report: Report) -> Verdict:
        top = suspects(report)
        return cls(report.scope.kind, report.scope.level, report.scope.subject, top[0] if top else None)

    def said(self, cause: Cause) -> bool:
        """Whether this verdict was the cause itself (else it is worth showing beside it)."""
        return (self.level, self.subject) == (cause.level, cause.subject)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "level": self.level, "subject": self.subject, "suspect": self.suspect}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(str(data["kind"]), str(data["level"]), data.get("subject"), data.get("suspect"))


def suspects(report: Report) -> list[str]:
    """The report's candidate services, best first, those that scored at all."""
    return [c.service for c in report.candidates if c.score > 0]


def causes(report: Report) -> list[Cause]:
    """The causes a report's verdict names, broadest first."""
    level, subject = report.scope.level, report.scope.subject
    top = suspects(report)
    found: list[Cause] = []
    if level in ("dependency", "shared_dependency") and (subject or top):
        dependency = subject or top[0]
        found.append(Cause("shared_dependency", dependency, dependency))
    elif level == "release" and subject:
        versions = {v.strip() for v in subject.split(",")}
        deployed = [(s, v) for s, v in _deploys(report) if v in versions]
        found.extend(Cause("release", f"{s} {v}", s) for s, v in deployed)
        if not deployed:
            found.append(Cause("release", subject))
    elif level in ("feature_flag", "zone", "platform") and subject:
        found.append(Cause(level, subject))
    if top:
        found.extend(Cause("release", f"{s} {v}", s) for s, v in _deploys(report) if s == top[0])
        found.append(Cause("service", top[0], top[0]))
    return _broadest_first(found)


def names(report: Report, cause: Cause) -> bool:
    """Whether the report's verdict has ``cause`` for its cause: it names the cause, or
    ranks the dependency (the released service) among its first suspects."""
    named = causes(report)
    if any(cause.same(c) for c in named):
        return True
    other_release = any(c.level == "release" and c.service == cause.service for c in named)
    reaches = cause.level in ("shared_dependency", "release") and cause.service is not None
    return reaches and not other_release and cause.service in suspects(report)[:SUSPECTS]


def shared_cause(reports: Sequence[Report]) -> Cause | None:
    """The broadest cause every report names, or None."""
    offered = _broadest_first(c for report in reports for c in causes(report))
    return next((c for c in offered if all(names(r, c) for r in reports)), None)


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as the rule sees it."""

    id: int
    opened_at: float
    resolved_at: float | None
    burn_start: float
    report: Report


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where the rule puts a grouped incident (the primary included)."""

    primary: int
    cause: Cause


def together(a: Incident, b: Incident, within_s: float) -> bool:
    """Open at the same time, with burns that began within ``within_s`` of each other."""
    overlap = a.opened_at <= (b.resolved_at or float("inf")) and b.opened_at <= (
        a.resolved_at or float("inf")
    )
    return overlap and abs(a.burn_start - b.burn_start) <= within_s


def assign(incidents: Iterable[Incident], within_s: float) -> dict[int, Assignment]:
    """Group the incidents: in the order they opened, each joins the first group whose
    primary it was open with and whose members all share a cause with it, else starts
    one. Only incidents in a group of two or more are in the answer."""
    groups: list[list[Incident]] = []
    for incident in sorted(incidents, key=lambda i: (i.opened_at, i.id)):
        home = next(
            (
                g
                for g in groups
                if together(g[0], incident, within_s) and shared_cause([m.report for m in [*g, incident]])
            ),
            None,
        )
        if home is None:
            groups.append([incident])
        else:
            home.append(incident)
    assigned: dict[int, Assignment] = {}
    for group in groups:
        cause = shared_cause([m.report for m in group]) if len(group) > 1 else None
        if cause is not None:
            assigned.update((m.id, Assignment(group[0].id, cause)) for m in group)
    return assigned


def _deploys(report: Report) -> list[tuple[str, str]]:
    return [
        (c.change.service, c.change.version)
        for c in report.changes
        if c.change.kind == "deploy" and c.change.version
    ]


def _broadest_first(found: Iterable[Cause]) -> list[Cause]:
    unique: list[Cause] = []
    for cause in found:
        if not any(cause.same(u) for u in unique):
            unique.append(cause)
    order = {level: rank for rank, level in enumerate(SYSTEMIC_LEVELS)}
    return sorted(unique, key=lambda c: order.get(c.level, len(order)))
