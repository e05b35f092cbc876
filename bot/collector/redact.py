"""Redaction: PII and secrets are removed before anything is counted, sampled or stored.

Three kinds of rule, from ``config/redaction.yaml``:

- drop keys: the attribute is removed (authorization headers, cookies, passwords);
- hash keys: the value is replaced by an HMAC-SHA256 of it, keyed by a secret from the
  environment, so equal values still correlate (a user's traces can be followed) without
  the value itself being kept;
- patterns: substrings of any string value are scrubbed — e-mail addresses, card numbers
  that pass the Luhn check (so an order number that happens to be long is kept), bearer
  tokens, API keys of common shapes, and custom patterns.

Telemetry text is an attacker's input. Text longer than ``max_chars`` is cut first, and
every pattern runs in time linear in the text:
RE2 (no backtracking; a Python ``re`` e-mail pattern took 9 s on 64 KiB of letters with no
``@``), and the card check is a bounded scan of digit runs, not a look-around pattern.

This runs for every span at ingest rate, so decisions per key and results per distinct
string value are cached (attribute values repeat a great deal), and the resource dict the
decoder shares among all spans of a resource is redacted once and replaced, never mutated.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import sys
from collections.abc import Callable
from enum import Enum
from typing import Any

import re2

from bot.collector.lite import CACHEABLE_BYTES
from bot.config import RedactionRules
from correlators.model import Attributes, AttrValue, LogRecord, Span

_CACHE_LIMIT = 50_000
MAX_CHARS = 32_768
TRUNCATED = " [truncated]"
_RESOURCE_MEMO_LIMIT = 1_024

_BUILTIN: dict[str, tuple[str | bytes, str]] = {
    "email": (r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", "[email]"),
    "card_number": (rb"(?:^|[^\d-])((?:\d[ -]?){12,18}\d)(?:[^\d-]|$)", "[card]"),
    "bearer_token": (r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*", "Bearer [token]"),
    "api_key": (
        r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"
        r"|\bAKIA[0-9A-Z]{16}\b"
        r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
        r"|(?i:\b(?:x-)?api[_-]?key[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9\-._~+/]{8,}",
        "[api_key]",
    ),
}


_NOT_DIGIT = re2.compile(rb"\D")


class _Action(Enum):
    KEEP = 0
    DROP = 1
    HASH = 2


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


class Redactor:
    """Applies one set of redaction rules with one HMAC key."""

    def __init__(self, rules: RedactionRules, key: bytes, *, max_chars: int = MAX_CHARS) -> None:
        self.enabled = rules.enabled
        """Off, no rule applies, but text is still cut at ``max_chars``: memory stays bounded."""
        self.max_chars = max_chars
        self._key = key
        self._drop = [p.lower() for p in rules.drop_keys] if rules.enabled else []
        self._hash = [p.lower() for p in rules.hash_keys] if rules.enabled else []
        self._actions: dict[str, tuple[str, _Action]] = {}
        self._values: dict[str, str] = {}
        self._resources: dict[int, tuple[Attributes, Attributes]] = {}
        self._scrubbers = self._compile(rules) if rules.enabled else []
        self._values_bytes = 0
        self._actions_bytes = 0

    # --- public ------------------------------------------------------------------------

    @property
    def cache_bytes(self) -> dict[str, int]:
        """What the text and key caches hold, in bytes (``sys.getsizeof`` of their strings)."""
        return {"redacted_texts": self._values_bytes, "attribute_keys": self._actions_bytes}

    def hash_value(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()
        return f"h:{digest[:32]}"

    def redact_text(self, text: str) -> str:
        """Scrubbed by pattern, through a cache (names, messages and log bodies repeat)."""
        if len(text) > CACHEABLE_BYTES:  # long texts rarely repeat; cached, they would fill memory
            return self._scrub(text)
        cached = self._values.get(text)
        if cached is not None:
            return cached
        scrubbed = self._scrub(text)
        if len(self._values) >= _CACHE_LIMIT:
            self._values.clear()
            self._values_bytes = 0
        self._values[text] = scrubbed
        self._values_bytes += sys.getsizeof(text) + (sys.getsizeof(scrubbed) if scrubbed is not text else 0)
        return scrubbed

    def redact_span(self, span: Span, *, attributes: bool = True) -> None:
        """``attributes=False`` for spans whose attributes were redacted while decoding
        (through a :class:`~bot.collector.lite.PairCache` with :meth:`redact_pair`)."""
        span.name = self.redact_text(span.name)
        if span.status_message:
            span.status_message = self.redact_text(span.status_message)
        if attributes:
            span.attributes = self.redact_attributes(span.attributes)
        span.resource = self._redact_resource(span.resource)
        for event in span.events:
            event.name = self.redact_text(event.name)
            event.attributes = self.redact_attributes(event.attributes)
        for link in span.links:
            link.attributes = self.redact_attributes(link.attributes)

    def redact_log(self, record: LogRecord) -> None:
        record.body = self.redact_text(record.body)
        record.attributes = self.redact_attributes(record.attributes)
        record.resource = self._redact_resource(record.resource)

    def redact_attributes(self, attributes: Attributes) -> Attributes:
        """A redacted copy; the input dict is left as it was."""
        out: Attributes = {}
        for key, value in attributes.items():
            pair = self._pair(key, value, self.redact_text)
            if pair:
                out[pair[0]] = pair[1]
        return out

    def redact_pair(self, key: str, value: AttrValue) -> tuple[str, AttrValue] | tuple[()]:
        """One attribute as it may be kept, or ``()`` when it must be dropped. The
        decoder's PairCache calls this once per distinct pair and caches the answer, so
        values are scrubbed here without redact_text's cache, which unique values (ids)
        would only churn."""
        return self._pair(key, value, self._scrub)

    # --- internals ---------------------------------------------------------------------

    def _pair(
        self, key: str, value: AttrValue, scrub: Callable[[str], str]
    ) -> tuple[str, AttrValue] | tuple[()]:
        known = self._actions.get(key)
        if known is None:
            known = self._action_for(key)
        canonical, action = known
        if action is _Action.KEEP:
            return canonical, self._value(value, scrub)
        if action is _Action.HASH and value is not None:
            return canonical, self.hash_value(str(value))
        return ()

    def _scrub(self, text: str) -> str:
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + TRUNCATED
        for scrub in self._scrubbers:
            text = scrub(text)
        return text

    def _value(self, value: AttrValue, scrub: Callable[[str], str]) -> AttrValue:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, list):
            return [self._value(item, scrub) for item in value]
        return value

    def _redact_resource(self, resource: Attributes) -> Attributes:
        memo = self._resources.get(id(resource))
        if memo is not None and memo[0] is resource:
            return memo[1]
        redacted = self.redact_attributes(resource)
        if len(self._resources) >= _RESOURCE_MEMO_LIMIT:
            self._resources.clear()
        # keep the original alive with its copy, so its id cannot be reused meanwhile
        self._resources[id(resource)] = (resource, redacted)
        self._resources[id(redacted)] = (redacted, redacted)
        return redacted

    def _action_for(self, key: str) -> tuple[str, _Action]:
        """The decision for a key, cached with the first string seen for it: reusing that
        one object for every span saves the memory of a copy per span and attribute. Keys
        are text like any other: cut at ``max_chars``, and long ones never cached."""
        if len(key) > CACHEABLE_BYTES:
            return self._decide(key[: self.max_chars] + TRUNCATED if len(key) > self.max_chars else key)
        if len(self._actions) >= _CACHE_LIMIT:
            self._actions.clear()
            self._actions_bytes = 0
        decided = self._actions[key] = self._decide(key)
        self._actions_bytes += sys.getsizeof(key)
        return decided

    def _decide(self, key: str) -> tuple[str, _Action]:
        lowered = key.lower()
        if any(fnmatch.fnmatchcase(lowered, p) for p in self._drop):
            action = _Action.DROP
        elif any(fnmatch.fnmatchcase(lowered, p) for p in self._hash):
            action = _Action.HASH
        else:
            action = _Action.KEEP
        return key, action

    @staticmethod
    def _compile(rules: RedactionRules) -> list[Callable[[str], str]]:
        scrubbers = []
        for name in rules.patterns:
            regex, replacement = _BUILTIN[name]
            if name == "card_number":
                scrubbers.append(_card_scrubber(re2.compile(regex), replacement))
            else:
                scrubbers.append(_scrubber(re2.compile(regex), replacement))
        for custom in rules.custom_patterns:
            scrubbers.append(_scrubber(re2.compile(custom.regex), f"[{custom.name}]"))
        return scrubbers


def _scrubber(pattern: Any, replacement: str) -> Callable[[str], str]:
    literal = replacement.replace("\\", "\\\\")
    return lambda text: pattern.sub(literal, text)


def _card_scrubber(pattern: Any, replacement: str) -> Callable[[str], str]:
    """Card numbers: 13-19 digits, whole or grouped by single spaces or dashes, with no
    digit or dash right before or after (``ord-4111...`` is an id), that pass the Luhn
    check. RE2 has no look-around, so the pattern takes the characters around the number
    too, and the next search starts at the one after it, which may begin the next number.
    The search runs on UTF-8 bytes: given a str and a start, the binding re-encodes the
    whole text at every call."""
    mask = replacement.encode()

    def scrub(text: str) -> str:
        data = text.encode()
        pieces: list[bytes] = []
        done = at = 0
        while (match := pattern.search(data, at)) is not None:
            begin, end = match.span(1)
            if luhn_valid(_NOT_DIGIT.sub(b"", match.group(1)).decode()):
                pieces += [data[done:begin], mask]
                done = end
            at = end
        return b"".join([*pieces, data[done:]]).decode() if pieces else text

    return scrub
