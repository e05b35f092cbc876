"""Durations as people write them in config files: ``30d``, ``6h``, ``5m``, ``30s``, ``1h30m``.

A bare number is seconds. Parsed once, at load time, into whole seconds.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")


def parse_duration(value: object) -> int:
    """Whole seconds, or ValueError with what a duration looks like."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 30d, 6h, 5m or 30s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        elif re.fullmatch(rf"(?:{_PART.pattern})+", text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise ValueError(f"{value!r} is not a duration such as 30d, 6h, 5m or 30s")
    else:
        raise ValueError("a duration such as 30d, 6h, 5m or 30s")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return round(seconds)


def format_duration(seconds: int) -> str:
    """The shortest exact form: 3600 -> 1h, 5400 -> 1h30m."""
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


Duration = Annotated[int, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
"""A config field holding whole seconds, written as ``5m`` or ``1h`` in the file."""
