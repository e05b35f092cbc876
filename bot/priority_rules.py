"""Priority rules for tail sampling: ``payment.amount > 500``, ``user.tier == "enterprise"``.

A rule is one comparison of an attribute with a literal. We parse it ourselves instead of
evaluating Python, because these strings come from a config file and must never run code;
a rule that does not parse is a config error with the file and line.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from correlators.model import Span

_RULE = re.compile(
    r"""^\s*(?P<key>[A-Za-z_][\w.\-]*)\s*
        (?P<op>==|!=|>=|<=|>|<|=~|\bexists\b)\s*
        (?P<value>.*?)\s*$""",
    re.VERBOSE,
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")

_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """``key op value``; a span (attribute or resource attribute) matching it is kept."""

    source: str
    key: str
    op: str
    value: str | float | bool | re.Pattern[str] | None

    def matches(self, span: Span) -> bool:
        actual = span.attribute(self.key)
        if self.op == "exists":
            return actual is not None
        if actual is None:
            return False
        if self.op == "=~":
            assert isinstance(self.value, re.Pattern)
            return self.value.search(str(actual)) is not None
        if self.op in ("==", "!="):
            equal = _loosely_equal(actual, self.value)
            return equal if self.op == "==" else not equal
        number = _as_number(actual)
        return number is not None and _ORDERED[self.op](number, self.value)


def parse_rule(text: str) -> PriorityRule:
    """Parse one rule, or raise ValueError saying what is wrong with it."""
    match = _RULE.match(text)
    if not match:
        raise ValueError(
            f"cannot parse rule {text!r}; expected `attribute OP value` with OP one of "
            "==, !=, >, >=, <, <=, =~ (regex), exists"
        )
    key, op, raw = match["key"], match["op"], match["value"]
    if op == "exists":
        if raw:
            raise ValueError(f"rule {text!r}: `exists` takes no value")
        return PriorityRule(text, key, op, None)
    if not raw:
        raise ValueError(f"rule {text!r}: missing the value after {op}")
    value = _literal(raw, text)
    if op in _ORDERED and not isinstance(value, float):
        raise ValueError(f"rule {text!r}: {op} needs a number, got {raw}")
    if op == "=~":
        try:
            return PriorityRule(text, key, op, re.compile(str(value)))
        except re.error as exc:
            raise ValueError(f"rule {text!r}: bad regular expression: {exc}") from None
    return PriorityRule(text, key, op, value)


def _literal(raw: str, text: str) -> str | float | bool:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if _NUMBER.match(raw):
        return float(raw)
    raise ValueError(f"rule {text!r}: value {raw} must be a number, true/false or a quoted string")


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return float(value)
    return None


def _loosely_equal(actual: object, expected: object) -> bool:
    """Compare as numbers when both sides are numeric, so `status == 500` matches "500"."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual == expected or str(actual).lower() == str(expected).lower()
    if isinstance(expected, float):
        number = _as_number(actual)
        return number is not None and number == expected
    return str(actual) == expected
