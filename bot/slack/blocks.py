"""Block Kit messages built from the neutral forms: the incident JSON and the typed
``Report``, so Slack is one renderer among others (web pages, the CLI).

Built with slack_sdk's models, which check Slack's limits when serialized; texts are cut
to fit first (with a link to the full page), so a long report is shortened, never refused.
Every text is :class:`~bot.slack.mrkdwn.Mrkdwn`: telemetry in a report (service names,
routes, log lines, attribute values, summaries) goes through the caller's ``quote``
(redacted, then escaped) before it joins our wording, and is sent ``verbatim``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.config import Runbook
from bot.incidents.grouping import Cause, Verdict
from bot.incidents.groups import Group, Mate
from bot.incidents.headline import ChangeNote, Headline
from bot.incidents.hypothesis import Hypothesis, Posted
from bot.render.report import (
    FIXES_SHOWN,
    change_words,
    evidence_words,
    gap_words,
    grown_words,
    missing_words,
    release_judged_words,
    scope_reasons,
    similar_words,
    summary,
)
from bot.slack import messages as say
from bot.slack.mrkdwn import Mrkdwn, Quote, escape
from correlators.logs import TemplateChange
from correlators.report import Report

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
CONTEXT_LIMIT = 2000
MAX_BLOCKS = 50
COLORS = {"page": "#e01e5a", "ticket": "#ecb22e", "resolved": "#2eb67d"}


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """What goes into chat.postMessage / chat.update: fallback text, blocks, and
    optionally blocks inside a coloured attachment (the bar on the left)."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    attachment_blocks: list[dict[str, Any]] = field(default_factory=list)
    color: str | None = None

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.blocks:
            body["blocks"] = self.blocks
        if self.attachment_blocks:
            body["attachments"] = [
                {"color": self.color, "blocks": self.attachment_blocks, "fallback": self.text}
            ]
        return body


def fit(text: str, limit: int, link: str | None = None) -> Mrkdwn:
    """``text`` cut to ``limit`` characters, ending with a link to the rest when known.
    The cut never splits a link of ours or an escaped ``&lt;``: half of either would show
    as markup."""
    text = escape(text)
    if len(text) <= limit:
        return text
    tail = say.more_link(link) if link else escape(say.TRUNCATED)
    kept = text[: limit - len(tail)]
    opened, amp = kept.rfind("<"), kept.rfind("&")
    if opened > kept.rfind(">"):
        kept = kept[:opened]
    elif amp > kept.rfind(";"):
        kept = kept[:amp]
    return Mrkdwn(kept.rstrip() + tail)


def mrkdwn(text: str, limit: int, link: str | None = None) -> MarkdownTextObject:
    """A text object of ``text``, cut to fit, sent verbatim: Slack then makes no link or
    mention of a bare URL or ``@here`` in it."""
    return MarkdownTextObject(text=fit(text, limit, link), verbatim=True)


def section(text: str, link: str | None = None) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text, SECTION_LIMIT, link))


def context(text: str, link: str | None = None) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(text, CONTEXT_LIMIT, link)])


def to_dicts(blocks: Sequence[Block], link: str | None = None) -> list[dict[str, Any]]:
    """Serialize (slack_sdk validates each block); past 50 blocks the rest becomes a link."""
    kept = list(blocks)
    if len(kept) > MAX_BLOCKS:
        kept = [*kept[: MAX_BLOCKS - 1], context(say.more_on_page(link) if link else say.TRUNCATED)]
    return [b.to_dict() for b in kept]


# --- the incident's parent message ------------------------------------------------------------


def incident_message(
    incident: dict[str, Any],
    *,
    owner: str | None,
    slo_window_s: int,
    incident_url: str,
    journey_url: str,
    quote: Quote,
    headline: Headline | None = None,
    group: Mrkdwn | None = None,
) -> SlackMessage:
    """The parent message, updated in place as the incident changes: the line a person
    can act on first, then the facts. ``group``: the incidents of the same cause
    (:func:`group_line`), right under the first line."""
    status = incident["status"]
    severity = incident["severity"]
    title = Mrkdwn(f"*{say.incident_title(incident['journey'], severity, status)}*")
    lead = headline_line(headline, quote) if headline is not None else None
    blocks: list[Block] = [
        section(Mrkdwn(f"{lead}\n{title}") if lead else title),
        *([section(group)] if group else []),
        SectionBlock(
            fields=[
                mrkdwn(f, FIELD_LIMIT)
                for f in say.incident_facts(
                    objective=incident["objective"],
                    tier=incident["tier"],
                    burn_rate=incident["burn_rate"],
                    budget_left=incident["budget_left"],
                    budget_spent=incident.get("budget_spent"),
                    slo_window_s=slo_window_s,
                    status=status,
                    duration_s=incident["duration_s"],
                    owner=owner,
                )
            ]
        ),
    ]
    if incident.get("summary"):
        blocks.append(section(quote(incident["summary"]), incident_url))
    if status == "resolved":
        blocks.append(
            section(say.resolved_line(incident["duration_s"], incident.get("budget_spent"), slo_window_s))
        )
        blocks.append(section(f"*{say.VERDICT_QUESTION}*"))
        blocks.append(
            _buttons(incident["id"], [(f"verdict_{v}", label) for v, label in say.VERDICTS.items()])
        )
    else:
        actions = ["ack", "resolve", "reinvestigate", "mute_1h", "mute_4h"]
        if status == "acknowledged":
            actions.remove("ack")
        blocks.append(_buttons(incident["id"], [(f"incident_{a}", say.button_label(a)) for a in actions]))
    blocks.append(context(say.incident_links(incident_url, incident["id"], journey_url, incident["journey"])))
    color = COLORS["resolved"] if status == "resolved" else COLORS.get(severity, COLORS["ticket"])
    text = say.incident_fallback(
        incident["journey"], severity, status, incident["burn_rate"], incident["duration_s"]
    )
    return SlackMessage(text, attachment_blocks=to_dicts(blocks, incident_url), color=color)


def headline_line(headline: Headline, quote: Quote) -> Mrkdwn:
    """Impact · suspect · what changed · next step; telemetry (names, versions) quoted."""
    parts: list[str] = []
    impact = headline.impact
    if impact is not None:
        parts.append(
            say.impact_words(
                quote(headline.journey),
                impact.objective,
                impact.threshold_ms,
                impact.share,
                impact.started_s,
                impact.bad,
                impact.requests,
                impact.people,
                impact.people_kind,
            )
        )
    if not headline.investigated:
        return say.headline([*parts, escape(say.INVESTIGATING_SHORT)])
    suspect = headline.suspect
    if suspect is not None:
        parts.append(
            say.suspect_words(
                quote(suspect.name),
                suspect.level,
                quote(suspect.subject) or None,
                quote(suspect.instance) or None,
                quote.all(suspect.shared_by),
                suspect.added_ms,
            )
        )
    parts.extend(_change_note(c, quote) for c in headline.changes)
    if not headline.changes:
        parts.append(
            say.no_change_of(quote(suspect.name), headline.other_changes)
            if suspect is not None and headline.other_changes
            else escape(say.NO_RECENT_DEPLOYS)
        )
    if headline.runbook is not None:
        parts.append(say.next_step(headline.runbook.title, headline.runbook.url))
    return say.headline(parts)


def _change_note(change: ChangeNote, quote: Quote) -> Mrkdwn:
    """A change near the first bad request, with the release comparison's verdict on its
    version when there is one ("orders 2.0.0 deployed 3 min before the first bad request;
    release regressed: INSERT orders p95 +31%"): the operation is telemetry, quoted."""
    words = say.change_words(
        quote(change.service), change.kind, quote(change.version) or None, change.minutes_before
    )
    if change.release is None:
        return words
    judged = replace(change.release, operation=quote(change.release.operation) or None)
    return Mrkdwn(f"{words}; {release_judged_words(judged)}")


def group_line(group: Group, incident_id: int, url_of: Callable[[Mate], str], quote: Quote) -> Mrkdwn:
    """The parent's line on its group: a member names its primary, the primary its
    members; both give the shared cause, and what their own analysis said when it was
    something else (login's "dependency of auth" under checkout's shared database)."""
    cause = cause_words(group.cause, quote)
    verdict = group.own_verdict(incident_id)
    own = say.own_analysis(_verdict_words(verdict, quote) or "") if verdict else None
    others = [say.incident_ref(url_of(m), m.journey, m.id) for m in group.others(incident_id)]
    if group.is_primary(incident_id):
        return say.same_cause_in(others, cause, own)
    return say.same_cause_as(others[0], cause, own)


def group_note(event: Mapping[str, Any], other_url: str, quote: Quote) -> SlackMessage:
    """A ``grouped`` or ``ungrouped`` timeline event (``bot.incidents.groups``) as a line
    in the thread."""
    detail = event["detail"]
    other = say.incident_ref(other_url, detail["journey"], detail["with"])
    cause = Cause.from_json(detail["cause"])
    own = Verdict.from_json(detail["own"]) if detail.get("own") else None
    if event["kind"] == "grouped":
        said = say.own_analysis(_verdict_words(own, quote) or "") if own and not own.said(cause) else None
        text = say.grouped_note(other, detail["role"] == "primary", cause_words(cause, quote), said)
    else:
        theirs = Verdict.from_json(detail["other"]) if detail.get("other") else None
        text = say.ungrouped_note(
            other, cause_words(cause, quote), _verdict_words(own, quote), _verdict_words(theirs, quote)
        )
    return SlackMessage(text, blocks=to_dicts([section(text)]))


def cause_words(cause: Cause, quote: Quote) -> Mrkdwn:
    return say.verdict_words(cause.kind, cause.level, quote(cause.subject))


def _verdict_words(verdict: Verdict | None, quote: Quote) -> Mrkdwn | None:
    if verdict is None:
        return None
    subject = verdict.subject or verdict.suspect
    return say.verdict_words(verdict.kind, verdict.level, quote(subject) or None)


def _buttons(incident_id: int, actions: list[tuple[str, str]]) -> ActionsBlock:
    return ActionsBlock(
        block_id=f"incident-{incident_id}",
        elements=[
            ButtonElement(
                text=label,
                action_id=action_id,
                value=str(incident_id),
                style="primary" if action_id in ("incident_ack", "verdict_right") else None,
            )
            for action_id, label in actions
        ],
    )


# --- the root-cause summary in the thread -----------------------------------------------------


def summary_message(
    report: Report,
    *,
    runbooks: Sequence[Runbook],
    incident_url: str,
    trace_url: str | None,
    quote: Quote,
    trace_url_of: Callable[[str], str] | None = None,
) -> SlackMessage:
    """The verdict, its scope, the suspects, then the fixes for patterns the bad requests
    show that the baseline did not (in the same message: an on-call reads the suspect and
    what would win the time back together, and a re-investigation that posts the summary
    again carries them too), then the evidence."""
    verdict = quote(summary(report)) or escape(say.NOTHING_STOOD_OUT)
    blocks: list[Block] = [section(Mrkdwn(f"*{verdict}*"), incident_url)]
    scope = report.scope
    line = say.scope_line(quote(scope.kind), quote(scope.level), scope.confidence, quote(scope.subject))
    blocks.append(section(say.scope_reasons(line, quote.all(scope_reasons(scope)[:2])), incident_url))
    candidates = _candidates(report, quote)
    if candidates:
        blocks.append(section(candidates, incident_url))
    fixes = _fixes(report, quote, trace_url_of)
    if fixes:
        blocks.append(section(say.titled(say.FIXES, fixes), incident_url))
    for title, lines in _evidence(report, quote):
        if lines:
            blocks.append(section(say.titled(title, lines), incident_url))
    if runbooks:
        blocks.append(section(say.titled(say.RUNBOOKS, [say.runbook_line(r.title, r.url) for r in runbooks])))
    blocks.append(
        context(say.report_links(incident_url, trace_url, report.bad_traces, report.baseline_traces))
    )
    return SlackMessage(verdict, blocks=to_dicts(blocks, incident_url))


def _candidates(report: Report, quote: Quote) -> Mrkdwn:
    lines: list[Mrkdwn] = []
    for rank, c in enumerate(report.candidates[:3], start=1):
        lines.append(say.candidate_line(rank, quote(c.service), quote(c.instance), quote(c.operation)))
        lines.extend(say.evidence_line(quote(evidence_words(e))) for e in c.evidence[:2])
    return say.titled(say.TOP_SUSPECTS, lines) if lines else Mrkdwn("")


def _fixes(report: Report, quote: Quote, trace_url_of: Callable[[str], str] | None) -> list[Mrkdwn]:
    lines = []
    for grown in report.grown_patterns[:FIXES_SHOWN]:
        url = trace_url_of(grown.examples[0]) if grown.examples and trace_url_of is not None else None
        lines.append(say.fix_line(quote(grown_words(grown)), url))
    return lines


def _evidence(report: Report, quote: Quote) -> list[tuple[str, list[Mrkdwn]]]:
    logs = [
        say.log_template_line(quote(c.service), quote(c.kind), c.incident_count, fit(quote(c.sample), 200))
        for c in _warnings(report)[:3]
    ]
    metrics = [
        say.metric_line(
            quote(m.name), quote(m.service) or None, quote(m.direction), m.baseline_median, m.incident_median
        )
        for m in report.metric_anomalies[:3]
    ]
    attributes = [
        say.attribute_line(
            quote(a.key), quote(str(a.value)), quote(a.service) or None, a.bad_share, a.baseline_share
        )
        for a in report.attributes[:3]
    ]
    changes = quote.all(change_words(c) for c in report.changes[:3])
    hops = [
        say.hop_line(h.share, quote(h.service), quote(h.operation), h.errors, h.slow)
        for h in report.budget[:3]
    ]
    gaps = quote.all([gap_words(g) for g in report.gaps[:3]] + [missing_words(m) for m in report.missing[:3]])
    similar = [
        say.similar_line(s.id, quote(s.summary), quote(similar_words(s)), s.link) for s in report.similar
    ]
    return [
        (say.NEW_LOG_LINES, logs),
        (say.METRIC_ANOMALIES, metrics),
        (say.OVER_REPRESENTED, attributes),
        (say.CHANGES, changes),
        (say.BAD_BY_HOP, hops),
        (say.TELEMETRY_GAPS, gaps),
        (say.SIMILAR, similar),
    ]


def hypothesis_words(hypothesis: Hypothesis, quote: Quote) -> Mrkdwn:
    return say.hypothesis_words(quote(hypothesis.suspect), hypothesis.level, quote(hypothesis.subject))


def hypothesis_line(posted: Posted, quote: Quote) -> Mrkdwn:
    """ "Hypothesis changed: now sqlite:shop (shared dependency), was auth (service)"."""
    was = posted.was
    return say.hypothesis_shift(
        posted.shift,
        hypothesis_words(posted.now, quote),
        hypothesis_words(was, quote) if was else Mrkdwn(""),
        posted.now.confidence,
        was.confidence if was else 0,
    )


def led_by(lead: Mrkdwn, message: SlackMessage, link: str | None = None) -> SlackMessage:
    """``message`` with ``lead`` as its first block and its notification text: the
    line that says why it was posted, before the evidence."""
    first = to_dicts([section(lead, link)])
    return SlackMessage(lead, blocks=[*first, *message.blocks[: MAX_BLOCKS - 1]])


WARN_SEVERITY = 13
"""OTel severity number of WARN: below it a new template is news, not an error."""


def _warnings(report: Report) -> list[TemplateChange]:
    """The report's new or surging log templates of WARN and above: "login ok for a free
    user" surging with the traffic is not an error line."""
    return [c for c in report.log_changes if c.max_severity >= WARN_SEVERITY]
