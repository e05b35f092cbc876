"""Localized or systemic: a reach is claimed only on enough bad traces."""

from __future__ import annotations

from bot.render.report import scope_reasons
from correlators.grounds import ServiceRates, Surge, ZoneWentWrong
from correlators.rank import Candidate
from correlators.scope import decide_scope
from correlators.topology import CallGraph
from correlators.traffic import RateChange
from correlators.zones import ZoneSkew


def test_a_zone_that_several_services_point_at_is_the_verdict() -> None:
    skew = ZoneSkew("eu-1a", {s: (0.4, 0.02) for s in ("web", "catalog", "search")}, eligible=5)
    scope = decide_scope(candidates=[Candidate("cart", 0.4)], graph=CallGraph(), rate=None, skew=skew)
    assert (scope.kind, scope.level, scope.subject) == ("systemic", "zone", "eu-1a")
    assert scope.reasons == [] and scope.grounds == [
        ZoneWentWrong("eu-1a", 5, [ServiceRates(s, 0.4, 0.02) for s in ("catalog", "search", "web")])
    ]
    assert scope_reasons(scope) == [
        "3 of the 5 services that run in several zones had far more bad requests in zone eu-1a than in "
        "their other zones: catalog 40% against 2%, search 40% against 2%, web 40% against 2%"
    ]


def test_a_surge_counted_in_requests_is_traffic() -> None:
    scope = decide_scope(
        candidates=[Candidate("cart", 0.4)], graph=CallGraph(), rate=RateChange(3.0, "metrics")
    )
    assert (scope.kind, scope.level) == ("systemic", "traffic")
    assert scope.grounds == [Surge(3.0, "requests")]
    assert scope_reasons(scope) == [
        "the journey's entry services got 3.0x their baseline requests per second"
    ]
