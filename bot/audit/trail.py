"""The audit trail (``audit_log``, schema 8): who read which trace, session or incident,
who acted on incidents and ingest keys, and what the bot posted where.

An entry names an actor (a Slack user id, ``api-token``, ``key:<id>``, ``anonymous`` when
the pages and API are open, ``cli``, ``journeywatch`` for the bot itself), the edge it came
through (``via``), an action, a subject and the subject's id, and a few ids and names as
detail (a channel, a thread ts, a verdict). Never a secret and never telemetry text: an id
that has the shape its subject's ids have (a trace's 32 hex digits, an incident's number)
is kept as it is; any other one (a session or user key, which may be an e-mail address)
is stored as the keyed hash the redactor gives hashed attributes, so it still matches the
store's hashed user ids and one person's reads still group together.

Recording never fails what it records: the row is written in a transaction of its own,
after the action, and a database that refuses it is logged and counted (``failed``,
shown on ``/healthz``), not raised. The trail offers no update and no delete but
:meth:`AuditTrail.expire`, the retention job's, which goes by when rows were written.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bot.store.state import AuditRow

log = logging.getLogger("journeywatch.audit")

Value = str | int | float | bool | None
MAX_TEXT = 255
"""The length of the text columns; a detail value is cut there too."""
MAX_READ = 10_000
"""Rows one read returns at most, newest first."""
WITHHELD = "[withheld]"
"""A free-text id recorded where no hasher is at hand (the CLI): never the text itself."""

_NUMBER = re.compile(r"^\d{1,18}$")
SUBJECT_IDS: dict[str, re.Pattern[str]] = {
    "trace": re.compile(r"^[0-9a-f]{32}$"),
    "incident": _NUMBER,
    "investigation": _NUMBER,
    "change": _NUMBER,
    "ingest_key": re.compile(r"^[0-9a-f]{12}$"),
    "slack_message": re.compile(r"^[A-Za-z0-9:_.-]{1,128}$"),
    "journey": re.compile(r"^[A-Za-z0-9_.-]{1,64}$"),
}
"""The shape of each subject's ids as journeywatch makes them; an id of any other shape,
or of another subject (``session``), is hashed."""


class Hashes(Protocol):
    """What the trail needs of the redactor: its keyed hash of a value (``h:...``)."""

    def hash_value(self, value: str) -> str: ...


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row as read back."""

    id: int
    at: float
    actor: str
    via: str
    action: str
    subject: str
    subject_id: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AuditStats:
    written: int = 0
    failed: int = 0


class AuditTrail:
    """The ``audit_log`` table. ``clock`` is the wall clock (seconds since the epoch):
    each row's time and the retention cut are read from it."""

    def __init__(
        self,
        engine: Engine,
        *,
        retention_s: float,
        hasher: Hashes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.retention_s = retention_s
        self.hasher = hasher
        self.clock = clock
        self.stats = AuditStats()
        self._lock = threading.Lock()

    def record(
        self, actor: str, via: str, action: str, subject: str, subject_id: str = "", **detail: Value
    ) -> bool:
        """Write one entry; False (logged and counted) when the database refused it."""
        row = AuditRow(
            at=self.clock(),
            actor=_cut(actor),
            via=via[:16],
            action=action[:32],
            subject=subject[:32],
            subject_id=self._subject_id(subject, subject_id),
            detail=json.dumps({k: _cut(v) if isinstance(v, str) else v for k, v in detail.items()}),
        )
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except Exception as exc:  # whatever it was, the action it records goes on
            with self._lock:
                self.stats.failed += 1
            reason = exc.orig if isinstance(exc, DBAPIError) else type(exc).__name__
            log.warning("audit: could not record %s %s by %s via %s: %s", action, subject, actor, via, reason)
            return False
        with self._lock:
            self.stats.written += 1
        return True

    def since(self, start_s: float, *, limit: int = MAX_READ) -> list[AuditRecord]:
        """The entries written at or after ``start_s``, newest first."""
        statement = (
            select(AuditRow)
            .where(AuditRow.at >= start_s)
            .order_by(AuditRow.at.desc(), AuditRow.id.desc())
            .limit(max(1, min(limit, MAX_READ)))
        )
        with Session(self.engine) as session:
            return [_record(row) for row in session.scalars(statement)]

    def expire(self) -> int:
        """Delete the entries written longer than the retention ago; returns how many."""
        cut = self.clock() - self.retention_s
        with self.engine.begin() as connection:
            deleted = connection.execute(delete(AuditRow).where(AuditRow.at < cut))
        return int(deleted.rowcount)

    def _subject_id(self, subject: str, given: str) -> str:
        shape = SUBJECT_IDS.get(subject)
        if given == "" or (shape is not None and shape.match(given)):
            return given
        return self.hasher.hash_value(given) if self.hasher is not None else WITHHELD


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _record(row: AuditRow) -> AuditRecord:
    try:
        detail = json.loads(row.detail)
    except ValueError:
        detail = {}
    return AuditRecord(
        row.id,
        row.at,
        row.actor,
        row.via,
        row.action,
        row.subject,
        row.subject_id,
        detail if isinstance(detail, dict) else {},
    )
