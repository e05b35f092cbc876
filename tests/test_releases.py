"""A release's reach: which services went wrong on versions the baseline never ran."""

from __future__ import annotations

from correlators.model import Span, SpanKind, StatusCode, Trace
from correlators.rank import Candidate
from correlators.releases import release_reach, with_new_versions
from correlators.scope import decide_scope
from correlators.topology import CallGraph
from correlators.traces import assemble
from correlators.wrong import judge, usual_self_times

MS = 1_000_000


def request(n: int, versions: dict[str, str], failing: str | None = None) -> Trace:
    """web -> cart -> prices, each on the version given (1.0 by default); ``failing``
    throws after its call returns."""
    trace_id = f"{n:032x}"
    spans = []
    for depth, service in enumerate(("web", "cart", "prices")):
        failed = failing is not None and ("web", "cart", "prices").index(failing) >= depth
        spans.append(
            Span(
                trace_id,
                f"{depth + 1}",
                f"{depth}" if depth else None,
                service,
                f"GET /{service}",
                depth * 5 * MS,
                (30 - depth * 5) * MS,
                kind=SpanKind.SERVER,
                status=StatusCode.ERROR if failed else StatusCode.UNSET,
                service_version=versions.get(service, "1.0"),
            )
        )
    return Trace(trace_id, spans, journey="checkout")


BASELINE = [request(i, {}) for i in range(60)]


def verdict(
    rolled: tuple[str, ...], failing: tuple[str, ...], top: str = "prices"
) -> tuple[str, str, str | None]:
    """Half the instances of the ``rolled`` services run 2.0; on it, ``failing`` throw in turn."""
    during = []
    for i in range(120):
        new = i % 2 == 0
        versions = dict.fromkeys(rolled, "2.0") if new else {}
        broken = failing[i // 2 % len(failing)] if new and failing else None
        during.append(request(1000 + i, versions, broken))
    usual = usual_self_times(BASELINE, assemble)
    reach = release_reach(
        judge(BASELINE, usual, assemble), judge(during, usual, assemble), with_new_versions(BASELINE, during)
    )
    scope = decide_scope(candidates=[Candidate(top, 0.5)], graph=CallGraph(), rate=None, release=reach)
    return scope.kind, scope.level, scope.subject


def test_a_release_that_broke_two_services_is_the_release() -> None:
    assert verdict(("web", "prices"), ("web", "prices")) == ("systemic", "release", "2.0")


def test_a_release_that_broke_one_service_is_that_service() -> None:
    assert verdict(("cart", "prices"), ("prices",)) == ("localized", "service", "prices")


def test_a_release_that_broke_nothing_is_a_benign_deploy() -> None:
    assert verdict(("cart",), ()) == ("localized", "service", "prices")


def test_one_service_gone_wrong_on_its_release_must_be_the_top_candidate() -> None:
    """A deploy on a caller of the broken part goes wrong with it, later in time."""
    assert verdict(("cart",), ("cart",), top="web") == ("localized", "service", "web")
