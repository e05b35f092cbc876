"""A report in words, for every edge: the evidence's sentences, the one-line summary, the
CLI's text form, and the JSON the bot writes (stored with incidents, served, printed).

The correlators return findings in figures (``correlators.findings``); Slack, the pages
and the CLI all word them here, so a finding reads the same wherever it is shown. The
JSON keeps each finding's sentence in ``summary`` for readers of the stored form that do
not know the figures.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from correlators.findings import (
    CriticalPathGrowth,
    ErrorOrigins,
    MetricMove,
    OverRepresented,
    SlowFromOneCaller,
)
from correlators.input_gaps import InputGap
from correlators.rank import Evidence
from correlators.report import Report


def evidence_words(evidence: Evidence) -> str:
    """The finding as one sentence; a kind without figures (or a report stored before it
    had them) says what the analysis wrote."""
    subject = evidence.subject or ""
    match evidence.figures:
        case CriticalPathGrowth() as f:
            return (
                f"{subject} {f.operation}: +{f.delta_ms:.0f} ms on the critical path "
                f"({f.baseline_ms:.0f} -> {f.incident_ms:.0f} ms, {f.share:.0%} of the added time)"
            )
        case SlowFromOneCaller() as f:
            return (
                f"calls from {f.instance} to {f.dependency} are slow ({f.share:.0%} of the added "
                f"time); calls from other instances are not"
            )
        case ErrorOrigins() as f:
            return f"errors of {f.originated} of {f.failed} failed traces originated in {subject}"
        case MetricMove() as f:
            where = f" on {f.instance}" if f.instance else ""
            return (
                f"{f.name}{where} went {f.direction} "
                f"({f.baseline_median:.3g} -> {f.incident_median:.3g}, score {f.score:.1f})"
            )
        case OverRepresented() as f:
            return (
                f"{f.key}={f.value} served {f.bad_share:.0%} of the bad traces that reached "
                f"{subject}, against {f.healthy_share:.0%} of the healthy ones"
            )
        case None:
            return evidence.summary


def summary(report: Report) -> str:
    """The verdict in one line: scope, level, the top suspect and its strongest evidence."""
    if not report.candidates:
        return f"No root cause stood out ({report.scope.kind})."
    top = report.candidates[0]
    where = top.service + (f" ({top.instance})" if top.instance else "")
    lead = evidence_words(top.evidence[0]) if top.evidence else "no detail"
    return f"{report.scope.kind.capitalize()} fault ({report.scope.level}); most likely {where}: {lead}"


def report_json(report: Report) -> dict[str, Any]:
    """``Report.to_json`` with the sentences older readers of the stored form read: the
    summary, and each piece of evidence's."""
    data = report.to_json()
    data["summary"] = summary(report)
    for candidate, written in zip(report.candidates, data["candidates"], strict=True):
        for evidence, out in zip(candidate.evidence, written["evidence"], strict=True):
            out["summary"] = evidence_words(evidence)
    return data


def report_text(report: Report) -> str:
    """The short form an on-call engineer reads first (``journeywatch analyze``)."""
    scope = report.scope
    lines = [summary(report), ""]
    lines.append(f"Scope: {scope.kind} / {scope.level} (confidence {scope.confidence:.0%})")
    lines.extend(f"  - {reason}" for reason in scope.reasons)
    lines.append("")
    lines.append("Candidates:")
    for rank, c in enumerate(report.candidates, start=1):
        detail = ", ".join(x for x in (c.instance, c.operation) if x)
        lines.append(f"  {rank}. {c.service}" + (f" [{detail}]" if detail else "") + f"  score {c.score:.2f}")
        lines.extend(f"       {evidence_words(e)}" for e in c.evidence[:3])
    if report.budget:
        lines.append("")
        lines.append("Bad requests by hop:")
        lines.extend(
            f"  {h.share:.0%}  {h.service} {h.operation} ({h.errors} failed, {h.slow} slow)"
            for h in report.budget[:5]
        )
    if report.changes:
        lines.append("")
        lines.append("Changes:")
        lines.extend(f"  - {c.summary}" for c in report.changes[:5])
    if report.similar:
        lines.append("")
        lines.append("Similar past incidents:")
        lines.extend(f"  - #{s.id}: {s.summary} ({s.why})" for s in report.similar)
    if report.gaps:
        lines.append("")
        lines.append("Telemetry gaps:")
        lines.extend(f"  - {g.detail}" for g in report.gaps)
    if report.missing:
        lines.append("")
        lines.extend(f"Missing: {m}" for m in report.missing)
    if report.input_gaps:
        lines.append("")
        lines.extend(_input_gap_line(g) for g in report.input_gaps)
    lines.append("")
    lines.append(f"{report.bad_traces} bad traces against {report.baseline_traces} baseline traces.")
    return "\n".join(lines)


def _input_gap_line(gap: InputGap) -> str:
    """One line a reader takes in at a glance: how much of which file, and why."""
    counts = [
        _count(gap.skipped_lines, "line") if gap.skipped_lines else "",
        _count(gap.skipped_records, "record") if gap.skipped_records else "",
    ]
    why = f" ({'; '.join(gap.reasons)})" if gap.reasons else ""
    name = PurePath(gap.file).name
    return f"Skipped {' and '.join(c for c in counts if c)} of {name}{why}; the rest was analysed."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
