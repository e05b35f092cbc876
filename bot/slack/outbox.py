"""Every message journeywatch sends to Slack goes through the database first.

``put`` writes the message under an idempotency key (``incident:7:parent``) before anything
is sent, so a restart or a second replica finds it and never posts a second parent;
``flush`` then delivers what is due: new parents (their ts stored at once), updates of
sent parents (chat.update, in place), thread replies once their parent has a ts, and
files. A failure leaves the row pending with a next attempt time: Retry-After for a 429,
exponential backoff for 5xx and network errors; the outbox job retries it. Nothing is
dropped. Without a Slack client (local mode) messages are kept as ``local`` for the
console and the web pages.

Each message Slack took is written to the audit trail as the bot's (``journeywatch``):
posted, updated or uploaded, with its channel, ts and thread ts and the kind of message
(its key says which: ``incident:7:parent``, ``share:...``, ``ondemand:...``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.audit import BOT, AuditTrail
from bot.store.state import SlackMessageRow

log = logging.getLogger("journeywatch.slack")

MAX_BACKOFF_S = 300.0
_UNSENT = (SlackMessageRow.status == "pending") | SlackMessageRow.dirty.is_(True)
"""Not posted yet, or changed since it was: what a flush delivers."""
CLAIM_S = 60.0
"""A replica that takes a row to send it holds it this long before another may retry."""


@dataclass(frozen=True, slots=True)
class Kept:
    """A message as stored, for the console and the incident page."""

    key: str
    kind: str
    channel: str
    ts: str | None
    status: str
    payload: dict[str, Any]
    created_at: float


class Outbox:
    def __init__(
        self,
        engine: Engine,
        client: WebClient | None,
        *,
        clock: Callable[[], float] = time.time,
        audit: AuditTrail | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.clock = clock
        self.audit = audit
        self._lock = threading.Lock()

    @property
    def local(self) -> bool:
        return self.client is None

    def put(
        self,
        key: str,
        *,
        kind: str,
        channel: str,
        payload: dict[str, Any],
        incident_id: int | None = None,
        parent_key: str | None = None,
        content: bytes | None = None,
    ) -> bool:
        """Store a message to send; for an existing key, replace its payload (an update
        in place). Returns True when the key is new."""
        now = self.clock()
        status = "local" if self.local else "pending"
        body = json.dumps(payload)
        with Session(self.engine) as session, session.begin():
            row = session.scalars(select(SlackMessageRow).where(SlackMessageRow.key == key)).first()
            if row is not None:
                if row.payload != body:
                    row.payload, row.updated_at = body, now
                    row.dirty = row.status == "sent"
                    if row.attempts == 0:  # not backing off: due now
                        row.next_attempt_at = 0.0
                return False
        try:
            with Session(self.engine) as session, session.begin():
                session.add(
                    SlackMessageRow(
                        key=key,
                        incident_id=incident_id,
                        kind=kind,
                        channel=channel,
                        parent_key=parent_key,
                        payload=body,
                        content=content,
                        status=status,
                        created_at=now,
                        updated_at=now,
                        next_attempt_at=0.0,
                        attempts=0,
                        dirty=False,
                    )
                )
        except IntegrityError:
            return self.put(
                key,
                kind=kind,
                channel=channel,
                payload=payload,
                incident_id=incident_id,
                parent_key=parent_key,
            )
        return True

    def flush(self) -> int:
        """Deliver what is due, oldest first, until nothing more is; returns how many
        calls succeeded. (A thread reply becomes due once its parent is sent, an update
        once a ``put`` changed a sent message.)"""
        if self.client is None:
            return 0
        with self._lock:
            done = 0
            while True:
                round_done = sum(self._deliver(row_id) for row_id in self._due() if self._claim(row_id))
                done += round_done
                if not round_done:
                    return done

    def kept(self, incident_id: int) -> list[Kept]:
        with Session(self.engine) as session:
            rows = session.scalars(
                select(SlackMessageRow)
                .where(SlackMessageRow.incident_id == incident_id)
                .order_by(SlackMessageRow.id)
            )
            return [_kept(r) for r in rows]

    def stored(self, key: str) -> Kept | None:
        """The message stored under ``key``, sent or not: a job that posts once per key
        asks before it works a message out."""
        with Session(self.engine) as session:
            row = session.scalars(select(SlackMessageRow).where(SlackMessageRow.key == key)).first()
            return None if row is None else _kept(row)

    def pending(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).where(_UNSENT)) or 0

    # --- delivery ------------------------------------------------------------------------

    def _due(self) -> list[int]:
        now = self.clock()
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(SlackMessageRow.id)
                    .where(_UNSENT, SlackMessageRow.next_attempt_at <= now)
                    .order_by(SlackMessageRow.id)
                )
            )

    def _claim(self, row_id: int) -> bool:
        now = self.clock()
        with Session(self.engine) as session, session.begin():
            claimed = session.execute(
                update(SlackMessageRow)
                .where(SlackMessageRow.id == row_id, SlackMessageRow.next_attempt_at <= now)
                .values(next_attempt_at=now + CLAIM_S)
            )
            return bool(claimed.rowcount)  # type: ignore[attr-defined]

    def _deliver(self, row_id: int) -> int:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = session.get(SlackMessageRow, row_id)
            if row is None:
                return 0
            parent = self._parent(session, row)
            if row.parent_key and (parent is None or parent.ts is None):
                row.next_attempt_at = self.clock() + 1.0  # its parent is not posted yet
                return 0
            sent = row.payload
            try:
                verb = self._send(row, parent)
            except SlackApiError as exc:
                self._failed(
                    row, exc.response.status_code, exc.response.headers, str(exc.response.get("error"))
                )
                return 0
            except OSError as exc:  # network errors, timeouts
                self._failed(row, None, {}, f"{type(exc).__name__}: {exc}")
                return 0
            row.attempts, row.last_error, row.next_attempt_at = 0, None, 0.0
        self._audit(verb, row, parent)
        self._redirty_if_changed(row_id, sent)
        return 1

    def _audit(self, verb: str, row: SlackMessageRow, parent: SlackMessageRow | None) -> None:
        """After the delivery's commit: the audit row has a transaction of its own."""
        if self.audit is None:
            return
        thread_ts = row.thread_ts if row.kind != "file" else (parent.ts if parent is not None else None)
        channel = parent.channel if row.kind == "file" and parent is not None else row.channel
        self.audit.record(
            BOT,
            "bot",
            verb,
            "slack_message",
            row.key,
            kind=row.kind,
            channel=channel,
            ts=row.ts,
            thread_ts=thread_ts,
            incident=row.incident_id,
        )

    def _redirty_if_changed(self, row_id: int, sent: str) -> None:
        """A ``put`` that landed while this message was being sent changed the payload
        after we read it; our commit cleared ``dirty``, so set it again."""
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(SlackMessageRow)
                .where(SlackMessageRow.id == row_id, SlackMessageRow.payload != sent)
                .values(dirty=True)
            )

    def _parent(self, session: Session, row: SlackMessageRow) -> SlackMessageRow | None:
        if not row.parent_key:
            return None
        return session.scalars(select(SlackMessageRow).where(SlackMessageRow.key == row.parent_key)).first()

    def _send(self, row: SlackMessageRow, parent: SlackMessageRow | None) -> str:
        """Deliver the row; returns what was done: post, update or upload."""
        client = self.client
        assert client is not None
        payload = json.loads(row.payload)
        if row.kind == "file":
            assert parent is not None
            client.files_upload_v2(
                channel=parent.channel,
                thread_ts=parent.ts,
                content=row.content,
                filename=payload["filename"],
                title=payload.get("title"),
                initial_comment=payload.get("comment"),
            )
            row.status = "sent"
            return "upload"
        if row.status == "sent" and row.dirty:
            client.chat_update(channel=row.channel, ts=row.ts or "", **payload)
            row.dirty = False
            return "update"
        thread_ts = parent.ts if parent is not None else None
        channel = parent.channel if parent is not None else row.channel
        answer = client.chat_postMessage(channel=channel, thread_ts=thread_ts, **payload)
        row.ts, row.channel, row.thread_ts = answer["ts"], answer["channel"], thread_ts
        row.status, row.dirty = "sent", False
        return "post"

    def _failed(self, row: SlackMessageRow, status: int | None, headers: Any, reason: str) -> None:
        row.attempts += 1
        row.last_error = reason
        retry_after = _retry_after(headers) if status == 429 else None
        wait = retry_after if retry_after is not None else min(MAX_BACKOFF_S, 2.0 ** (row.attempts - 1))
        row.next_attempt_at = self.clock() + wait
        log.warning(
            "slack %s %s failed (%s, attempt %d); retrying in %.0f s",
            row.kind,
            row.key,
            reason,
            row.attempts,
            wait,
        )


def _kept(row: SlackMessageRow) -> Kept:
    return Kept(row.key, row.kind, row.channel, row.ts, row.status, json.loads(row.payload), row.created_at)


def _retry_after(headers: Any) -> float | None:
    for name, value in dict(headers or {}).items():
        if name.lower() == "retry-after":
            text = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(text))
            except (TypeError, ValueError):
                return None
    return None
