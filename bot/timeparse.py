"""Times as people type them: RFC 3339 (``2026-11-24T10:00:00Z``) or Unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time_ns(text: str) -> int:
    """Nanoseconds since the epoch, or ValueError naming the accepted forms."""
    text = text.strip()
    try:
        return int(float(text) * 1_000_000_000)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use RFC 3339 (2026-11-24T10:00:00Z) or Unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000
