"""What an outgoing call asked for, without what it asked it with.

A statement's fingerprint is the statement with its literals taken out: quoted strings,
numbers, placeholders and whole IN- and VALUES-lists become ``?``, so that
``SELECT * FROM items WHERE id = 7`` and ``... id = 9`` are one statement, as are the
parameterized form and a list of any length. A route's fingerprint does the same to a URL
path: segments that are numbers, UUIDs or long hex ids become ``{id}`` and the query is
dropped. The literals are kept only as a digest (to tell whether two calls asked for the
same thing), never as text: a fingerprint is what a finding may carry and a person may be
shown, and a parameter may be a user's e-mail address.

Ingest stores a statement as its fingerprint already (``bot.telemetry.arguments``), with
a keyed digest of its literals in :data:`ARGUMENTS_DIGEST` and :data:`BATCHED` set when
the lists it had held several items, which the fingerprint's ``(?)`` no longer shows.
Reading such a span, the digest is taken from the attribute: shaping the stored text again
gives the same text and finds no literal left.

Regular expressions rather than a SQL parser: every DB span of every trace of an advice
goes through here, a parser is some hundred times slower per statement, and a
fingerprint needs tokens, not a syntax tree. Each pattern runs in time linear in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w$.])-?(?:0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[-+]?\d+)?)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\$\d+|:[a-z_]\w*|%\(\w+\)s|%s|\?", re.IGNORECASE)
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_MANY_ROWS = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")
_IN_MANY = re.compile(r"\bIN\s*\(\s*\?\s*,", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_ID_SEGMENT = re.compile(
    r"^(?:\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|[0-9a-z_-]{20,})$",
    re.IGNORECASE,
)
ARGUMENTS_DIGEST = "journeywatch.db.arguments_digest"
"""Span attribute: the keyed digest of a stored statement's literals and parameters."""
BATCHED = "journeywatch.db.batched"
"""Span attribute: the stored statement asked for many rows at once."""
QUERY_DIGEST = "journeywatch.url.query_digest"
"""Span attribute: the keyed digest of the queries its URLs had before ingest kept their
names only (:func:`query_shape`)."""
MAX_STATEMENT_CHARS = 4_096
"""Statements are cut here before any pattern runs: a generated 1 MB INSERT says what it
is in its first lines, and the cost of a fingerprint must not grow with it."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    text: str
    """The statement or route with every literal replaced: safe to keep and show."""
    arguments: str
    """A digest of the literals it had (empty when none were visible): equal for two
    calls that asked for the same thing, and saying nothing of what that was. Comparable
    within one process only (Python's salted hash), which is all a detector needs; a
    stored statement's is the keyed one ingest wrote (:data:`ARGUMENTS_DIGEST`), which
    compares across processes."""
    batched: bool = False
    """The statement already asks for many rows at once (an IN-list or a VALUES-list
    of more than one item)."""


@dataclass(frozen=True, slots=True)
class StatementShape:
    text: str
    """The fingerprint's text."""
    literals: tuple[str, ...]
    """What a digest of the literals is taken of: the statement as sent (cut) when it had
    any, since two statements of one shape are equal exactly when their literals are."""
    batched: bool


def statement_shape(statement: str) -> StatementShape:
    """The statement without its literals, and what they were, for a digest of them."""
    text = statement[:MAX_STATEMENT_CHARS]
    unquoted, strings = _STRING.subn("?", text)
    shape, numbers = _NUMBER.subn("?", unquoted)
    shape = _PLACEHOLDER.sub("?", shape)
    batched = _IN_MANY.search(shape) is not None
    shape, rows = _MANY_ROWS.subn("(?)", _LIST.sub("(?)", shape))
    literals = (text,) if strings or numbers else ()
    return StatementShape(_SPACE.sub(" ", shape).strip(), literals, batched or rows > 0)


def statement_fingerprint(statement: str, parameters: tuple[str, ...] = ()) -> Fingerprint:
    """The statement without its literals, and a digest of them and of ``parameters``
    (bound values some instrumentations record beside a parameterized statement)."""
    shape = statement_shape(statement)
    return Fingerprint(shape.text, _digest([*shape.literals, *parameters]), shape.batched)


def route_fingerprint(method: str, url: str) -> Fingerprint:
    """``GET /items/{id}`` from ``GET https://host/items/42?x=1``: id-like path segments
    and the query are arguments; scheme and host are the target's, not the route's."""
    path = url.split("://", 1)[1] if "://" in url else url
    if "://" in url:
        path = "/" + path.split("/", 1)[1] if "/" in path else "/"
    path, _, query = path.partition("?")
    segments = path.split("/")
    shaped = ["{id}" if _ID_SEGMENT.match(s) else s for s in segments]
    arguments = [s for s, shape in zip(segments, shaped, strict=True) if shape != s]
    if query:
        arguments.append(query)
    route = "/".join(shaped) or "/"
    return Fingerprint(f"{method} {route}".strip(), _digest(arguments))


def query_shape(url: str, *, whole: bool = False) -> tuple[str, str]:
    """(``url`` with each query value as ``?`` and no fragment, what those were): the
    query and fragment as sent, empty when it had neither. ``whole``: ``url`` is a query
    alone (``url.query``). ``/a?x=1&flag#top`` gives ``/a?x=?&?``; names are kept, as a
    statement's columns are, since they say what was asked and not with what."""
    if whole:
        base, mark, query = "", "", url
    else:
        base, mark, query = url.partition("?")
    base, hashed, fragment = base.partition("#")
    query, hashed_in_query, fragment_after = query.partition("#")
    sent = query + (hashed or hashed_in_query) + (fragment or fragment_after)
    if not query:
        return base + mark, sent
    names = [part.partition("=")[0] + "=?" if "=" in part else "?" for part in query.split("&")]
    return base + mark + "&".join(names), sent


def _digest(values: list[str]) -> str:
    """Python's own hash of the literals: compared only within one process, and some
    five times cheaper than a cryptographic digest on the ~40,000 calls of 2,000 traces."""
    return f"{hash(tuple(values)) & 0xFFFFFFFFFFFFFFFF:016x}" if values else ""
