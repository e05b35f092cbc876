"""Database statements and URL queries kept without their arguments.

A statement (``db.statement``, or ``db.query.text`` in the newer conventions) is stored as
its fingerprint (:func:`correlators.fingerprint.statement_shape`): quoted strings,
numbers and lists become ``?``, so ``SELECT * FROM users WHERE email = 'jane@x.io'`` is
kept as ``SELECT * FROM users WHERE email = ?``. An argument is a user's data far more
often than a pattern can tell (a name, an address, an order's content), so the literals
go whether or not a scrubber would have found them; the scrubbers still run over the
fingerprint, for what a comment or an identifier may hold.

What the literals were is kept only as an HMAC-SHA256 of them and of any bound parameters
(``db.query.parameter.*``, which are not stored either), keyed with the redaction key, in
:data:`~correlators.fingerprint.ARGUMENTS_DIGEST`: the N+1 detector must tell a loop over
items (new arguments each call) from a poll (the same ones again), and it reads stored
spans. Keyed, because an unkeyed digest of ``id = 7`` is reversed by hashing small values;
with the key it cannot be, and it still compares across the collector's restarts and
between the bot's processes, which share the key. A statement whose lists held several
items says so in :data:`~correlators.fingerprint.BATCHED`, as its fingerprint's ``(?)``
no longer does.

A URL's query (``url.full``, ``http.url``, ``http.target``, ``url.query``) is the same
thing in another form: ``?email=jane@x.io&token=…`` is a user's data and a credential no
pattern need know. Each query value (and a part without a name) is stored as ``?`` and the
fragment is dropped, so ``/search?q=red+shoes&page=2#top`` is kept as
``/search?q=?&page=?``; the query as sent is kept only as the same kind of keyed digest, in
:data:`~correlators.fingerprint.QUERY_DIGEST`, so an N+1 over ``/items?id=…`` is still told
from a poll of one URL.

This runs in redaction (:class:`bot.telemetry.redact.Redactor`) for every span, log and
event that carries a statement, and at ingest rate, so shapes are cached per statement
text (parameterized statements repeat); the digest is worked out per span, in about a
microsecond.
"""

from __future__ import annotations

import hashlib
import hmac
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

from bot.telemetry.lite import CACHEABLE_BYTES
from correlators.fingerprint import (
    ARGUMENTS_DIGEST,
    BATCHED,
    QUERY_DIGEST,
    StatementShape,
    query_shape,
    statement_shape,
)
from correlators.model import Attributes

STATEMENT_KEYS = ("db.query.text", "db.statement")
URL_KEYS = ("url.full", "http.url", "http.target", "url.query")
SHAPED_KEYS = STATEMENT_KEYS + URL_KEYS
"""Keys whose values redaction hands to :class:`ArgumentShaper` as sent."""
_SHAPED = frozenset(SHAPED_KEYS)
PARAMETER_PREFIX = "db.query.parameter."
_CACHE_LIMIT = 8_192
"""Entries of each memo (statement shapes, URL forms); keys are at most CACHEABLE_BYTES, so
~4 MiB of them each."""
_DOMAIN = b"journeywatch.db.arguments\x00"
"""Prefixed to what is digested, so a statement's digest never equals ``hash_keys``'s
digest of the same text under the same key."""
_QUERY_DOMAIN = b"journeywatch.url.query\x00"
T = TypeVar("T")
_SEPARATOR = b"\x1f"


class ArgumentShaper:
    """Replaces statements by their fingerprints and URL queries by their names, and keeps
    a keyed digest of what they asked with."""

    def __init__(self, key: bytes, scrub: Callable[[str], str]) -> None:
        """``scrub``: the redactor's patterns, run over each fingerprint and each URL
        without its query's values."""
        self._key = key
        self._scrub = scrub
        self._shapes = _Memo[StatementShape](self._shaped, lambda shape: sys.getsizeof(shape.text))
        self._urls = _Memo[str](scrub, sys.getsizeof)
        """A URL's names-only form, scrubbed: it repeats across spans whatever the values
        of its query were, and scrubbing is most of what shaping a URL costs."""

    @property
    def cache_bytes(self) -> int:
        return self._shapes.bytes + self._urls.bytes

    def carries_arguments(self, attributes: Attributes) -> bool:
        """Asked of every attribute dict redaction makes: one set operation in C, a
        quarter of what a loop over the keys costs a span."""
        return not _SHAPED.isdisjoint(attributes)

    def fingerprint(self, statement: str) -> str:
        """The text a statement is stored as."""
        return self._shapes.get(statement).text

    def shaped(self, attributes: Attributes) -> Attributes:
        """A copy of ``attributes`` with each statement as its fingerprint, bound parameters
        left out, and the digest of both (and whether they were batched) beside them.
        Shaping stored attributes again changes nothing: a fingerprint has no literal left,
        so the digest already there is kept."""
        out = dict(attributes)
        literals: list[bytes] = []
        batched = False
        for key in STATEMENT_KEYS:
            value = out.get(key)
            if isinstance(value, str):
                shape = self._shapes.get(value)
                out[key] = shape.text
                literals.extend(literal.encode() for literal in shape.literals)
                batched = batched or shape.batched
        parameters = sorted(key for key in out if key.startswith(PARAMETER_PREFIX))
        for key in parameters:
            literals.append(f"{key[len(PARAMETER_PREFIX) :]}={out.pop(key)}".encode())
        if literals:
            out[ARGUMENTS_DIGEST] = self._digest(_DOMAIN, literals)
        if batched:
            out[BATCHED] = True
        self._shape_queries(out)
        return out

    def _shape_queries(self, out: Attributes) -> None:
        """In place: each URL's query as names only, the digest of all of them beside."""
        queries: list[bytes] = []
        for key in URL_KEYS:
            value = out.get(key)
            if isinstance(value, str):
                shaped, query = query_shape(value, whole=key == "url.query")
                out[key] = self._urls.get(shaped)
                if query:
                    queries.append(query.encode())
        if queries:
            out[QUERY_DIGEST] = self._digest(_QUERY_DOMAIN, queries)

    def _digest(self, domain: bytes, literals: list[bytes]) -> str:
        message = domain + _SEPARATOR.join(literals)
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    def _shaped(self, statement: str) -> StatementShape:
        shape = statement_shape(statement)
        return StatementShape(self._scrub(shape.text), shape.literals, shape.batched)


class _Memo(Generic[T]):
    """Results by the text they were made from, bounded in entries and counted in bytes:
    texts longer than CACHEABLE_BYTES are made each time (they rarely repeat)."""

    def __init__(self, make: Callable[[str], T], size: Callable[[T], int]) -> None:
        self._make = make
        self._size = size
        self._made: dict[str, T] = {}
        self.bytes = 0

    def get(self, text: str) -> T:
        if len(text) > CACHEABLE_BYTES:
            return self._make(text)
        made = self._made.get(text)
        if made is not None:
            return made
        if len(self._made) >= _CACHE_LIMIT:
            self._made.clear()
            self.bytes = 0
        made = self._made[text] = self._make(text)
        self.bytes += sys.getsizeof(text) + self._size(made)
        return made
