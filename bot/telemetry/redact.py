"""Redaction: PII and secrets are removed before anything is counted, sampled or stored.

Three kinds of rule, from ``config/redaction.yaml``:

- drop keys: the attribute is removed (authorization headers, cookies, passwords);
- hash keys: the value is replaced by an HMAC-SHA256 of it, keyed by a secret from the
  environment, so equal values still correlate (a user's traces can be followed) without
  the value itself being kept;
- patterns (:mod:`bot.telemetry.scrub`): substrings of any string value are scrubbed —
  e-mail addresses, card numbers that pass the Luhn check (so an order number that
  happens to be long is kept), bearer and Basic credentials, JWTs, ``password=`` values,
  API keys of common shapes, and custom patterns; URL-encoded text is decoded to be
  matched.

Database statements are kept as their fingerprints, their literals and bound parameters
only as a keyed digest (:mod:`bot.telemetry.arguments`), and a span named by its
statement is named by the fingerprint; URLs keep their query's names, not its values. A
statement or URL reaches that step as sent, not scrubbed by pattern first: the digest must
tell one e-mail address from another.

Every string of an item that is stored or shown goes through them: names, status and
event names, attribute values at any depth (the keys of nested maps, OTLP's key-value
lists, are judged by the same drop and hash rules as top-level keys), the columns taken
from the resource (service, instance, version, region, zone, language), the
instrumentation scope (name, version, attributes), a log's severity text, event name and
body. Integers that are card numbers and bytes values (hex) are scrubbed too.

Telemetry text is an attacker's input. Text longer than ``max_chars`` is cut first, and
every pattern runs in time linear in the text. A value is walked at most ``MAX_DEPTH``
levels deep; what lies deeper is replaced by a mark, never kept unread. (At ingest the
decoders have already bounded a value to ``max_value_items`` items in all, nested ones
included, so a value is at most that many items of at most ``max_chars`` each.)

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

import orjson

from bot.config import RedactionRules
from bot.telemetry.arguments import SHAPED_KEYS, STATEMENT_KEYS, ArgumentShaper
from bot.telemetry.lite import CACHEABLE_BYTES
from bot.telemetry.scrub import CARD, card_integer, compile_scrubbers, decoded_runs, scrubbed_hex
from correlators.model import Attributes, AttrValue, InstrumentationScope, LogRecord, MetricDataPoint, Span

_CACHE_LIMIT = 50_000
MAX_CHARS = 32_768
TRUNCATED = " [truncated]"
_RESOURCE_MEMO_LIMIT = 1_024
MAX_DEPTH = 32
"""Levels of nested arrays and maps the redactor walks into a value."""
TOO_DEEP = "[nested too deep]"
"""What stands for a value nested past MAX_DEPTH."""


class _Action(Enum):
    KEEP = 0
    DROP = 1
    HASH = 2
    STATEMENT = 3
    """Kept as sent by the pair, then shaped with the other attributes of its item."""


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
        self._scopes: dict[int, tuple[InstrumentationScope, InstrumentationScope]] = {}
        self._patterns = compile_scrubbers(rules) if rules.enabled else None
        """All patterns in one function; None when none applies."""
        self._values_bytes = 0
        self._actions_bytes = 0
        self._statements = ArgumentShaper(key, self._scrub) if rules.enabled else None

    # --- public ------------------------------------------------------------------------

    @property
    def cache_bytes(self) -> dict[str, int]:
        """What the text and key caches hold, in bytes (``sys.getsizeof`` of their strings)."""
        shapes = self._statements.cache_bytes if self._statements is not None else 0
        return {
            "redacted_texts": self._values_bytes,
            "attribute_keys": self._actions_bytes,
            "statements": shapes,
        }

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
        (through a :class:`~bot.telemetry.lite.PairCache` with :meth:`redact_pair`)."""
        text = self.redact_text
        shaper = self._statements
        if shaper is not None and shaper.carries_arguments(span.attributes):
            if span.name in (span.attributes.get(key) for key in STATEMENT_KEYS):
                span.name = shaper.fingerprint(span.name)  # some instrumentations name spans so
            if not attributes:
                span.attributes = shaper.shaped(span.attributes)
        span.name = text(span.name)
        if span.status_message:
            span.status_message = text(span.status_message)
        if attributes:
            span.attributes = self.redact_attributes(span.attributes)
        span.resource = self._redact_resource(span.resource)
        # taken from the resource while decoding, before it was redacted
        span.service = text(span.service)
        if span.instance:
            span.instance = text(span.instance)
        if span.service_version:
            span.service_version = text(span.service_version)
        if span.region:
            span.region = text(span.region)
        if span.zone:
            span.zone = text(span.zone)
        if span.language:
            span.language = text(span.language)
        for event in span.events:
            event.name = self.redact_text(event.name)
            event.attributes = self.redact_attributes(event.attributes)
        for link in span.links:
            link.attributes = self.redact_attributes(link.attributes)
        if span.scope:
            span.scope = self._redact_scope(span.scope)

    def redact_log(self, record: LogRecord) -> None:
        text = self.redact_text
        record.body = self._redact_body(record.body)
        record.attributes = self.redact_attributes(record.attributes)
        record.resource = self._redact_resource(record.resource)
        if record.scope:
            record.scope = self._redact_scope(record.scope)
        if record.event_name:
            record.event_name = text(record.event_name)
        record.service = text(record.service)
        if record.instance:
            record.instance = text(record.instance)
        if record.severity_text:
            record.severity_text = text(record.severity_text)

    def redact_point(self, point: MetricDataPoint) -> None:
        """A metric data point's texts: its labels (the resource's and its own attributes,
        judged by the same drop and hash rules), service and name."""
        text = self.redact_text
        point.name = text(point.name)
        point.service = text(point.service)
        labels: Attributes = dict(point.labels)
        point.labels = {key: str(value) for key, value in self.redact_attributes(labels).items()}

    def redact_attributes(self, attributes: Attributes) -> Attributes:
        """A redacted copy; the input dict is left as it was."""
        out: Attributes = {}
        for key, value in attributes.items():
            pair = self._pair(key, value, self.redact_text)
            if pair:
                out[pair[0]] = pair[1]
        shaper = self._statements
        if shaper is not None and shaper.carries_arguments(out):
            return shaper.shaped(out)
        return out

    def redact_pair(self, key: str, value: AttrValue) -> tuple[str, AttrValue] | tuple[()]:
        """One attribute as it may be kept, or ``()`` when it must be dropped. The
        decoder's PairCache calls this once per distinct pair and caches the answer, so
        values are scrubbed here without redact_text's cache, which unique values (ids)
        would only churn. A statement comes back as sent: :meth:`redact_span` shapes it
        with its item's other attributes, which one pair does not see."""
        return self._pair(key, value, self._scrub)

    # --- internals ---------------------------------------------------------------------

    def _pair(
        self, key: str, value: AttrValue, scrub: Callable[[str], str], depth: int = 0
    ) -> tuple[str, AttrValue] | tuple[()]:
        known = self._actions.get(key)
        if known is None:
            known = self._action_for(key)
        canonical, action = known
        if action is _Action.KEEP:
            return canonical, self._value(value, scrub, depth)
        if action is _Action.STATEMENT:
            return canonical, self._argument(canonical, value, scrub, depth)
        if action is _Action.HASH and value is not None:
            return canonical, self.hash_value(str(value))
        return ()

    def _scrub(self, text: str) -> str:
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + TRUNCATED
        patterns = self._patterns
        if patterns is None:
            return text
        if "%" in text:
            text = decoded_runs(text, patterns)
        return patterns(text)

    def _value(self, value: AttrValue, scrub: Callable[[str], str], depth: int = 0) -> AttrValue:
        if isinstance(value, str):
            if self._patterns is not None and 16 <= len(value) <= self.max_chars:
                hex_scrubbed = scrubbed_hex(value, self._patterns)
                if hex_scrubbed is not None:
                    return hex_scrubbed
            return scrub(value)
        if isinstance(value, list | dict):
            if depth >= MAX_DEPTH:
                return TOO_DEEP
            if isinstance(value, dict):
                return self._map(value, scrub, depth + 1)
            return self._items(value, scrub, depth + 1)
        if type(value) is int and self._patterns is not None and card_integer(value):
            return CARD
        return value

    def _map(self, items: dict[str, AttrValue], scrub: Callable[[str], str], depth: int) -> AttrValue:
        """A map's entries (an OTLP key-value list), each judged by its key as a top-level
        attribute is: a nested ``password`` is dropped, a nested ``enduser.id`` hashed."""
        out: dict[str, AttrValue] = {}
        for key, item in items.items():
            pair = self._pair(key, item, scrub, depth)
            if pair:
                out[pair[0]] = pair[1]
        return out

    def _items(self, items: list[AttrValue], scrub: Callable[[str], str], depth: int) -> list[AttrValue]:
        """An array's items. An item that is a two-item array beginning with text is judged
        as a key and its value (how key-value lists were written before they were maps, and
        how a structured log body stored then still reads): wrongly dropping such an item
        of a plain array is the safe mistake."""
        out: list[AttrValue] = []
        for item in items:
            if type(item) is list and len(item) == 2 and type(item[0]) is str:
                pair = self._pair(item[0], item[1], scrub, depth)
                if pair:
                    out.append(list(pair))
            else:
                out.append(self._value(item, scrub, depth))
        return out

    def _argument(self, key: str, value: AttrValue, scrub: Callable[[str], str], depth: int) -> AttrValue:
        """A statement or URL: as sent at the top level, where :meth:`redact_span` shapes
        it with its item's other attributes; nested in a map, shaped on its own here, its
        digest having no place beside it."""
        if not isinstance(value, str) or self._statements is None:
            return self._value(value, scrub, depth)
        return self._statements.shaped({key: value})[key] if depth else value

    def _redact_body(self, body: str) -> str:
        """A log body; one that was structured (an array or a map, written as JSON by the
        decoders) is redacted by its structure, so nested keys are judged."""
        if self._patterns is not None and (
            (body.startswith("[") and body.endswith("]")) or (body.startswith("{") and body.endswith("}"))
        ):
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError:
                parsed = None
            if type(parsed) is list or type(parsed) is dict:
                redacted = self._value(parsed, self._scrub)
                if redacted != parsed:
                    body = orjson.dumps(redacted).decode()
        return self.redact_text(body)

    def _redact_scope(self, scope: InstrumentationScope) -> InstrumentationScope:
        """The items of one scope entry share its scope: redacted once, as a resource is."""
        memo = self._scopes.get(id(scope))
        if memo is not None and memo[0] is scope:
            return memo[1]
        text = self.redact_text
        redacted = InstrumentationScope(
            text(scope.name), text(scope.version), self.redact_attributes(scope.attributes)
        )
        if len(self._scopes) >= _RESOURCE_MEMO_LIMIT:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, redacted)
        self._scopes[id(redacted)] = (redacted, redacted)
        return redacted

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
        elif key in SHAPED_KEYS and self._statements is not None:
            action = _Action.STATEMENT
        else:
            action = _Action.KEEP
        return key, action
