"""Advice in words (`journeywatch advise`): what each pattern is, where it happens, the fix
it calls for, and what the fix would win back across the journey's traffic.

The correlators give kinds, places and figures (:mod:`correlators.advice`); the sentences
are here, so the CLI, and later the journey page and the incident thread, say the same
thing. Statements appear only as fingerprints, as the correlators give them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.render.report import input_gap_line
from correlators.advice import Advice, AdviceReport, JourneyAdvice
from correlators.patterns import PatternKind

STATEMENT_CHARS = 120
"""A fingerprint longer than this is cut in a sentence (the JSON keeps it whole)."""
TEXT_LIMIT = 10
"""Pieces of advice the text form lists per journey; the JSON form has them all."""


def advice_words(a: Advice) -> str:
    """The finding and its fix in one sentence."""
    target, op = _target(a), a.operation
    per_request = max(1, round(a.calls / max(1, a.requests)))
    match a.kind:
        case PatternKind.N_PLUS_ONE:
            return (
                f"{a.service} runs {target} on {a.callee} {per_request} times one by one in {op}: "
                "batch them into one call (an IN-list, a bulk endpoint)"
            )
        case PatternKind.CONSECUTIVE:
            return (
                f"{a.service} calls {_listed(a.callee)} one after another in {op}, none waiting on "
                "another's answer: make the calls concurrently"
            )
        case PatternKind.SLOW_STATEMENT:
            return f"{target} on {a.callee} is most of {a.service} {op}: look at its query plan and indexes"
        case PatternKind.RETRY_STORM:
            reached = f"; {a.reached} calls reached the innermost service" if a.reached > per_request else ""
            return (
                f"{a.service} calls {a.callee} again after each failure in {op} ({per_request} attempts"
                f"{reached}): give retries a budget and back off"
            )
        case PatternKind.TIMEOUT:
            cap = _ms(a.cap_ns)
            return f"calls from {a.service} to {a.callee} {target} in {op} give up at {cap}, {_cap_fix(a)}"
        case PatternKind.CHATTY:
            return (
                f"{a.service} makes {per_request} calls to {a.callee} for one {op} request: "
                "one coarser call, a batch endpoint or a cache"
            )
        case PatternKind.CACHE_MISS:
            return (
                f"{a.service} misses in {a.via} and falls through to {a.callee} {target} in {op}: "
                "check the cache's keys, expiry and warm-up"
            )
    return f"{a.kind.value} in {a.service} {op}"  # pragma: no cover - every kind has its sentence


def gain_words(a: Advice, journey: JourneyAdvice) -> str:
    """What the fix would win back, in the journey's percentiles and its requests."""
    if a.kind is PatternKind.TIMEOUT and a.verdict != "too_high":
        return f"in {a.requests} of {journey.requests} requests; the cost is failed calls, not time"
    return (
        f"wins back {_ms(a.p95_gain_ns)} at p95 and {_ms(a.p50_gain_ns)} at p50; "
        f"in {a.requests} of {journey.requests} requests, up to {_ms(a.worst_saved_ns)} each"
    )


def advice_text(report: AdviceReport) -> str:
    lines: list[str] = []
    for journey in report.journeys:
        lines.append(
            f"{journey.journey}: {journey.requests} requests, p50 {_ms(journey.p50_ns)}, "
            f"p95 {_ms(journey.p95_ns)}"
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


def _target(a: Advice) -> str:
    text = a.target if len(a.target) <= STATEMENT_CHARS else a.target[: STATEMENT_CHARS - 1] + "…"
    return f"`{text}`"


def _listed(callees: str) -> str:
    names = callees.split(" + ")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cap_fix(a: Advice) -> str:
    if a.verdict == "too_high":
        return "far above its slowest good answer: lower the timeout and fail fast"
    if a.verdict == "too_low":
        return f"close to its slowest good answers: raise the timeout or make {a.callee} faster"
    return f"no call got a good answer: is {a.callee} reachable?"


def _ms(ns: int) -> str:
    """Milliseconds as a person reads them: 0.4 ms, 38 ms, 2.0 s."""
    ms = ns / 1e6
    if ms == 0:
        return "0 ms"
    if ms >= 1_000:
        return f"{ms / 1_000:.1f} s"
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"
