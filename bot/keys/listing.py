"""Keys as `journeywatch keys list` shows them: one line each, or JSON (an access key's
``journeys`` are those it reads besides its team's, null for every journey)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.keys.registry import KeyInfo


def when(at: float | None) -> str:
    if at is None:
        return "never"
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def key_line(info: KeyInfo, now: float) -> str:
    services = ",".join(sorted(info.services)) if info.services is not None else "any service"
    parts = [f"{info.id}  {info.team:16} {info.state(now):8}"]
    if info.scopes:
        parts += [f"scopes {','.join(sorted(info.scopes))}", services]
    if info.role is not None:
        parts.append(f"role {info.role.label} of {journeys_text(info)}")
    parts += [f"created {when(info.created_at)}", f"expires {when(info.expires_at)}"]
    if info.replaced_by:
        parts.append(f"rotated to {info.replaced_by}")
    return "  ".join(parts)


def journeys_text(info: KeyInfo) -> str:
    """What an access key reads, in words: its team's journeys and those it names."""
    if info.journeys is None:
        return "every journey"
    named = f" and {','.join(sorted(info.journeys))}" if info.journeys else ""
    return f"{info.team}'s journeys{named}"


def key_json(info: KeyInfo, now: float) -> dict[str, Any]:
    return {
        "id": info.id,
        "team": info.team,
        "state": info.state(now),
        "services": None if info.services is None else sorted(info.services),
        "scopes": sorted(info.scopes),
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "replaced_by": info.replaced_by,
        "role": None if info.role is None else info.role.label,
        "journeys": None if info.role is None or info.journeys is None else sorted(info.journeys),
    }
