"""How incidents age: their cited traces pinned, then their reports cut to summaries, then
the incidents deleted with their timelines and Slack messages.

An incident's report names telemetry: its worst traces, the log lines of a few of them,
the templates mined from the logs. Those traces are pinned in the store while the incident
is young (``Store.pin_traces``), so the thread's links keep opening them; once the pin
ends the traces go with their tier, and the incident keeps only what it concluded
(:func:`summarize`): suspects, scope, figures, changes, never a trace id that points at
nothing or a log line's text. The copies of its Slack messages go the same way. On-demand
investigations (``investigations``) age the same, from the end of the window they read.

Times here are the bot's own (float seconds), never the telemetry's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, delete, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.incidents.stored import cited, read_report
from bot.render.report import report_json
from bot.store.state import (
    IncidentEventRow,
    IncidentRow,
    InvestigationRow,
    SlackMessageRow,
    VerdictRow,
)
from correlators.findings import ErrorLines, Figures, LineStopped, NamedBehind
from correlators.rank import Candidate
from correlators.report import Report

EXPIRED = "[expired]"
"""What stands where telemetry's own text was."""
_TRACE_ID = re.compile(r"\b[0-9a-fA-F]{32}\b")
"""A W3C trace id as the correlators write one into a sentence (a missing exemplar)."""
_LOG_SENTENCE = re.compile(r"(\(\d+ lines\).*?): .*", re.DOTALL)
"""``correlators.rank``'s log-template sentences: "cart logs a new error (9 lines): <the
line>"; the line is the rest of the text (a verdict's summary ends with its evidence)."""
SAMPLE_CHARS = 160
"""How much of a sample line ``correlators.rank`` quotes."""
MIN_RAW_CHARS = 4
"""Shorter raw texts are not searched for: "ok" would be cut out of every sentence."""
_REDUCED_MESSAGE = {
    "text": "This message quoted telemetry that has since expired; the incident keeps its summary."
}


def raw_texts(report: Report) -> set[str]:
    """Telemetry's own text in ``report``: what no summary may keep, wherever it was copied."""
    found = cited(report)
    for change in report.log_changes:
        found |= {change.template, change.sample, change.sample[:SAMPLE_CHARS], *change.trace_ids}
    for records in report.exemplar_logs.values():
        found |= {record.body for record in records}
    for candidate in report.candidates:
        for evidence in candidate.evidence:
            if isinstance(evidence.figures, QUOTING):
                found |= {
                    text for sample in _quoted(evidence.figures) for text in (sample, sample[:SAMPLE_CHARS])
                }
    found |= {gap.example for gap in report.gaps if gap.example}
    return {text for text in found if len(text) >= MIN_RAW_CHARS}


def scrub(text: str, raw: Iterable[str] = ()) -> str:
    """``text`` without a log line quoted by a log-template sentence, trace ids and the
    ``raw`` texts, each replaced by :data:`EXPIRED`."""
    text = _TRACE_ID.sub(EXPIRED, _LOG_SENTENCE.sub(rf"\1: {EXPIRED}", text))
    for piece in sorted(raw, key=len, reverse=True):
        text = text.replace(piece, EXPIRED)
    return text


def summarize(report: Report) -> Report:
    """``report`` without telemetry's own words: no trace ids, no log lines or templates;
    what the analysis concluded (suspects, scores, scope, figures, changes) stays."""
    raw = raw_texts(report)
    return replace(
        report,
        worst_traces=[],
        exemplar_logs={},
        log_changes=[replace(c, template=EXPIRED, sample=EXPIRED, trace_ids=[]) for c in report.log_changes],
        candidates=[_candidate(c, raw) for c in report.candidates],
        gaps=[replace(gap, detail=scrub(gap.detail, raw), example=None) for gap in report.gaps],
    )


def _candidate(candidate: Candidate, raw: set[str]) -> Candidate:
    return replace(
        candidate,
        evidence=[
            replace(e, summary=scrub(e.summary, raw), figures=_figures(e.figures)) for e in candidate.evidence
        ],
    )


QUOTING = (ErrorLines, NamedBehind, LineStopped)
"""The findings whose figures quote log lines (``sample``, ``paired_sample``)."""


def _quoted(figures: ErrorLines | NamedBehind | LineStopped) -> list[str]:
    if isinstance(figures, LineStopped):
        return [text for text in (figures.sample, figures.paired_sample) if text]
    return [figures.sample]


def _figures(figures: Figures | None) -> Figures | None:
    """A finding's figures without the log line it quotes."""
    if isinstance(figures, LineStopped):
        return replace(figures, sample=EXPIRED, paired_sample=EXPIRED if figures.paired_sample else "")
    if isinstance(figures, QUOTING):
        return replace(figures, sample=EXPIRED)
    return figures


def _scrub_json(value: Any, raw: set[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, raw)
    if isinstance(value, list):
        return [_scrub_json(v, raw) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json(v, raw) for k, v in value.items()}
    return value


def _reduce(
    row: IncidentRow | InvestigationRow, columns: Iterable[str], now_s: float, *, unreadable: str | None
) -> set[str]:
    """Each report column of ``row`` summarized; returns the raw texts they held. A report
    that does not read (logged by ``read_report``) cannot be summarized: it is dropped,
    never kept raw."""
    raw: set[str] = set()
    for column in columns:
        report = read_report(getattr(row, column), owner=f"{row.__tablename__} {row.id}")
        if report is None:
            setattr(row, column, unreadable if getattr(row, column) is not None else None)
            continue
        raw |= raw_texts(report)
        setattr(row, column, json.dumps(report_json(summarize(report))))
    row.reduced_at = now_s
    return raw


def _scrub_events(session: Session, incident_id: int, raw: set[str]) -> int:
    """Timeline details quote verdicts (an ``investigated`` event's summary), so the same
    log lines may sit there: scrubbed as the reports are."""
    changed = 0
    statement = select(IncidentEventRow).where(IncidentEventRow.incident_id == incident_id)
    for event in session.scalars(statement):
        detail = json.dumps(_scrub_json(json.loads(event.detail), raw))
        if detail != event.detail:
            event.detail = detail
            changed += 1
    return changed


def _reduce_messages(session: Session, incident_id: int, now_s: float) -> int:
    """Sent or local copies only: a message still to post is the outbox's to finish. The
    blocks quote evidence in Slack's escaping, so they are replaced whole; never marked
    for an update, so the line replaces our copy, not the message in Slack. A picture's
    key names its trace (``incident:7:picture:<trace id>``): the id goes too."""
    statement = select(SlackMessageRow).where(
        SlackMessageRow.incident_id == incident_id, SlackMessageRow.status != "pending"
    )
    reduced = 0
    for message in session.scalars(statement):
        message.payload = json.dumps(_REDUCED_MESSAGE)
        message.content = None
        message.dirty = False
        message.updated_at = now_s
        message.key = _TRACE_ID.sub(f"expired-{message.id}", message.key)
        reduced += 1
    return reduced


def _looked_at() -> ColumnElement[float]:
    """When an incident last read telemetry: its latest investigation, else its opening."""
    return func.coalesce(IncidentRow.investigated_at, IncidentRow.opened_at)


class IncidentExpiry:
    """Retention's side of the incident tables (``bot.retention`` runs it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def citations(self, since_s: float, now_s: float) -> dict[str, float]:
        """Trace id -> when the incident citing it last looked at telemetry (its latest
        investigation, else its opening), for incidents that did so since ``since_s``, or
        ``now_s`` for those still open: what the store is to keep, and from when. A long
        open incident is investigated again and again; its traces stay while it does."""
        statement = select(
            IncidentRow.id,
            _looked_at(),
            IncidentRow.resolved_at,
            IncidentRow.report,
            IncidentRow.previous_report,
        ).where(
            or_(_looked_at() >= since_s, IncidentRow.resolved_at.is_(None)),
            IncidentRow.reduced_at.is_(None),
            IncidentRow.report.is_not(None),
        )
        found: dict[str, float] = {}
        with Session(self.engine) as session:
            for incident_id, looked_at, resolved_at, *texts in session.execute(statement):
                since = now_s if resolved_at is None else looked_at
                for text in texts:
                    report = read_report(text, owner=f"incident {incident_id}")
                    for trace_id in cited(report) if report is not None else ():
                        found[trace_id] = max(found.get(trace_id, since), since)
        return found

    def reduce(self, before_s: float, now_s: float) -> dict[str, int]:
        """Cut the reports of resolved incidents that last looked at telemetry before
        ``before_s`` (see :meth:`citations`; and of investigations
        whose window ended before it) to summaries, scrub their timelines and replace
        their kept Slack messages by a line saying so: each row once (``reduced_at``),
        an incident in one transaction with its timeline and messages."""
        done = {"incidents_reduced": 0, "investigations_reduced": 0, "incident_events_scrubbed": 0}
        done["slack_messages_reduced"] = 0
        with Session(self.engine) as session, session.begin():
            old = select(IncidentRow).where(
                IncidentRow.resolved_at.is_not(None),
                _looked_at() < before_s,
                IncidentRow.reduced_at.is_(None),
            )
            for incident in session.scalars(old):
                raw = _reduce(incident, ("report", "previous_report"), now_s, unreadable=None)
                done["incident_events_scrubbed"] += _scrub_events(session, incident.id, raw)
                done["slack_messages_reduced"] += _reduce_messages(session, incident.id, now_s)
                done["incidents_reduced"] += 1
        with Session(self.engine) as session, session.begin():
            old_investigations = select(InvestigationRow).where(
                InvestigationRow.end_s < before_s, InvestigationRow.reduced_at.is_(None)
            )
            for investigation in session.scalars(old_investigations):
                # NOT NULL: "{}" reads as no report, as any report that does not read
                _reduce(investigation, ("report",), now_s, unreadable="{}")
                done["investigations_reduced"] += 1
        return done

    def purge(self, before_s: float) -> dict[str, int]:
        """Delete incidents resolved before ``before_s`` with their timelines, verdicts and
        Slack messages; investigations and Slack messages of no incident made before it.
        Incidents still open or acknowledged stay, however old."""
        gone = select(IncidentRow.id).where(
            IncidentRow.resolved_at.is_not(None), IncidentRow.resolved_at < before_s
        )
        with Session(self.engine) as session, session.begin():
            ids = list(session.scalars(gone))
            deleted = {"incidents": 0, "incident_events": 0, "verdicts": 0, "slack_messages": 0}
            for lo in range(0, len(ids), 500):
                chunk = ids[lo : lo + 500]
                deleted["incident_events"] += _delete(session, IncidentEventRow.incident_id, chunk)
                deleted["verdicts"] += _delete(session, VerdictRow.incident_id, chunk)
                deleted["slack_messages"] += _delete(session, SlackMessageRow.incident_id, chunk)
                deleted["incidents"] += _delete(session, IncidentRow.id, chunk)
            loose = and_(SlackMessageRow.incident_id.is_(None), SlackMessageRow.created_at < before_s)
            deleted["slack_messages"] += _rowcount(session.execute(delete(SlackMessageRow).where(loose)))
            old = InvestigationRow.end_s < before_s
            deleted["investigations"] = _rowcount(session.execute(delete(InvestigationRow).where(old)))
        return deleted

    def sizes(self) -> dict[str, int]:
        """Rows per tier of the bot's own records."""
        reduced = IncidentRow.reduced_at.is_not(None)
        counted = {
            "incidents": select(func.count()).select_from(IncidentRow).where(~reduced),
            "incidents_summarized": select(func.count()).select_from(IncidentRow).where(reduced),
            "incident_events": select(func.count()).select_from(IncidentEventRow),
            "slack_messages": select(func.count()).select_from(SlackMessageRow),
            "investigations": select(func.count()).select_from(InvestigationRow),
        }
        with Session(self.engine) as session:
            return {name: int(session.execute(q).scalar_one()) for name, q in counted.items()}


def _delete(
    session: Session, column: InstrumentedAttribute[int] | InstrumentedAttribute[int | None], ids: list[int]
) -> int:
    return _rowcount(session.execute(delete(column.class_).where(column.in_(ids))))


def _rowcount(result: object) -> int:
    return int(getattr(result, "rowcount", 0))
