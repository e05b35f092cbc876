"""What an investigation believes, and whether a new one believes something else.

An open incident is investigated again on a schedule and on escalation; its thread hears
of it only when the hypothesis moved, as incident.io keeps its summary current without a
message per refresh. A hypothesis is the top suspect, the scope (localized or systemic)
with its level and subject, and the scope's confidence. Pure: a typed report in, a
:class:`Shift` or None out; the last hypothesis posted is kept as a ``hypothesis`` event
on the incident's timeline (``HYPOTHESIS_EVENT``), so any replica compares against the
same one and the store's schema does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from correlators.report import Report

HYPOTHESIS_EVENT = "hypothesis"
"""The timeline event of a hypothesis that was new or moved: its ``detail`` is
:func:`event_detail`'s, the latest one is what the thread last said."""

CONFIDENCE_STEP = 10
"""A clear step of confidence, in percentage points. The scope's confidence is set by
rules, not measured: each level has its own (0.65 to 0.8, five points apart at least),
and within a level it moves with evidence in coarse steps (a localized service is 0.4
plus its candidate's score, a zone 0.1 per service that went wrong in it). Ten points is
the gap between one kind of verdict and the next, what a person reading "confidence
70 %" then "confidence 80 %" takes for news; a smaller move is a few more traces in a
longer window. Steps are measured from the hypothesis last posted, not from the last
investigation, so a slow drift is posted once it adds up to a clear step."""


class Shift(StrEnum):
    NEW = "new"
    """No hypothesis was posted before: the first report."""
    STRENGTHENED = "strengthened"
    """Same suspect and scope, confidence up by at least ``CONFIDENCE_STEP``."""
    WEAKENED = "weakened"
    """Same suspect and scope, confidence down by at least ``CONFIDENCE_STEP``."""
    CHANGED = "changed"
    """Another top suspect, another scope kind or level, or another subject."""


@dataclass(frozen=True, slots=True)
class Hypothesis:
    suspect: str | None
    """The top candidate's service (a dependency's name for one); None when nothing stood out."""
    instance: str | None
    """The top candidate's instance, shown, not compared: the scope's subject names the
    instance when the instance is the finding (level ``instance``); otherwise it is only
    the instance with the most evidence, which moves between equal siblings."""
    kind: str
    """"localized" or "systemic"."""
    level: str
    subject: str | None
    """What the level is about: the dependency, the version, the ``flag=value``, the zone."""
    confidence: int
    """The scope's confidence in whole percent, as people read it."""

    @property
    def identity(self) -> tuple[str | None, str, str, str | None]:
        """What must stay equal for two hypotheses to be the same one: whom it blames
        and how far the fault reaches. The subject counts, since a systemic verdict of
        another release or another flag is another cause to act on."""
        return (self.suspect, self.kind, self.level, self.subject)

    @classmethod
    def of_report(cls, report: Report) -> Hypothesis:
        top = report.candidates[0] if report.candidates else None
        scope = report.scope
        return cls(
            suspect=top.service if top else None,
            instance=top.instance if top else None,
            kind=scope.kind,
            level=scope.level,
            subject=scope.subject,
            confidence=round(scope.confidence * 100),
        )

    @classmethod
    def of_detail(cls, detail: dict[str, Any]) -> Hypothesis:
        """From a ``hypothesis`` timeline event's detail (see :func:`event_detail`)."""
        return cls(
            suspect=detail.get("suspect"),
            instance=detail.get("instance"),
            kind=str(detail.get("kind") or "localized"),
            level=str(detail.get("level") or "unknown"),
            subject=detail.get("subject"),
            confidence=int(detail.get("confidence") or 0),
        )

    def to_detail(self) -> dict[str, Any]:
        return {
            "suspect": self.suspect,
            "instance": self.instance,
            "kind": self.kind,
            "level": self.level,
            "subject": self.subject,
            "confidence": self.confidence,
        }


def compare(before: Hypothesis | None, after: Hypothesis) -> Shift | None:
    """How ``after`` differs from the hypothesis last posted; None when it is the same
    one (nothing to post). Another suspect or scope is a change whatever the confidences
    say: the on-call would act on another thing."""
    if before is None:
        return Shift.NEW
    if before.identity != after.identity:
        return Shift.CHANGED
    step = after.confidence - before.confidence
    if step >= CONFIDENCE_STEP:
        return Shift.STRENGTHENED
    if step <= -CONFIDENCE_STEP:
        return Shift.WEAKENED
    return None


def event_detail(shift: Shift, after: Hypothesis, before: Hypothesis | None) -> dict[str, Any]:
    """A ``hypothesis`` event's detail: the hypothesis now, how it moved, and the one it
    replaced (for the wording "now X, was Y")."""
    return {**after.to_detail(), "shift": str(shift), "was": before.to_detail() if before else None}


@dataclass(frozen=True, slots=True)
class Posted:
    """A ``hypothesis`` event read back: what the thread is to say."""

    shift: Shift
    now: Hypothesis
    was: Hypothesis | None

    @classmethod
    def of_detail(cls, detail: dict[str, Any]) -> Posted:
        was = detail.get("was")
        return cls(
            Shift(detail["shift"]), Hypothesis.of_detail(detail), Hypothesis.of_detail(was) if was else None
        )


def follow(last: dict[str, Any] | None, report: Report) -> dict[str, Any] | None:
    """The ``hypothesis`` event a stored report calls for, given the detail of the last
    one (None when there was none); None when the hypothesis did not move."""
    before = Hypothesis.of_detail(last) if last is not None else None
    after = Hypothesis.of_report(report)
    shift = compare(before, after)
    return None if shift is None else event_detail(shift, after, before)


INVESTIGATED_EVENT = "investigated"
REQUESTED_EVENT = "reinvestigation_requested"


def latest_shift(timeline: list[dict[str, Any]]) -> Posted | None:
    """The hypothesis event the latest investigation recorded, if it recorded one: the
    investigator writes it right after the report's ``investigated`` event, so it is a
    ``hypothesis`` event after the last ``investigated`` one."""
    last = _last_index(timeline, INVESTIGATED_EVENT)
    found = [e for e in timeline[last + 1 :] if e["kind"] == HYPOTHESIS_EVENT] if last >= 0 else []
    return Posted.of_detail(found[-1]["detail"]) if found else None


def asked_by_person(timeline: list[dict[str, Any]]) -> bool:
    """Whether a person asked for the latest investigation (the Re-investigate button):
    between the last two ``investigated`` events, or before the only one."""
    last = _last_index(timeline, INVESTIGATED_EVENT)
    if last < 0:
        return False
    previous = _last_index(timeline[:last], INVESTIGATED_EVENT)
    return any(e["kind"] == REQUESTED_EVENT for e in timeline[previous + 1 : last])


def _last_index(timeline: list[dict[str, Any]], kind: str) -> int:
    return max((i for i, e in enumerate(timeline) if e["kind"] == kind), default=-1)
