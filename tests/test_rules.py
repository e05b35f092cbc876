"""Priority rules: parsed, never evaluated as code, and matched against span attributes."""

from __future__ import annotations

import pytest

from bot.priority_rules import parse_rule
from correlators.model import Span


def span(**attributes: object) -> Span:
    return Span(
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        service="checkout",
        name="POST /pay",
        start_ns=0,
        end_ns=1,
        attributes=dict(attributes),  # type: ignore[arg-type]
        resource={"deployment.environment": "prod"},
    )


@pytest.mark.parametrize(
    ("rule", "attributes", "expected"),
    [
        ("payment.amount > 500", {"payment.amount": 501}, True),
        ("payment.amount > 500", {"payment.amount": 500}, False),
        ("payment.amount > 500", {"payment.amount": "750.5"}, True),
        ("payment.amount > 500", {}, False),
        ("payment.amount >= 500", {"payment.amount": 500.0}, True),
        ("retries < 1", {"retries": 0}, True),
        ('user.tier == "enterprise"', {"user.tier": "enterprise"}, True),
        ('user.tier == "enterprise"', {"user.tier": "free"}, False),
        ("user.tier != 'free'", {"user.tier": "pro"}, True),
        ("http.status_code == 503", {"http.status_code": "503"}, True),
        ("feature_flag.new_checkout == true", {"feature_flag.new_checkout": True}, True),
        ("feature_flag.new_checkout == true", {"feature_flag.new_checkout": "TRUE"}, True),
        ("url.path =~ '^/admin'", {"url.path": "/admin/users"}, True),
        ("url.path =~ '^/admin'", {"url.path": "/shop"}, False),
        ("canary exists", {"canary": False}, True),
        ('deployment.environment == "prod"', {}, True),  # resource attribute
    ],
)
def test_rule_matches(rule: str, attributes: dict[str, object], expected: bool) -> None:
    assert parse_rule(rule).matches(span(**attributes)) is expected


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ("payment.amount", "cannot parse"),
        ("__import__('os').system('x') == 1", "cannot parse"),
        ("amount > big", "must be a number"),
        ("tier > 'gold'", "needs a number"),
        ("x ==", "missing the value"),
        ("x =~ '('", "bad regular expression"),
        ("x exists 1", "takes no value"),
    ],
)
def test_bad_rules_say_why(rule: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_rule(rule)
