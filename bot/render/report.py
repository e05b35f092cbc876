"""A report in words, for every edge: the evidence's sentences, the one-line summary, the
CLI's text form, and the JSON the bot writes (stored with incidents, served, printed).

The correlators return findings, scope grounds, changes and gaps in figures
(``correlators.findings``, ``correlators.grounds``); Slack, the pages and the CLI all word
them here, so a finding reads the same wherever it is shown. The JSON keeps each one's
sentence (an evidence's and a change's ``summary``, the scope's ``reasons``, a gap's
``detail``) for readers of the stored form that do not know the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from bot.render.fixes import fix_words, ms_words
from bot.render.releases import outcome_words
from correlators.changes import ChangeFinding, ReleaseJudged
from correlators.findings import (
    ChangedBefore,
    CriticalPathGrowth,
    ErrorLines,
    ErrorOrigins,
    LineStopped,
    MetricMove,
    NamedBehind,
    OverRepresented,
    PathEnds,
    SlowFromOneCaller,
)
from correlators.gaps import Gap
from correlators.grounds import (
    CallsUnanswered,
    EdgesSlower,
    EveryInstance,
    FlagOn,
    Ground,
    InstanceWentWrong,
    NewVersionsWentWrong,
    NothingStoodOut,
    OnlyOneRelease,
    ServiceRates,
    Surge,
    TopDependency,
    WrongWithFlag,
    ZoneWentWrong,
)
from correlators.grown_patterns import GrownPattern
from correlators.input_gaps import InputGap, Skip
from correlators.rank import Evidence
from correlators.report import Missing, Report
from correlators.scope import Scope
from correlators.similar import SimilarIncident

LEVEL_WORDS = {
    "shared_dependency": "shared dependency",
    "dependency": "dependency",
    "feature_flag": "feature flag",
    "release": "release",
    "instance": "instance",
    "zone": "zone",
    "platform": "platform",
    "traffic": "traffic surge",
    "service": "service",
}
"""A scope's level as people name it."""
FIXES_TITLE = "What would win the added time back"
FIXES_SHOWN = 3
"""Grown patterns a thread or a text report lists: the largest parts."""


def level_words(level: str) -> str:
    return LEVEL_WORDS.get(level, level.replace("_", " "))


def evidence_words(evidence: Evidence) -> str:
    """The finding as one sentence; a report stored before figures existed says what the
    analysis wrote then."""
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
        case ErrorLines() as f:
            what = "new" if f.kind == "new" else f"{f.rate_ratio}x more frequent"
            relaying = f" (relaying the errors of {f.relays})" if f.relays else ""
            return f"{subject} logs a {what} error ({f.lines} lines){relaying}: {f.sample}"
        case NamedBehind() as f:
            below = "" if subject == f.named else f", whose failures started in {subject}"
            return (
                f"{f.writer}'s new error ({f.lines} lines) names {f.named} behind {f.relayed}{below}: "
                f"{f.sample}"
            )
        case PathEnds() as f:
            how = f"end right after calling {f.after}" if f.after else "now call nothing"
            return (
                f"{f.share_now:.0%} of {f.service} {f.operation} spans {how} (usually {f.share_before:.0%})"
            )
        case LineStopped() as f:
            return _stopped(subject, f)
        case ChangedBefore() as f:
            return _change(f.kind, subject, f.version, f.minutes_before, f.rank)
        case None:
            return evidence.summary


def _stopped(subject: str, f: LineStopped) -> str:
    calls = f"{subject} {f.operation}" + (f" (called from {f.caller})" if f.caller else "")
    counts = f"on {f.wrote_before} of its {f.calls_before} calls and on none of its {f.calls_now} calls since"
    if f.broke == "in step":
        return f"{calls} wrote two lines as often as each other {counts}: {f.sample} / {f.paired_sample}"
    if f.broke == "any line":
        return f"{calls} logged {counts}, such as: {f.sample}"
    return f"{calls} wrote a line {counts}: {f.sample}"


def change_words(finding: ChangeFinding) -> str:
    """A change around the burn: "deploy of catalog 2.0.0, 3 min before the burn (suspect #1)"."""
    change = finding.change
    words = _change(
        change.kind, change.service, change.version, finding.minutes_before, finding.candidate_rank
    )
    return f"{words}; {release_judged_words(change.release)}" if change.release else words


def release_judged_words(judged: ReleaseJudged) -> str:
    """ "release regressed: SELECT items p95 +31%" (``bot.releases`` judged the version)."""
    words = f"release {outcome_words(judged.outcome)}"
    if judged.operation is None:
        return words
    if judged.change is not None and judged.quantile is not None:
        return f"{words}: {judged.operation} p{round(judged.quantile * 100)} {judged.change:+.0%}"
    if judged.failed_share is not None:
        was = judged.failed_before or 0.0
        return f"{words}: {judged.operation} fails {judged.failed_share:.2%} of calls, was {was:.2%}"
    return f"{words}: {judged.operation}"


def _change(kind: str, service: str, version: str | None, minutes: float, rank: int | None) -> str:
    what = f"{kind} of {service}" + (f" {version}" if version else "")
    when = f"{minutes:.0f} min before the burn" if minutes >= 0 else f"{-minutes:.0f} min into the burn"
    suspect = f" (suspect #{rank})" if rank else ""
    return f"{what}, {when}{suspect}"


def grown_words(grown: GrownPattern) -> str:
    """A pattern the bad requests show more than the baseline did, its fix and what the
    fix would win back of the incident's added latency."""
    fix = fix_words(grown, max(1, grown.calls))
    part = ms_words(grown.part_ns)
    if grown.added_ns > 0:
        return f"{fix}; {_was(grown)}, ~{part} of the {ms_words(grown.added_ns)} added"
    return f"{fix}; {_was(grown)}, ~{part} of the median bad request"


def _was(grown: GrownPattern) -> str:
    """How the baseline had it: not at all, with fewer calls, or in fewer requests."""
    match grown.growth:
        case "new":
            return "new since the baseline"
        case "more_calls":
            return f"{grown.baseline_calls} calls a request before"
        case _:
            return f"in {grown.baseline_share:.0%} of requests before"


def scope_reasons(scope: Scope) -> list[str]:
    """Why the scope is what it is, one sentence per ground; a report stored before
    grounds existed says what the analysis wrote then."""
    return [ground_words(g) for g in scope.grounds] if scope.grounds else list(scope.reasons)


def ground_words(ground: Ground) -> str:
    match ground:
        case Surge() as g:
            counted = "requests" if g.counted == "requests" else "kept traces"
            return f"the journey's entry services got {g.ratio:.1f}x their baseline {counted} per second"
        case ZoneWentWrong() as g:
            return (
                f"{len(g.rates)} of the {g.eligible} services that run in several zones had far more "
                f"bad requests in zone {g.zone} than in their other zones: {_against(g.rates)}"
            )
        case EdgesSlower() as g:
            slowest = ", ".join(
                f"{e.caller} -> {e.callee} {e.before_ms:.0f} -> {e.now_ms:.0f} ms" for e in g.slowest
            )
            return (
                f"calls got slower outside their callee on {g.grown} of {g.measured} service edges, "
                f"from many callers to many callees (the network between services, not any one "
                f"service): {slowest}"
            )
        case CallsUnanswered() as g:
            counted = "failed requests" if g.counted == "requests" else "new error lines"
            return (
                f"{g.failed} of {g.origins} {counted} started in a call nothing answered, from "
                f"{g.callers} callers to {g.callees} callees, none of them most of it (the network "
                "between services, not any one service)"
            )
        case NewVersionsWentWrong() as g:
            described = ", ".join(
                f"{v.service} {v.version} {v.inside:.0%} against {v.outside:.0%} on the old one"
                for v in g.services
            )
            return f"spans that went wrong on versions the baseline never ran: {described}"
        case OnlyOneRelease() as g:
            return f"only {g.service}'s release went wrong"
        case FlagOn() as g:
            return (
                f"{g.key}={g.value} is on in {g.bad_share:.0%} of bad requests against "
                f"{g.healthy_share:.0%} of healthy ones"
            )
        case WrongWithFlag() as g:
            return f"spans that went wrong with it on, against without: {_against(g.rates)}"
        case TopDependency() as g:
            if len(g.callers) > 1:
                return f"{g.dependency} is the top candidate and is shared by {', '.join(g.callers)}"
            only = ", ".join(g.callers) or "one service"
            return f"{g.dependency} is the top candidate and only {only} calls it"
        case InstanceWentWrong() as g:
            return (
                f"{g.inside:.0%} of {g.instance}'s spans went wrong themselves, against {g.outside:.0%} "
                f"of its {g.siblings} siblings'"
            )
        case EveryInstance() as g:
            return f"{g.service} is the top candidate on all its instances"
        case NothingStoodOut():
            return "no candidate stood out"


def _against(rates: Sequence[ServiceRates]) -> str:
    """ "cart 40% against 2%, web …": each service's share inside the group and outside it."""
    return ", ".join(f"{r.service} {r.inside:.0%} against {r.outside:.0%}" for r in rates)


def gap_words(gap: Gap) -> str:
    """A telemetry gap, with what to fix; a report stored before gaps had figures says
    what the analysis wrote then."""
    if gap.detail:
        return gap.detail
    match gap.kind:
        case "broken_propagation":
            callee = gap.callee or "the service it calls"
            return (
                f"{gap.count} calls from {gap.service} to {callee} start new traces in {callee}: "
                f"{gap.service} does not propagate W3C trace context"
            )
        case "orphans":
            return f"{gap.count} spans of {gap.service} have a parent that never arrived"
        case "missing_service_name":
            return f"{gap.count} spans have no service.name"
        case "missing_exemplars":
            example = f" (e.g. {gap.example})" if gap.example else ""
            return f"{gap.count} exemplar traces were not kept{example}"
        case _:
            return f"{gap.count} {gap.kind.replace('_', ' ')}" + (f" ({gap.service})" if gap.service else "")


def missing_words(missing: Missing) -> str:
    """A signal the analysis lacked, and what that cost it."""
    if missing.said:
        return missing.said
    match missing.what:
        case "no_logs":
            return "no logs were given: new error lines could not be compared"
        case "no_metrics":
            return "no metrics were given: resource faults show only through latency"
        case "no_baseline":
            return "the baseline window has no traces of this journey"
        case "thin_baseline":
            thin = f"the baseline is thin ({missing.traces} traces)"
            return f"{thin}: latency was judged against its slowest trace"
        case "no_bad_traces":
            return "the incident window has no failed or slow traces of this journey"
        case "source_timeout":
            return f"{missing.source}: no answer within {missing.seconds:g} s"
        case "source_failed":
            return f"{missing.source}: {missing.error}"
        case _:
            return missing.what.replace("_", " ")


def similar_words(similar: SimilarIncident) -> str:
    """Why a past incident is shown: what it shares with this one."""
    if similar.why:
        return similar.why
    if similar.same == "suspect":
        return f"same top suspect ({similar.suspect})"
    subject = f" {similar.subject}" if similar.subject else ""
    return f"same scope ({level_words(similar.level or '')}{subject})"


def skip_words(skip: Skip) -> str:
    return f"line {skip.line}: {skip.why}" if skip.line is not None else skip.why


def summary(report: Report) -> str:
    """The verdict in one line: scope and level, the top suspect and its strongest
    evidence. A systemic verdict names its cause (the shared dependency, the release,
    the flag and value, the zone) before the service it hit hardest; an instance is named
    only when the instance is the finding, since the busiest instance of a service, a
    release or a flag would send the on-call to one pod of a fault that is not one pod's
    (so a systemic verdict leads with the strongest evidence not about one instance)."""
    scope = report.scope
    level = level_words(scope.level)
    subject = scope.subject if scope.subject and scope.subject != scope.level else None
    if not report.candidates:
        if scope.kind == "systemic":
            about = f": {subject}" if subject else ""
            return f"Systemic fault ({level}){about}; no single suspect stood out."
        return f"No root cause stood out ({scope.kind})."
    top = report.candidates[0]
    if scope.kind != "systemic":
        lead = evidence_words(top.evidence[0]) if top.evidence else "no detail"
        where = top.service + (f" ({top.instance})" if top.instance and scope.level == "instance" else "")
        return f"{scope.kind.capitalize()} fault ({level}); most likely {where}: {lead}"
    shared = [e for e in top.evidence if not _of_one_instance(e)]
    lead = evidence_words(shared[0]) if shared else "no detail"
    if subject == top.service:
        return f"Systemic fault ({level}): {subject}; {lead}"
    about = f": {subject}" if subject else ""
    return f"Systemic fault ({level}){about}; most affected {top.service}: {lead}"


def _of_one_instance(evidence: Evidence) -> bool:
    match evidence.figures:
        case MetricMove(instance=str()) | SlowFromOneCaller():
            return True
        case OverRepresented(key="service.instance"):
            return True
        case _:
            return False


def report_json(report: Report) -> dict[str, Any]:
    """``Report.to_json`` with the sentences older readers of the stored form read: the
    summary, each piece of evidence's, and ``missing`` as the list of sentences it has
    always been (its figures are ``missing_signals``)."""
    data = report.to_json()
    data["summary"] = summary(report)
    data["scope"]["reasons"] = scope_reasons(report.scope)
    for candidate, written in zip(report.candidates, data["candidates"], strict=True):
        for evidence, out in zip(candidate.evidence, written["evidence"], strict=True):
            out["summary"] = evidence_words(evidence)
    for change, out in zip(report.changes, data["changes"], strict=True):
        out["summary"] = change_words(change)
    for gap, out in zip(report.gaps, data["gaps"], strict=True):
        out["detail"] = gap_words(gap)
    for similar, out in zip(report.similar, data["similar"], strict=True):
        out["why"] = similar_words(similar)
    for grown, out in zip(report.grown_patterns, data["grown_patterns"], strict=True):
        out["summary"] = grown_words(grown)
    data["missing"] = [missing_words(m) for m in report.missing]
    return data


def report_text(report: Report) -> str:
    """The short form an on-call engineer reads first (``journeywatch analyze``)."""
    scope = report.scope
    lines = [summary(report), ""]
    lines.append(f"Scope: {scope.kind} / {scope.level} (confidence {scope.confidence:.0%})")
    lines.extend(f"  - {reason}" for reason in scope_reasons(scope))
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
    if report.grown_patterns:
        lines.append("")
        lines.append(f"{FIXES_TITLE}:")
        lines.extend(f"  - {grown_words(g)}" for g in report.grown_patterns[:FIXES_SHOWN])
    if report.changes:
        lines.append("")
        lines.append("Changes:")
        lines.extend(f"  - {change_words(c)}" for c in report.changes[:5])
    if report.similar:
        lines.append("")
        lines.append("Similar past incidents:")
        lines.extend(f"  - #{s.id}: {s.summary} ({similar_words(s)})" for s in report.similar)
    if report.gaps:
        lines.append("")
        lines.append("Telemetry gaps:")
        lines.extend(f"  - {gap_words(g)}" for g in report.gaps)
    if report.missing:
        lines.append("")
        lines.extend(f"Missing: {missing_words(m)}" for m in report.missing)
    if report.input_gaps:
        lines.append("")
        lines.extend(input_gap_line(g) for g in report.input_gaps)
    lines.append("")
    lines.append(f"{report.bad_traces} bad traces against {report.baseline_traces} baseline traces.")
    return "\n".join(lines)


def input_gap_line(gap: InputGap) -> str:
    """One line a reader takes in at a glance: how much of which file, and why."""
    counts = [
        _count(gap.skipped_lines, "line") if gap.skipped_lines else "",
        _count(gap.skipped_records, "record") if gap.skipped_records else "",
    ]
    why = f" ({'; '.join(skip_words(r) for r in gap.reasons)})" if gap.reasons else ""
    name = PurePath(gap.file).name
    return f"Skipped {' and '.join(c for c in counts if c)} of {name}{why}; the rest was analysed."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
