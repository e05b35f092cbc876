"""A pattern and its fix in one sentence, wherever it is shown: `journeywatch advise`, the
journey page, the weekly digest (a journey's advice) and the incident thread (a pattern
that grew against the baseline). One sentence per kind, so all of them say the same.

Statements appear only as fingerprints, as the correlators give them.
"""

from __future__ import annotations

from typing import Protocol

from correlators.patterns import PatternKind

STATEMENT_CHARS = 120
"""A fingerprint longer than this is cut in a sentence (the JSON keeps it whole)."""


class Place(Protocol):
    """Where a pattern is and what it looks like (``Advice`` and ``GrownPattern`` both)."""

    @property
    def kind(self) -> PatternKind: ...
    @property
    def service(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def callee(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def cap_ns(self) -> int: ...
    @property
    def verdict(self) -> str: ...
    @property
    def via(self) -> str: ...
    @property
    def reached(self) -> int: ...


def fix_words(a: Place, per_request: int) -> str:
    """The finding and its fix; ``per_request``: the calls it makes in one request."""
    target, op = _target(a), a.operation
    match a.kind:
        case PatternKind.N_PLUS_ONE:
            return (
                f"{a.service} runs {target} on {a.callee} {per_request} times one by one in {op}: "
                "batch them into one call (an IN-list, a bulk endpoint)"
            )
        case PatternKind.CONSECUTIVE:
            return (
                f"{a.service} calls {_listed(a.callee)}{_which(a)} one after another in {op}, none "
                "waiting on another's answer: make the calls concurrently"
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
            cap = ms_words(a.cap_ns)
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


def ms_words(ns: int) -> str:
    """Milliseconds as a person reads them: 0.4 ms, 38 ms, 2.0 s."""
    ms = ns / 1e6
    if ms == 0:
        return "0 ms"
    if ms >= 1_000:
        return f"{ms / 1_000:.1f} s"
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _target(a: Place) -> str:
    text = a.target if len(a.target) <= STATEMENT_CHARS else a.target[: STATEMENT_CHARS - 1] + "…"
    return f"`{text}`"


def _which(a: Place) -> str:
    """The calls of a back-to-back run by what they asked, when their callees alone do not
    tell them apart (two statements to one database): " (`SELECT …` then `SELECT …`)"."""
    asked = a.target.split(" + ")
    if len(asked) < 2 or len(a.callee.split(" + ")) == len(asked):
        return ""
    cut = STATEMENT_CHARS // 2
    shown = [f"`{t}`" if len(t) <= cut else f"`{t[: cut - 1]}…`" for t in asked]
    return f" ({' then '.join(shown)})"


def _listed(callees: str) -> str:
    names = callees.split(" + ")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _cap_fix(a: Place) -> str:
    if a.verdict == "too_high":
        return "far above its slowest good answer: lower the timeout and fail fast"
    if a.verdict == "too_low":
        return f"close to its slowest good answers: raise the timeout or make {a.callee} faster"
    return f"no call got a good answer: is {a.callee} reachable?"
