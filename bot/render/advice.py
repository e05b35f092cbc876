"""Advice in words (`journeywatch advise`): what each pattern is, where it happens, the fix
it calls for, and what the fix would win back across the journey's traffic.

The correlators give kinds, places and figures (:mod:`correlators.advice`); each pattern's
sentence is :func:`bot.render.fixes.fix_words`, so the CLI, the journey page, the digest
and the incident thread say the same thing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.render.fixes import fix_words, ms_words
from bot.render.report import input_gap_line
from correlators.advice import Advice, AdviceReport, JourneyAdvice
from correlators.patterns import PatternKind

TEXT_LIMIT = 10
"""Pieces of advice the text form lists per journey; the JSON form has them all."""


def advice_words(a: Advice) -> str:
    """The finding and its fix in one sentence."""
    return fix_words(a, max(1, round(a.calls / max(1, a.requests))))


def gain_words(a: Advice, journey: JourneyAdvice) -> str:
    """What the fix would win back, in the journey's percentiles and its requests."""
    if a.kind is PatternKind.TIMEOUT and a.verdict != "too_high":
        return f"in {a.requests} of {journey.requests} requests; the cost is failed calls, not time"
    return (
        f"wins back {ms_words(a.p95_gain_ns)} at p95 and {ms_words(a.p50_gain_ns)} at p50; "
        f"in {a.requests} of {journey.requests} requests, up to {ms_words(a.worst_saved_ns)} each"
    )


def advice_text(report: AdviceReport) -> str:
    lines: list[str] = []
    for journey in report.journeys:
        lines.append(
            f"{journey.journey}: {journey.requests} requests, p50 {ms_words(journey.p50_ns)}, "
            f"p95 {ms_words(journey.p95_ns)}"
        )
        if not journey.advice:
            lines.append("  Nothing to win back: no pattern found.")
        for rank, a in enumerate(journey.advice[:TEXT_LIMIT], start=1):
            lines.append(f"  {rank}. {advice_words(a)}")
            lines.append(f"     {gain_words(a, journey)}; e.g. trace {a.examples[0]}")
        if len(journey.advice) > TEXT_LIMIT:
            more = len(journey.advice) - TEXT_LIMIT
            lines.append(f"  … and {more} more, smaller (--format json lists them all)")
        lines.append("")
    if not report.journeys:
        lines.append("No journey's traces in the window.")
    lines.extend(input_gap_line(g) for g in report.input_gaps)
    return "\n".join(lines).rstrip() + "\n"


def advice_json(report: AdviceReport) -> dict[str, Any]:
    """The figures with each piece of advice's sentence beside them."""
    journeys = []
    for journey in report.journeys:
        written = dataclasses.asdict(journey)
        for a, out in zip(journey.advice, written["advice"], strict=True):
            out["kind"] = a.kind.value
            out["summary"] = advice_words(a)
            out["gain"] = gain_words(a, journey)
        journeys.append(written)
    return {"journeys": journeys, "input_gaps": [input_gap_line(g) for g in report.input_gaps]}
