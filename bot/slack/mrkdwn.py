"""Slack mrkdwn that telemetry can only ever be text in.

A route such as ``GET /users/<int:user_id>`` or a log line holding ``<!channel>`` is
markup to Slack unless ``&``, ``<`` and ``>`` are escaped: a broken link, a whole channel
notified, a label hiding where a link goes. So every piece of our wording is a
:class:`Mrkdwn`: text we wrote (the bold, the links, the mentions of the person who pressed
a button) or telemetry that went through :func:`escape` or a :class:`Quote`. Plain ``str``
given to a sentence of ``bot.slack.messages`` is escaped on the way in (``@wording``), so
escaping is what happens unless a piece says it is already mrkdwn. Text objects are sent
``verbatim`` as well, so Slack does not turn a bare URL or ``@here`` in a log line into a
link or a mention either.

Redaction belongs to telemetry text too, and only to it: a :class:`Quote` scrubs a piece
before escaping it, so the rules never see our own ids, timestamps and links (a 16-digit
Slack ts passes the Luhn check about one time in ten and would be cut as a card number).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, cast

P = ParamSpec("P")

_ID = re.compile(r"^[A-Z0-9]{2,40}$")


class Mrkdwn(str):
    """Text Slack may read as mrkdwn: ours, or telemetry already escaped."""

    __slots__ = ()


def escape(text: str) -> Mrkdwn:
    """``&``, ``<`` and ``>`` as Slack wants them escaped; already-mrkdwn text as it is."""
    if isinstance(text, Mrkdwn):
        return text
    return Mrkdwn(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def link(url: str, label: str) -> Mrkdwn:
    """``<url|label>``, ours: both escaped, and a ``|`` or a space in the URL, which
    would end its target early, percent-encoded."""
    target = escape(url).replace("|", "%7C").replace(" ", "%20")
    return Mrkdwn(f"<{target}|{escape(label)}>")


def mention(user_id: str) -> Mrkdwn:
    """``<@U…>`` for a Slack user id, which reaches us in Slack's signed request; anything
    that is not an id's shape is shown as text."""
    return Mrkdwn(f"<@{user_id}>") if _ID.match(user_id) else escape(user_id)


def join(separator: str, parts: Iterable[str]) -> Mrkdwn:
    """Pieces joined; plain ``str`` pieces are escaped."""
    return Mrkdwn(escape(separator).join(escape(p) for p in parts))


class Quote:
    """Telemetry text made ready for mrkdwn: scrubbed by the redaction rules, then
    escaped. Built once per notifier with the collector's redactor; ``Quote()`` only
    escapes (a report that never held telemetry the rules would catch)."""

    def __init__(self, scrub: Callable[[str], str] | None = None) -> None:
        self._scrub = scrub

    def __call__(self, text: str | None) -> Mrkdwn:
        if not text:
            return Mrkdwn("")
        if isinstance(text, Mrkdwn):
            return text
        return escape(self._scrub(text) if self._scrub else text)

    def all(self, texts: Iterable[str]) -> list[Mrkdwn]:
        return [self(t) for t in texts]


def wording(sentence: Callable[P, str]) -> Callable[P, Mrkdwn]:
    """A sentence of ours whose ``str`` arguments are escaped unless they are already
    :class:`Mrkdwn`; numbers and None pass as they are."""

    @functools.wraps(sentence)
    def said(*args: P.args, **kwargs: P.kwargs) -> Mrkdwn:
        call = cast(Callable[..., str], sentence)
        return Mrkdwn(call(*(_escaped(a) for a in args), **{k: _escaped(v) for k, v in kwargs.items()}))

    return said


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, list | tuple):
        return type(value)(_escaped(v) for v in value)
    return value
