"""Times as people type them: RFC 3339 (``2026-11-24T10:00:00Z``) or Unix seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from correlators.model import MAX_TIME_NS


def parse_time_ns(text: str) -> int:
    """Nanoseconds since the epoch, or ValueError naming the accepted forms (a time past
    the year 2262, ``inf`` or ``nan`` is none of them)."""
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or not 0 <= seconds * 1e9 <= MAX_TIME_NS:
            raise ValueError(f"{text!r} is not a time between 1970 and 2262 in Unix seconds")
        return int(seconds * 1_000_000_000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; use RFC 3339 (2026-11-24T10:00:00Z) or Unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000
