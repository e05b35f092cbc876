"""The ingest keys in the database: made, listed, revoked and rotated.

A key reads ``jwk_<id>_<secret>``. The id is public (``keys list`` shows it, logs may
name it) and finds the row; the secret is 32 random bytes of which only a SHA-256 is
kept, so the key is shown once, when it is made, and a copy of the database (or of a
backup) lets no one send. A fast hash is enough here: a slow one (bcrypt, argon2)
protects guessable passwords, and nobody guesses 256 random bits; it would also cost
every uncached ingest request tens of milliseconds.

An access key has a role (``viewer``, ``responder``, ``admin``: see ``bot.policy``) and
reads the API and pages as its team: the journeys the team owns in journeys.yaml, plus
any it names, or every journey (``*``; an admin's always). The role is a column of its
own rather than one more scope: scopes are independent grants a key may hold any of,
while a key has one role, each holding the one below, and a role set beside another
would leave every check to find the highest. Its journeys are another axis than the
services an ingest key is bound to (what it may read, not what it may send).

Rotation makes a new key with the same team, services, scopes, role and journeys and
cuts the old one's life to the overlap, so senders can be moved over one by one; after the overlap the old
key is refused as any expired one (see the README's "Ingest keys" runbook).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bot.policy import ROLE_NAMES, Role, role_named
from bot.store.state import IngestKeyRow
from correlators.errors import IngestKeyError

PREFIX = "jwk_"
SCOPES = ("ingest", "changes")
"""``ingest``: send spans and logs; ``changes``: post to ``/api/changes``."""
_ID = re.compile(r"^[0-9a-f]{12}$")
EVERY_JOURNEY = "*"
"""The ``journeys`` column of an access key that reads every journey."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Everything about a key but its secret."""

    id: str
    team: str
    services: frozenset[str] | None
    """The ``service.name`` values it may send; None for any."""
    scopes: frozenset[str]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    replaced_by: str | None
    role: Role | None = None
    """An access key's role; None for a key that only sends."""
    journeys: frozenset[str] | None = frozenset()
    """An access key's journeys besides its team's; None for every journey."""

    def state(self, now: float) -> str:
        """active, revoked or expired (at ``now``, seconds since the epoch)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class NewKey:
    info: KeyInfo
    key: str
    """The whole key, secret included: shown once, never stored."""


def split_key(presented: str) -> tuple[str, str] | None:
    """(id, secret) of a key as a sender presented it, None when it is not one of ours
    (checked before any lookup, so junk never reaches the database or the cache)."""
    if not presented.startswith(PREFIX):
        return None
    key_id, _, secret = presented[len(PREFIX) :].partition("_")
    if not _ID.match(key_id) or not 20 <= len(secret) <= 128:
        return None
    return key_id, secret


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRegistry:
    """The ``ingest_keys`` table. ``clock`` is the wall clock (seconds since the epoch)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def create(
        self,
        team: str,
        *,
        services: Iterable[str] | None = None,
        scopes: Iterable[str] | None = None,
        expires_in_s: float | None = None,
        role: str | None = None,
        journeys: Iterable[str] | None = None,
    ) -> NewKey:
        """``scopes`` default to ``ingest``, or to none for an access key (``role``);
        ``journeys`` are the ones an access key reads besides its team's, ``["*"]`` for
        every one."""
        team = team.strip()
        if not team or len(team) > 64:
            raise IngestKeyError("a key needs a team name of 1 to 64 characters")
        bound = _services(services)
        access = _access(role, journeys)
        default = ("ingest",) if access is None else ()
        wanted = _scopes(default if scopes is None else scopes, empty_ok=access is not None)
        if expires_in_s is not None and expires_in_s <= 0:
            raise IngestKeyError("a key's lifetime must be positive")
        now = self.clock()
        expires_at = None if expires_in_s is None else now + expires_in_s
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return _insert(session, team, bound, wanted, now, expires_at, access)

    def listed(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        statement = select(IngestKeyRow).order_by(IngestKeyRow.team, IngestKeyRow.created_at)
        if not include_revoked:
            statement = statement.where(IngestKeyRow.revoked_at.is_(None))
        with Session(self.engine) as session:
            return [_info(row) for row in session.scalars(statement)]

    def lookup(self, key_id: str) -> tuple[KeyInfo, str] | None:
        """The key and its secret's hash, None when there is no such key."""
        with Session(self.engine) as session:
            row = session.get(IngestKeyRow, key_id)
            return None if row is None else (_info(row), row.secret_sha256)

    def revoke(self, key_id: str) -> KeyInfo:
        """Refused from now on (by each server once its cache forgets the key)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = _row(session, key_id)
            if row.revoked_at is None:
                row.revoked_at = self.clock()
            return _info(row)

    def rotate(self, key_id: str, *, overlap_s: float) -> tuple[KeyInfo, NewKey]:
        """A new key like ``key_id``, which stays valid ``overlap_s`` more (or less, if it
        expires sooner). The new key lives as long as the old one was made to."""
        if overlap_s < 0:
            raise IngestKeyError("the overlap cannot be negative")
        now = self.clock()
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            row = _row(session, key_id, for_update=True)
            old = _info(row)
            if old.state(now) != "active":
                raise IngestKeyError(f"key {key_id} is {old.state(now)}; make a new one with `keys create`")
            if row.replaced_by is not None:
                raise IngestKeyError(f"key {key_id} was already rotated to {row.replaced_by}")
            lifetime = None if old.expires_at is None else old.expires_at - old.created_at
            new = _insert(
                session,
                old.team,
                old.services,
                old.scopes,
                now,
                None if lifetime is None else now + lifetime,
                None if old.role is None else (old.role, old.journeys),
            )
            cut = now + overlap_s
            row.expires_at = cut if row.expires_at is None else min(row.expires_at, cut)
            row.replaced_by = new.info.id
            return _info(row), new


def _insert(
    session: Session,
    team: str,
    services: frozenset[str] | None,
    scopes: frozenset[str],
    now: float,
    expires_at: float | None,
    access: Access | None = None,
) -> NewKey:
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    role, journeys = access if access is not None else (None, frozenset())
    row = IngestKeyRow(
        id=key_id,
        secret_sha256=secret_hash(secret),
        team=team,
        services=None if services is None else json.dumps(sorted(services)),
        scopes=",".join(sorted(scopes)),
        created_at=now,
        expires_at=expires_at,
        role=None if role is None else role.label,
        journeys=None if role is None else _journeys_column(journeys),
    )
    session.add(row)
    session.flush()
    return NewKey(_info(row), f"{PREFIX}{key_id}_{secret}")


def _row(session: Session, key_id: str, *, for_update: bool = False) -> IngestKeyRow:
    statement = select(IngestKeyRow).where(IngestKeyRow.id == key_id)
    row = session.scalars(statement.with_for_update() if for_update else statement).first()
    if row is None:
        raise IngestKeyError(f"no ingest key {key_id!r}; `journeywatch keys list` shows them")
    return row


def _services(services: Iterable[str] | None) -> frozenset[str] | None:
    if services is None:
        return None
    names = frozenset(s.strip() for s in services if s.strip())
    if not names:
        raise IngestKeyError("--services names no service; leave it out for a key of any service")
    if any(len(name) > 255 for name in names):
        raise IngestKeyError("a service name is at most 255 characters")
    return names


Access = tuple[Role, frozenset[str] | None]
"""An access key's role and journeys (None: every journey)."""


def _access(role: str | None, journeys: Iterable[str] | None) -> Access | None:
    if role is None:
        if journeys is not None:
            raise IngestKeyError("--journeys is for access keys: give a --role too")
        return None
    found = role_named(role.strip().lower())
    if found is None:
        raise IngestKeyError(f"roles are {', '.join(ROLE_NAMES)}; not {role[:40]!r}")
    names = frozenset(j.strip() for j in journeys or () if j.strip())
    if found is Role.ADMIN:
        if names - {EVERY_JOURNEY}:
            raise IngestKeyError("an admin reads every journey; leave out --journeys")
        return found, None
    if EVERY_JOURNEY in names:
        return found, None
    if journeys is not None and not names:
        raise IngestKeyError("--journeys names no journey; leave it out for the team's journeys alone")
    if any(len(name) > 64 for name in names):
        raise IngestKeyError("a journey name is at most 64 characters")
    return found, names


def _journeys_column(journeys: frozenset[str] | None) -> str:
    return EVERY_JOURNEY if journeys is None else json.dumps(sorted(journeys))


def _journeys_read(column: str | None) -> frozenset[str] | None:
    """NULL reads as none besides the team's: a row that says nothing opens nothing."""
    if column == EVERY_JOURNEY:
        return None
    return frozenset(json.loads(column)) if column else frozenset()


def _scopes(scopes: Iterable[str], *, empty_ok: bool = False) -> frozenset[str]:
    wanted = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(wanted - set(SCOPES))
    if unknown or not (wanted or empty_ok):
        raise IngestKeyError(f"scopes are {', '.join(SCOPES)}; not {', '.join(unknown) or 'none'}")
    return wanted


def _info(row: IngestKeyRow) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        team=row.team,
        services=None if row.services is None else frozenset(json.loads(row.services)),
        scopes=frozenset(s for s in row.scopes.split(",") if s),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        replaced_by=row.replaced_by,
        role=None if row.role is None else role_named(row.role),
        journeys=_journeys_read(row.journeys),
    )
