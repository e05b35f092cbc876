"""Whether a re-investigation's hypothesis moved, on hand-built typed reports: the rule the
living thread posts by (``bot.incidents.hypothesis``)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.incidents.hypothesis import (
    HYPOTHESIS_EVENT,
    Hypothesis,
    Posted,
    Shift,
    asked_by_person,
    compare,
    follow,
    latest_shift,
)
from correlators.rank import Candidate
from correlators.report import Report
from correlators.scope import Scope


def report(
    suspect: str | None = "auth",
    *,
    kind: str = "localized",
    level: str = "service",
    subject: str | None = "auth",
    confidence: float = 0.7,
    instance: str | None = None,
    others: tuple[str, ...] = ("catalog",),
) -> Report:
    """A typed report reduced to what a hypothesis reads, plus a second suspect that must
    not matter."""
    names = [suspect, *others] if suspect else []
    return Report(
        journey="checkout",
        scope=Scope(kind, level, confidence, subject=subject),
        candidates=[Candidate(name, 1.0, instance if name == suspect else None) for name in names],
        bottlenecks=[],
        attributes=[],
        log_changes=[],
        metric_anomalies=[],
        gaps=[],
        bad_traces=10,
        baseline_traces=100,
    )


def hypothesis(suspect: str | None = "auth", **given: Any) -> Hypothesis:
    return Hypothesis.of_report(report(suspect, **given))


def test_the_first_report_is_a_new_hypothesis() -> None:
    assert compare(None, hypothesis()) is Shift.NEW


def test_the_same_hypothesis_is_no_news() -> None:
    assert compare(hypothesis(), hypothesis()) is None


def test_suspects_below_the_top_and_the_top_ones_instance_are_no_news() -> None:
    before = hypothesis(others=("catalog", "cart"), instance="auth-1")
    after = hypothesis(others=("orders",), instance="auth-2")
    assert compare(before, after) is None


def test_a_move_of_confidence_under_a_clear_step_is_no_news() -> None:
    assert compare(hypothesis(confidence=0.70), hypothesis(confidence=0.79)) is None
    assert compare(hypothesis(confidence=0.70), hypothesis(confidence=0.61)) is None


def test_confidence_up_a_clear_step_strengthens() -> None:
    # 0.65 -> 0.75 is 0.0999... in floats: compared in whole percent, as people read it
    assert compare(hypothesis(confidence=0.65), hypothesis(confidence=0.75)) is Shift.STRENGTHENED
    assert compare(hypothesis(confidence=0.5), hypothesis(confidence=0.9)) is Shift.STRENGTHENED


def test_confidence_down_a_clear_step_weakens() -> None:
    assert compare(hypothesis(confidence=0.8), hypothesis(confidence=0.7)) is Shift.WEAKENED


def test_another_top_suspect_is_a_change_whatever_the_confidence() -> None:
    before = hypothesis()
    after = hypothesis("sqlite:shop", kind="systemic", level="shared_dependency", subject="sqlite:shop")
    assert compare(before, after) is Shift.CHANGED
    assert compare(hypothesis(), hypothesis("catalog", subject="catalog", confidence=0.7)) is Shift.CHANGED


def test_another_level_or_subject_of_the_same_suspect_is_a_change() -> None:
    service = hypothesis("catalog", subject="catalog", confidence=0.75)
    release = hypothesis("catalog", kind="systemic", level="release", subject="2.0.0", confidence=0.75)
    other_release = hypothesis("catalog", kind="systemic", level="release", subject="2.0.1", confidence=0.75)
    instance = hypothesis(
        "catalog", level="instance", subject="catalog-2", instance="catalog-2", confidence=0.75
    )
    assert compare(service, release) is Shift.CHANGED
    assert compare(release, other_release) is Shift.CHANGED
    assert compare(service, instance) is Shift.CHANGED


def test_nothing_standing_out_then_a_suspect_is_a_change() -> None:
    nothing = hypothesis(None, level="unknown", subject=None, confidence=0.0)
    assert nothing.suspect is None
    assert compare(nothing, hypothesis()) is Shift.CHANGED
    assert compare(hypothesis(), nothing) is Shift.CHANGED


def test_steps_count_from_the_hypothesis_last_posted_so_a_drift_posts_once_it_adds_up() -> None:
    posted = follow(None, report(confidence=0.60))
    assert posted is not None and posted["shift"] == "new"
    assert follow(posted, report(confidence=0.65)) is None  # not recorded: the last posted stays 60 %
    later = follow(posted, report(confidence=0.70))
    assert later is not None and later["shift"] == "strengthened"
    assert Posted.of_detail(later) == Posted(
        Shift.STRENGTHENED, hypothesis(confidence=0.70), hypothesis(confidence=0.60)
    )


def event(kind: str, actor: str = "journeywatch", detail: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": kind, "actor": actor, "detail": detail or {}}


def test_the_latest_investigation_s_shift_is_the_hypothesis_event_after_it() -> None:
    first = follow(None, report())
    assert first is not None
    timeline = [event("opened"), event("investigated"), event(HYPOTHESIS_EVENT, detail=first)]
    shift = latest_shift(timeline)
    assert shift is not None and shift.shift is Shift.NEW
    timeline += [event("escalated"), event("investigated")]
    assert latest_shift(timeline) is None  # the second investigation moved nothing
    assert latest_shift([event("opened")]) is None


def test_a_person_asked_for_the_latest_investigation_only_if_they_pressed_since_the_one_before() -> None:
    asked = [event("opened"), event("investigated"), event("reinvestigation_requested", "U0ONCALL")]
    assert not asked_by_person(asked)  # not investigated yet
    assert asked_by_person([*asked, event("investigated")])
    assert not asked_by_person([*asked, event("investigated"), event("investigated")])
    assert not asked_by_person([event("opened"), event("investigated")])


@pytest.mark.parametrize("confidence", [0.0, 0.333, 1.0])
def test_a_hypothesis_survives_the_timeline_s_json(confidence: float) -> None:
    found = hypothesis(
        "frontend", level="instance", subject="frontend-1", instance="frontend-1", confidence=confidence
    )
    assert Hypothesis.of_detail(found.to_detail()) == found
