"""Audit entries as `journeywatch audit-log` prints them: one line each, or JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.audit.trail import AuditRecord


def when(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def detail_words(record: AuditRecord) -> str:
    """``channel=C0X thread_ts=1.2``: the detail in the order it was recorded."""
    return " ".join(f"{k}={'-' if v is None else v}" for k, v in record.detail.items())


def entry_line(record: AuditRecord) -> str:
    subject = f"{record.subject} {record.subject_id}".strip()
    parts = [when(record.at), f"{record.actor:14}", f"{record.via:5}", f"{record.action:13}", subject]
    words = detail_words(record)
    return "  ".join([*parts, words] if words else parts)


def entry_json(record: AuditRecord) -> dict[str, Any]:
    """``at`` in RFC 3339 for scripts, ``at_s`` as stored."""
    return {
        "id": record.id,
        "at": dt.datetime.fromtimestamp(record.at, dt.UTC).isoformat(timespec="milliseconds"),
        "at_s": record.at,
        "actor": record.actor,
        "via": record.via,
        "action": record.action,
        "subject": record.subject,
        "subject_id": record.subject_id,
        "detail": record.detail,
    }
