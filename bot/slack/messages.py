"""Every sentence journeywatch says in Slack, in one place, so the wording is reviewed
together (as slack_bolt keeps its own in ``slack_bolt/logger/messages.py``).

Plain functions of plain values; Block Kit structure lives in ``bot.slack.blocks``. Each
sentence is ``@wording``: a ``str`` it is given is escaped for mrkdwn unless it is
already :class:`~bot.slack.mrkdwn.Mrkdwn` (see that module), so a service name, a route or
a log line is shown as text whoever wrote it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from bot.render.report import FIXES_TITLE, LEVEL_WORDS, level_words
from bot.slack.mrkdwn import Mrkdwn, join, link, mention, wording

SEVERITY_EMOJI = {"page": ":rotating_light:", "ticket": ":warning:"}
STATUS_WORD = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
VERDICTS = {
    "right": "Right",
    "one_hop": "One hop off",
    "area": "Right area",
    "wrong": "Wrong",
}


@wording
def incident_title(journey: str, severity: str, status: str) -> str:
    if status == "resolved":
        return f":white_check_mark: {journey}: resolved"
    return f"{SEVERITY_EMOJI.get(severity, ':warning:')} {journey} is burning its error budget ({severity})"


@wording
def incident_fallback(journey: str, severity: str, status: str, burn_rate: float, duration_s: float) -> str:
    """The notification text (push, screen readers) behind the blocks: once resolved,
    how long it lasted, not how fast it burned."""
    if status == "resolved":
        return f"{journey}: resolved after {format_duration(duration_s)}"
    return f"{journey}: {STATUS_WORD.get(status, status)}, {severity}, burning at {burn_rate:.1f}x"


def incident_facts(
    *,
    objective: str,
    tier: str,
    burn_rate: float,
    budget_left: float,
    budget_spent: float | None,
    slo_window_s: int,
    status: str,
    duration_s: float,
    owner: str | None,
) -> list[Mrkdwn]:
    """The parent's fields: while open, the burn; once resolved, the duration instead."""
    spent = f" · this incident {budget_share_words(budget_spent)}" if budget_spent is not None else ""
    return [
        fact("Objective", objective),
        fact("Duration", format_duration(duration_s))
        if status == "resolved"
        else fact("Burn rate", f"{burn_rate:.1f}x ({tier})"),
        fact(f"Budget ({window_words(slo_window_s)})", budget_left_words(budget_left) + spent),
        fact("Status", STATUS_WORD.get(status, status)),
        fact("Owner", owner or "unassigned"),
    ]


def budget_left_words(left: float) -> str:
    """What is left of an SLO window's error budget: "exhausted", "12 % left"."""
    percent = left * 100
    if percent <= 0:
        return "exhausted"
    if percent < 1:
        return "under 1 % left"
    if percent < 100 and round(percent) == 100:
        return "over 99 % left"
    return f"{percent:.0f} % left"


def budget_share_words(share: float) -> str:
    """A share of the window's budget, e.g. what an incident spent: "3.1 %", "240 %"."""
    percent = share * 100
    if 0 < percent < 0.1:
        return "under 0.1 %"
    return f"{percent:.1f} %" if percent < 10 else f"{percent:.0f} %"


def window_words(seconds: int) -> str:
    """An SLO window as people name it: "30 days", "1 week", "12 h"."""
    days, rest = divmod(seconds, 86400)
    if rest == 0 and days % 7 == 0 and days < 28:
        weeks = days // 7
        return f"{weeks} week" + ("s" if weeks > 1 else "")
    if rest == 0:
        return f"{days} day" + ("s" if days > 1 else "")
    return format_duration(seconds)


# --- the parent's first line: how bad, since when, where, what changed, what to do -------------

CHANGE_VERBS = {"deploy": "deployed", "config": "config changed", "flag": "flag flipped"}
INVESTIGATING_SHORT = "investigating…"
NO_RECENT_DEPLOYS = "no recent deploys"


def clock_time(seconds: float) -> str:
    """A time of day as the on-call reads it beside a dashboard: "18:04 UTC"."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%H:%M UTC")


@wording
def impact_words(
    journey: str,
    objective: str,
    threshold_ms: float | None,
    share: float,
    started_s: float,
    bad: int,
    requests: int,
    people: int,
    people_kind: str,
) -> str:
    """How bad since when: "34 % of checkout requests slower than 800 ms since 18:04 UTC
    (150 requests, 41 users)"."""
    what = f"slower than {threshold_ms:.0f} ms" if threshold_ms is not None else "failed"
    who = f", {people} {people_kind if people != 1 else people_kind.rstrip('s')}" if people else ""
    requests_word = "request" if bad == 1 else "requests"
    percent = f"{share * 100:.0f} %" if share >= 0.01 else "under 1 %"
    return (
        f"{percent} of {journey} requests {what} since {clock_time(started_s)} ({bad} {requests_word}{who})"
    )


@wording
def suspect_words(
    name: str,
    level: str,
    subject: str | None,
    instance: str | None,
    shared_by: Sequence[str],
    added_ms: float | None,
) -> str:
    """The suspect, e.g. "likely postgresql:shop, shared by catalog, orders (+440 ms per
    request)". Callers are those the traces of every journey show, so a dependency one
    journey reaches through one service still reads as shared when it is. The instance is
    named only when it is the finding: the busiest instance of a service, a flag or a
    release would send the on-call to one pod of a fault that is not one pod's."""
    where = name + (f" ({instance})" if instance and level == "instance" else "")
    if len(shared_by) > 1:
        detail = f", shared by {', '.join(shared_by)}"
    elif shared_by:
        detail = f", called by {shared_by[0]}"
    elif level in ("feature_flag", "release", "zone") and subject:
        detail = f", {LEVEL_WORDS[level]} {subject}"
    else:
        detail = f" ({LEVEL_WORDS.get(level, level)})" if level not in ("unknown", "service") else ""
    added = f" (+{added_ms:.0f} ms per request)" if added_ms is not None and round(added_ms) >= 1 else ""
    return f"likely {where}{detail}{added}"


@wording
def change_words(service: str, kind: str, version: str | None, minutes_before: float) -> str:
    """A change timed against the first bad request: "cart 2.4.1 deployed 2 min before
    the first bad request"."""
    minutes = abs(minutes_before)
    side = "before" if minutes_before > 0 else "after"
    when = (
        "at the first bad request"
        if minutes < 0.5
        else f"{format_duration(minutes * 60)} {side} the first bad request"
    )
    name = f"{service} {version}" if version else service
    return f"{name} {CHANGE_VERBS.get(kind, kind)} {when}"


@wording
def no_change_of(suspect: str, others: int) -> str:
    return f"no change of {suspect} ({others} other change{'s' if others != 1 else ''})"


@wording
def next_step(title: str, url: str) -> str:
    return f"next: {link(url, title)}"


def headline(parts: Sequence[str]) -> Mrkdwn:
    """The parts of the first line, in the order they are read."""
    return join(" · ", parts)


@wording
def fact(title: str, value: str) -> str:
    return f"*{title}*\n{value}"


@wording
def resolved_line(duration_s: float, budget_spent: float | None, slo_window_s: int) -> str:
    spent = (
        f" It spent {budget_share_words(budget_spent)} of the {window_words(slo_window_s)}' error budget."
        if budget_spent is not None
        else ""
    )
    return f"Resolved after {format_duration(duration_s)}.{spent}"


@wording
def acknowledged_by(user: str) -> str:
    return f"Acknowledged by {mention(user)}."


@wording
def muted_until(user: str, hours: int) -> str:
    return f"{mention(user)} muted updates for {hours} h."


def button_label(action: str) -> str:
    return {
        "ack": "Acknowledge",
        "resolve": "Resolve",
        "reinvestigate": "Re-investigate",
        "mute_1h": "Mute 1 h",
        "mute_4h": "Mute 4 h",
    }[action]


VERDICT_QUESTION = "Was the root cause right?"
INVESTIGATING = ":mag: Investigating: pulling exemplar traces, their logs and the metrics on their path…"
NO_REPORT = "No report yet."
NOTHING_STOOD_OUT = "No root cause stood out."
TRUNCATED = "… (truncated)"


@wording
def scope_line(kind: str, level: str, confidence: float, subject: str | None) -> str:
    about = f" — {subject}" if subject else ""
    return f"*{kind.capitalize()}* fault, {level}{about} (confidence {confidence:.0%})"


@wording
def candidate_line(rank: int, service: str, instance: str | None, operation: str | None) -> str:
    """A suspect by its rank; the ranking's score, a weight sum with no unit, says nothing
    a person can check, so the evidence under it speaks instead."""
    detail = ", ".join(x for x in (instance, operation) if x)
    return f"*{rank}. {service}*" + (f" ({detail})" if detail else "")


@wording
def hop_line(share: float, service: str, operation: str, errors: int, slow: int) -> str:
    return f"{share:.0%} {service} {operation} ({errors} failed, {slow} slow)"


@wording
def log_template_line(service: str, kind: str, count: int, sample: str) -> str:
    return f"{service}: {kind} log line, {count} times: `{sample}`"


@wording
def similar_line(incident_id: int, summary: str, why: str, url: str | None) -> str:
    name = link(url, f"#{incident_id}") if url else f"#{incident_id}"
    return f"{name} {summary} ({why})"


def hypothesis_name(suspect: str | None, level: str, subject: str | None) -> str:
    """A hypothesis as people name it: "sqlite:shop (shared dependency)", "catalog
    (feature flag: new_pricing=on)", "frontend (instance: frontend-1)". Plain text, for
    the pages too; Slack's is :func:`hypothesis_words`."""
    if not suspect:
        return "no suspect"
    words = level_words(level)
    about = f": {subject}" if subject and subject != suspect else ""
    return f"{suspect} ({words}{about})" if level != "unknown" else suspect


hypothesis_words = wording(hypothesis_name)


@wording
def hypothesis_shift(shift: str, now: str, was: str, confidence: int, was_confidence: int) -> str:
    """The first line of a re-investigation the thread hears of: what moved, in one line."""
    if shift == "changed":
        return f"*Hypothesis changed:* now {now}, was {was}"
    if shift in ("strengthened", "weakened"):
        return f"*Hypothesis {shift}:* {now}, confidence {was_confidence} % → {confidence} %"
    return f"*New hypothesis:* {now}, confidence {confidence} %"


@wording
def hypothesis_unchanged(now: str, confidence: int) -> str:
    """The answer to a person who pressed Re-investigate when nothing moved (a scheduled
    re-investigation says nothing then)."""
    return f"Re-investigated: the hypothesis has not changed ({now}, confidence {confidence} %)."


@wording
def verdict_recorded(user: str, verdict: str) -> str:
    answer = VERDICTS.get(verdict, verdict)
    return f"{mention(user)} said the root cause was: {answer}. Thanks, this feeds `journeywatch accuracy`."


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {seconds} s" if seconds and minutes < 10 else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# --- slash command replies -------------------------------------------------------------------


@wording
def usage(command: str) -> str:
    return (
        f"*Usage* of `{command}`:\n"
        f"• `{command} trace <trace-id> [share]`: a trace's critical path, error origin and picture\n"
        f"• `{command} journey [name]`: objectives, burn per tier, budget left, open incident\n"
        f"• `{command} incidents`: open incidents with links to their threads\n"
        f"• `{command} investigate <journey> [window, e.g. 30m]`: investigate now, in a thread\n"
        f"• `{command} help`: this"
    )


@wording
def bad_argument(command: str, reason: str) -> str:
    return f"{reason}\n\n{usage(command)}"


@wording
def refused(command: str, reason: str) -> str:
    return f"Sorry, `{command}` is not allowed {reason}."


NOT_YOUR_JOURNEY = "for you on this incident (its journey is not one your access rule covers)"


WORKING = "Working on it…"
NO_OPEN_INCIDENTS = ":white_check_mark: No open incidents."


@wording
def trace_not_found(trace_id: str) -> str:
    return f"Trace `{trace_id}` was not found (not kept by sampling, or past retention)."


@wording
def journey_not_found(name: str, known: Sequence[str]) -> str:
    return f"No journey `{name}`. Journeys: {', '.join(known) or 'none configured'}."


@wording
def on_demand_title(journey: str, window: str, user: str) -> str:
    return f":mag: On-demand investigation of *{journey}* over the last {window}, asked by {mention(user)}"


@wording
def failed(what: str, reason: str) -> str:
    return f"Sorry, {what} failed: {reason}"


# --- headings and lines of the thread and the command answers ---------------------------------

TOP_SUSPECTS = "Top suspects"
FIXES = FIXES_TITLE
RUNBOOKS = "Runbooks"
NEW_LOG_LINES = "New error log lines"
METRIC_ANOMALIES = "Metric anomalies"
OVER_REPRESENTED = "Over-represented in bad traces"
CHANGES = "Changes"
BAD_BY_HOP = "Bad requests by hop"
TELEMETRY_GAPS = "Telemetry gaps"
SIMILAR = "Similar past incidents"
CRITICAL_PATH = "Critical path"
ERROR_LOG_LINES = "Error log lines"
JOURNEYS = "Journeys"
OPEN_INCIDENTS = "Open incidents"
BURN_BY_TIER = "Burn rate (long / short window)"
NO_ERRORS = "No errors."
NOT_EVALUATED = "not evaluated yet"
NONE_CONFIGURED = "none configured"
FULL_REPORT = "Full report"
WORST_TRACE = "Worst exemplar trace"
OPEN_TRACE = "Open the trace"
WATERFALL_LINK = "Waterfall and span details"


@wording
def titled(title: str, lines: Sequence[str]) -> str:
    """A bold heading over its lines, as every evidence section is written."""
    return f"*{title}*\n" + "\n".join(lines)


@wording
def trace_title(trace_id: str) -> str:
    return f"Trace {trace_id}"


def picture_title(trace_id: str) -> str:
    return f"Trace {trace_id}: critical path highlighted"


@wording
def journey_title(name: str) -> str:
    return f"Journey {name}"


@wording
def error_origin_line(service: str, operation: str, message: str) -> str:
    return f"*Error origin*: {service} `{operation}` {message}".strip()


@wording
def budget_left_line(window: str, budget: str) -> str:
    return f"*Budget ({window})*: {budget}"


@wording
def open_incident_line(incident_url: str, incident_id: int, severity: str, tier: str) -> str:
    return f"*Open incident*: {link(incident_url, f'#{incident_id}')} {severity}, {tier}"


@wording
def resolved_by(user: str) -> str:
    return f"Resolved by {mention(user)}."


@wording
def tier_note(escalated: bool, tier: str, severity: str, burn_rate: float) -> str:
    verb = "Escalated" if escalated else "Eased"
    return f"{verb} to {tier} ({severity}): burning at {burn_rate:.1f}x."


@wording
def bad_versus_baseline(bad: int, baseline: int) -> str:
    return f"{bad} bad traces against {baseline} baseline traces"


@wording
def trace_head(
    trace_id: str, journey: str | None, duration_ms: float, spans: int, services: Sequence[str]
) -> str:
    return (
        f"*Trace `{trace_id}`* · {journey or 'no journey'} · {duration_ms:.0f} ms · "
        f"{spans} spans · {', '.join(services)}"
    )


@wording
def journey_head(
    name: str,
    owner: str | None,
    availability: float | None,
    latency: tuple[float | None, float | None],
    window: str,
) -> str:
    targets = []
    if availability is not None:
        targets.append(f"availability {availability:.2%}")
    target, threshold_ms = latency
    if target is not None and threshold_ms is not None:
        targets.append(f"{target:.1%} under {threshold_ms:.0f} ms")
    return f"*{name}* · owner {owner or 'unassigned'} · {', '.join(targets)} over {window}"


# --- lines of the thread and the command answers, with telemetry in them -------------------------


@wording
def runbook_line(title: str, url: str) -> str:
    return f"• {link(url, title)}"


@wording
def metric_line(name: str, service: str | None, direction: str, before: float, after: float) -> str:
    return f"{name} of {service or '?'} went {direction} ({before:.3g} → {after:.3g})"


@wording
def attribute_line(key: str, value: str, service: str | None, bad_share: float, baseline_share: float) -> str:
    where = f" on {service}" if service else ""
    return f"`{key}={value}`{where}: {bad_share:.0%} of bad traces vs {baseline_share:.0%} of healthy ones"


@wording
def fix_line(words: str, trace_url: str | None) -> str:
    """A grown pattern with its fix, and the bad trace it added most to."""
    return f"• {words} ({link(trace_url, 'e.g.')})" if trace_url else f"• {words}"


@wording
def evidence_line(summary: str) -> str:
    return f"    {summary}"


@wording
def scope_reasons(line: str, reasons: Sequence[str]) -> str:
    return "\n".join([line, *(f"• {r}" for r in reasons)])


@wording
def report_links(report_url: str, trace_url: str | None, bad: int, baseline: int) -> str:
    links = [link(report_url, FULL_REPORT)]
    if trace_url:
        links.append(link(trace_url, WORST_TRACE))
    return " · ".join([*links, bad_versus_baseline(bad, baseline)])


@wording
def incident_links(incident_url: str, incident_id: int, journey_url: str, journey: str) -> str:
    return f"{link(incident_url, f'Incident #{incident_id}')} · {link(journey_url, f'Journey {journey}')}"


@wording
def more_link(url: str) -> str:
    return f"… {link(url, 'more')}"


@wording
def more_on_page(url: str) -> str:
    return f"More on {link(url, 'the incident page')}."


@wording
def open_trace_link(url: str) -> str:
    return str(link(url, OPEN_TRACE))


@wording
def waterfall_link(url: str) -> str:
    return str(link(url, WATERFALL_LINK))


@wording
def critical_path_line(service: str, operation: str, ms: float, share: float) -> str:
    return f"• {service} {operation}: {ms:.0f} ms ({share:.0%})"


@wording
def error_log_line(service: str, body: str) -> str:
    return f"• {service}: `{body}`"


@wording
def tier_line(objective: str, tier: str, long_burn: float, short_burn: float, firing: bool) -> str:
    return f"• {objective} {tier}: {long_burn:.1f}x / {short_burn:.1f}x" + (" :fire:" if firing else "")


@wording
def journey_line(name: str, incident_id: int | None, severity: str | None, budget: str) -> str:
    status = (
        f":rotating_light: incident #{incident_id} ({severity})"
        if incident_id is not None
        else ":white_check_mark: ok"
    )
    return f"• *{name}*: {status}, budget {budget}"


@wording
def open_incidents_line(
    incident_url: str,
    incident_id: int,
    journey: str,
    severity: str,
    tier: str,
    burn_rate: float,
    status: str,
    thread_url: str | None,
) -> str:
    thread = f" · {link(thread_url, 'thread')}" if thread_url else ""
    return (
        f"• {link(incident_url, f'#{incident_id}')} *{journey}* {severity} ({tier}, {burn_rate:.1f}x), "
        f"{status}{thread}"
    )


# --- one incident per cause ------------------------------------------------------------------


@wording
def verdict_words(kind: str, level: str, subject: str | None) -> str:
    """A verdict or a shared cause: "systemic (shared dependency) postgresql:shop"."""
    about = f" {subject}" if subject else ""
    return f"{kind} ({LEVEL_WORDS.get(level, level)}){about}"


def incident_ref(url: str, journey: str, incident_id: int) -> Mrkdwn:
    """Another incident, linked to its thread (else its page): "login #2"."""
    return link(url, f"{journey} #{incident_id}")


@wording
def own_analysis(verdict: str) -> str:
    return f"This journey's own analysis said {verdict}."


@wording
def same_cause_as(primary: str, cause: str, own: str | None) -> str:
    """A grouped incident's line in its parent: where the cause is followed, and what."""
    said = f" {own}" if own else ""
    return f":link: *Same cause as {primary}*: {cause}.{said}"


@wording
def same_cause_in(members: Sequence[str], cause: str, own: str | None) -> str:
    """The primary's line in its parent: the incidents grouped under it."""
    said = f" {own}" if own else ""
    return f":link: *Same cause in {', '.join(members)}*: {cause}.{said}"


@wording
def grouped_note(other: str, primary: bool, cause: str, own: str | None) -> str:
    """In the thread, once, when the incident joins a group (or gains a member)."""
    said = f" {own}" if own else ""
    if primary:
        return f":link: {other} has the same cause, {cause}: it is grouped under this incident.{said}"
    return (
        f":link: Grouped with {other}, the first incident of this cause: {cause}. "
        f"Act on the cause there; this thread follows this journey.{said}"
    )


@wording
def ungrouped_note(other: str, cause: str, own: str | None, theirs: str | None) -> str:
    """In the thread, once, when a new verdict no longer shares the group's cause."""
    now = [f"this incident's verdict is {own}" if own else "", f"{other}'s is {theirs}" if theirs else ""]
    detail = "; ".join(n for n in now if n)
    return f":heavy_minus_sign: No longer grouped with {other}: {cause} is not the cause of both any more" + (
        f" ({detail})." if detail else "."
    )


@wording
def key_expiry(
    key_id: str,
    team: str,
    services: Sequence[str] | None,
    expires_at: float,
    within_days: int,
    role: str | None = None,
) -> str:
    """A reminder before a key stops working. The date, not "in N days", so the
    message reads the same however late it is delivered or re-read. An access key
    (``role``) is named as one: its holders are readers, not senders."""
    when = dt.datetime.fromtimestamp(expires_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if role is not None:
        kind, does, holders, loses = "Access key", f" ({role})", "its readers", "access"
    else:
        sends = f" (sends as {', '.join(services)})" if services else ""
        kind, does, holders, loses = "Ingest key", sends, "the senders", "telemetry"
    return (
        f":key: {kind} `{key_id}` of team *{team}*{does} expires on {when}, "
        f"in less than {within_days} days. Rotate it before then: "
        f"`journeywatch keys rotate {key_id}` makes a new key and keeps this one working "
        f"through the overlap, so {holders} can switch without losing {loses}."
    )


@wording
def release_regressed(
    service: str,
    version: str,
    previous: str,
    journeys: Sequence[str],
    lines: Sequence[str],
    traces: Sequence[tuple[str, str]],
    releases_url: str,
) -> str:
    """A release that made a journey's critical path worse, before any SLO burns: what
    got worse and by how much (``bot.render.releases``), and traces that show it."""
    on = ", ".join(journeys)
    return (
        f":chart_with_upwards_trend: *{service} {version}* regressed against {previous} "
        f"on the critical path of {on}, though no SLO burns yet:\n{_worse(lines, traces)}\n"
        f"All releases: {link(releases_url, 'releases')}"
    )


def _worse(lines: Sequence[str], traces: Sequence[tuple[str, str]]) -> str:
    """What got worse, a bullet each, and the traces that show it, linked."""
    shown = ", ".join(link(url, trace_id) for trace_id, url in traces)
    return "\n".join(f"• {line}" for line in lines) + (f"\nTraces: {shown}" if shown else "")


@wording
def change_regressed(
    kind: str,
    service: str,
    version: str,
    description: str,
    journeys: Sequence[str],
    lines: Sequence[str],
    traces: Sequence[tuple[str, str]],
) -> str:
    """A posted change (a flag flip, a config rollout) after which a journey's critical
    path got worse, before any SLO burns."""
    what = f"{kind} of *{service}*" + (f" {version}" if version else "")
    said = f" ({description})" if description else ""
    return (
        f":chart_with_upwards_trend: Since the {what}{said}, the critical path of "
        f"{', '.join(journeys)} is worse, though no SLO burns yet:\n{_worse(lines, traces)}"
    )


# --- the weekly digest ------------------------------------------------------------------------

DIGEST_NOTHING = "No pattern found in the week's kept traces: nothing to win back."


@wording
def digest_title(
    journey: str, week: str, requests: int, p50: str, p95: str, last: tuple[str, str] | None
) -> str:
    """The digest's first line: the journey's week in its kept requests."""
    before = f" (last week {last[0]} and {last[1]})" if last else ""
    return (
        f":bar_chart: *{journey}*, week {week}: where the time went and what would win it back. "
        f"{requests} kept requests, p50 {p50} and p95 {p95}{before}."
    )


@wording
def digest_line(rank: int, words: str, gain: str, change: str | None, trace_url: str) -> str:
    against = f"{change}; " if change else ""
    return f"{rank}. {words}\n    {gain} ({against}{link(trace_url, 'e.g.')})"


@wording
def digest_change(last_p95: str | None) -> str:
    """One piece against last week's digest: new in its top, or its p95 gain then."""
    return "new this week" if last_p95 is None else f"{last_p95} at p95 last week"


@wording
def digest_gone(words: Sequence[str]) -> str:
    return "Gone from last week's top: " + "; ".join(words)
