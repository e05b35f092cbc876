"""Journey recognition and sessions."""

from __future__ import annotations

from bot.config import AppConfig
from bot.telemetry.assembly import session_of
from bot.telemetry.journeys import JourneyMatcher
from correlators.model import Span

CONFIG = AppConfig.model_validate(
    {
        "journeys": [
            {
                "name": "checkout",
                "match": {"root_service": "frontend", "operation": "POST /checkout*"},
            },
            {
                "name": "search",
                "match": {"root_service": "frontend", "operation": "*/api/search/*"},
            },
            {"name": "login"},
        ]
    }
)
MATCHER = JourneyMatcher(CONFIG)


def span(sid: str, parent: str | None, service: str, name: str, start: int = 0, **attrs: object) -> Span:
    return Span(
        "a" * 32,
        sid * 16,
        parent * 16 if parent else None,
        service,
        name,
        start,
        start + 1,
        attributes=dict(attrs),
    )  # type: ignore[arg-type]


def test_root_service_and_operation_glob() -> None:
    assert MATCHER.journey_of([span("1", None, "frontend", "POST /checkout/confirm")]) == "checkout"
    assert MATCHER.journey_of([span("1", None, "frontend", "POST /cart")]) is None
    assert MATCHER.journey_of([span("1", None, "backend", "POST /checkout")]) is None


def test_glob_on_http_route() -> None:
    root = span("1", None, "frontend", "GET", **{"http.route": "/api/search/{term}"})
    assert MATCHER.journey_of([root]) == "search"
    assert MATCHER.journey_of([span("1", None, "frontend", "GET /api/search/shoes")]) == "search"


def test_journey_attribute_wins_over_the_root_match() -> None:
    root = span("1", None, "frontend", "POST /checkout")
    child = span("2", "1", "auth", "verify", **{"journey.name": "login"})
    assert MATCHER.journey_of([root, child]) == "login"
    unknown = span("2", "1", "auth", "verify", **{"journey.name": "nonsense"})
    assert MATCHER.journey_of([root, unknown]) == "checkout"


def test_without_a_root_the_earliest_span_is_matched() -> None:
    late = span("2", "9", "frontend", "GET /api/search/x", start=5)
    early = span("3", "9", "frontend", "POST /checkout", start=1)
    assert MATCHER.journey_of([late, early]) == "checkout"


def test_session_and_user_root_first() -> None:
    root = span("1", None, "frontend", "x", **{"session.id": "s-1"})
    child = span("2", "1", "cart", "y", **{"session.id": "s-other", "enduser.id": "h:abc"})
    assert session_of([child, root]) == ("s-1", "h:abc")
    assert session_of([span("1", None, "f", "x")]) == (None, None)
