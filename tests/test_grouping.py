"""One incident per cause: the grouping rule on small hand-built reports (read from the
JSON form ``Report.to_json`` stores), and the groups it keeps in the database as verdicts
change."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import inspect, text

from bot.incidents.grouping import Cause, Incident, assign, causes, shared_cause
from bot.incidents.lifecycle import Action, Firing
from bot.incidents.repository import IncidentRepository
from bot.store import Store
from bot.store.migrations import migrate
from bot.store.schema import SCHEMA_VERSION
from correlators.report import Report
from tests.stored import stored_report

T0 = 1_700_000_000.0


def report(
    level: str,
    subject: str | None,
    *suspects: str,
    kind: str | None = None,
    deploys: tuple[tuple[str, str], ...] = (),
) -> Report:
    """A stored report with only the structured fields the rule reads: the scope, the
    ranked candidates and the deploys."""
    return stored_report(
        {
            "summary": "written by the analysis; the rule never reads it",
            "scope": {
                "kind": kind
                or ("localized" if level in ("service", "instance", "dependency") else "systemic"),
                "level": level,
                "subject": subject,
                "confidence": 0.7,
                "reasons": [],
            },
            "candidates": [
                {"service": s, "instance": None, "operation": None, "score": 0.5 - 0.1 * n, "evidence": []}
                for n, s in enumerate(suspects)
            ],
            "changes": [
                {"service": s, "kind": "deploy", "version": v, "time_ns": 0, "summary": ""}
                for s, v in deploys
            ],
        }
    )


def incident(n: int, body: Report, opened: float = 0.0, resolved: float | None = None) -> Incident:
    return Incident(n, T0 + opened, None if resolved is None else T0 + resolved, T0 + opened - 60, body)


CHECKOUT_DB = report("shared_dependency", "sqlite:shop", "sqlite:shop", "orders", "catalog")
LOGIN_AUTH = report("service", "auth", "auth", "sqlite:shop", "frontend")
LOGIN_DB = report("dependency", "sqlite:shop", "sqlite:shop", "auth")


def test_a_shared_dependency_groups_under_the_first_opened_with_the_systemic_cause() -> None:
    groups = assign([incident(2, LOGIN_DB, opened=30), incident(1, CHECKOUT_DB)], within_s=600)
    assert {i: (a.primary, a.cause) for i, a in groups.items()} == {
        1: (1, Cause("shared_dependency", "sqlite:shop", "sqlite:shop")),
        2: (1, Cause("shared_dependency", "sqlite:shop", "sqlite:shop")),
    }
    assert groups[2].cause.kind == "systemic"  # login's "localized dependency" gets the shared cause


def test_a_verdict_that_ranks_the_shared_dependency_second_shares_it() -> None:
    """login's analysis blamed auth, which only waits on the database: its second suspect."""
    assert shared_cause([CHECKOUT_DB, LOGIN_AUTH]) == Cause("shared_dependency", "sqlite:shop", "sqlite:shop")
    far_down = report("service", "auth", "auth", "frontend", "redis", "sqlite:shop")
    assert shared_cause([CHECKOUT_DB, far_down]) is None


def test_two_different_services_do_not_group() -> None:
    cart = report("service", "cart", "cart", "frontend")
    auth = report("service", "auth", "auth", "frontend")
    assert shared_cause([cart, auth]) is None
    assert assign([incident(1, cart), incident(2, auth, opened=10)], within_s=600) == {}


def test_the_same_top_suspect_groups_whatever_its_instance() -> None:
    """bad-release named catalog-1 in one journey and catalog-2 in another."""
    one = report("instance", "catalog-1", "catalog", "frontend")
    two = report("instance", "catalog-2", "catalog", "cart")
    assert shared_cause([one, two]) == Cause("service", "catalog", "catalog")


def test_a_release_is_its_service_and_version() -> None:
    checkout = report("service", "catalog", "catalog", "frontend", deploys=(("catalog", "2.0.0"),))
    search = report("service", "search", "search", "catalog")  # catalog ranked second, no deploy seen
    assert shared_cause([checkout, search]) == Cause("release", "catalog 2.0.0", "catalog")
    other_version = report("service", "catalog", "catalog", deploys=(("catalog", "2.0.1"),))
    assert shared_cause([checkout, other_version]) == Cause("service", "catalog", "catalog")
    systemic = report("release", "3.1.0, 3.2.0", "cart", deploys=(("cart", "3.1.0"), ("web", "3.2.0")))
    assert [c.subject for c in causes(systemic)][:2] == ["cart 3.1.0", "web 3.2.0"]


def test_flags_and_zones_group_by_their_subject_only() -> None:
    flag_on = report("feature_flag", "new_pricing=on", "catalog")
    flag_on_too = report("feature_flag", "new_pricing=on", "pricing")
    other_flag = report("feature_flag", "fast_search=on", "search")
    assert shared_cause([flag_on, flag_on_too]) == Cause("feature_flag", "new_pricing=on")
    assert shared_cause([flag_on, other_flag]) is None
    zone_a = report("zone", "eu-west-1a", "cart")
    assert shared_cause([zone_a, report("zone", "eu-west-1a", "auth")]) == Cause("zone", "eu-west-1a")
    assert shared_cause([zone_a, report("zone", "eu-west-1b", "auth")]) is None


def test_incidents_not_open_together_or_burning_far_apart_stay_alone() -> None:
    over = incident(1, CHECKOUT_DB, resolved=100)
    assert assign([over, incident(2, LOGIN_DB, opened=200)], within_s=600) == {}
    assert assign([incident(1, CHECKOUT_DB), incident(2, LOGIN_DB, opened=3600)], within_s=600) == {}


def test_a_third_incident_joins_only_when_it_shares_the_cause_with_every_member() -> None:
    search = report("service", "search", "search", "frontend")
    groups = assign(
        [incident(1, CHECKOUT_DB), incident(2, LOGIN_AUTH, opened=20), incident(3, search, opened=40)], 600
    )
    assert {i: a.primary for i, a in groups.items()} == {1: 1, 2: 1}


# --- the groups in the database ----------------------------------------------------------------


@pytest.fixture
def repository(any_store: Store) -> IncidentRepository:
    return IncidentRepository(any_store.engine, group_within_s=600)


def opened(repository: IncidentRepository, journey: str, at: float) -> int:
    firing = Firing("latency", "page-fast", 0, "page", 20.0, 0.5, T0 + at - 60)
    applied = repository.apply(journey, Action.OPEN, firing, T0 + at)
    assert applied is not None
    return applied.incident_id


def kinds(repository: IncidentRepository, incident_id: int) -> list[tuple[str, int]]:
    found = repository.get(incident_id)
    assert found is not None
    return [(e["kind"], e["detail"]["with"]) for e in found["timeline"] if "group" in e["kind"]]


def test_a_stored_report_groups_and_a_later_verdict_that_differs_ungroups(
    repository: IncidentRepository,
) -> None:
    checkout = opened(repository, "checkout", 0)
    login = opened(repository, "login", 20)
    repository.store_report(checkout, CHECKOUT_DB, T0 + 30, 1.0)
    assert repository.group(checkout) is None  # alone so far
    repository.store_report(login, LOGIN_AUTH, T0 + 40, 1.0)

    group = repository.group(login)
    assert group is not None and repository.group(checkout) == group
    assert (group.primary.id, [m.id for m in group.members]) == (checkout, [login])
    assert group.cause == Cause("shared_dependency", "sqlite:shop", "sqlite:shop")
    assert group.members[0].verdict is not None and group.members[0].verdict.level == "service"
    assert kinds(repository, login) == [("grouped", checkout)]
    assert kinds(repository, checkout) == [("grouped", login)]
    found = repository.get(login)
    assert found is not None and found["group"]["primary"]["id"] == checkout

    repository.store_report(login, report("service", "auth", "auth", "frontend"), T0 + 300, 1.0)
    assert repository.group(login) is None and repository.group(checkout) is None
    assert kinds(repository, login) == [("grouped", checkout), ("ungrouped", checkout)]
    [event] = [e for e in repository.get(checkout)["timeline"] if e["kind"] == "ungrouped"]  # type: ignore[index]
    assert event["detail"]["other"]["subject"] == "auth"  # what login says now
    assert event["detail"]["cause"]["subject"] == "sqlite:shop"  # what they no longer share


def test_a_scoped_reader_sees_only_the_mates_in_its_journeys(repository: IncidentRepository) -> None:
    first, second, third = (
        opened(repository, j, n * 10) for n, j in enumerate(("checkout", "login", "search"))
    )
    for n, incident_id in enumerate((first, second, third)):
        repository.store_report(incident_id, [CHECKOUT_DB, LOGIN_DB, LOGIN_AUTH][n], T0 + 60 + n, 1.0)
    both = repository.group(first, frozenset({"checkout", "search"}))
    assert both is not None and [m.journey for m in both.members] == ["search"]
    assert repository.group(second, frozenset({"login"})) is None  # its primary is checkout's
    alone = repository.get(second, frozenset({"login"}))
    assert alone is not None and (alone["group"], alone["group_primary"]) == (None, None)
    listed = repository.find(journeys=frozenset({"login", "search"}))
    assert [(i["journey"], i["group_primary"]) for i in listed] == [("search", None), ("login", None)]
    assert {i["group_primary"] for i in repository.find()} == {first}  # unscoped: all named


def test_the_primarys_new_verdict_hands_the_group_to_the_members_that_still_share_a_cause(
    repository: IncidentRepository,
) -> None:
    first, second, third = (
        opened(repository, j, n * 10) for n, j in enumerate(("checkout", "login", "search"))
    )
    for n, incident_id in enumerate((first, second, third)):
        repository.store_report(incident_id, [CHECKOUT_DB, LOGIN_DB, LOGIN_AUTH][n], T0 + 60 + n, 1.0)
    group = repository.group(third)
    assert group is not None and group.primary.id == first and len(group.members) == 2

    repository.store_report(first, report("service", "cart", "cart"), T0 + 200, 1.0)
    group = repository.group(third)
    assert repository.group(first) is None
    assert group is not None and (group.primary.id, [m.id for m in group.members]) == (second, [third])
    assert kinds(repository, second) == [("grouped", first), ("ungrouped", first), ("grouped", third)]


def test_a_version_5_database_gains_the_group_columns(any_store: Store) -> None:
    engine = any_store.engine
    with engine.begin() as connection:  # the incidents table as version 5 had it
        connection.execute(text("DROP INDEX ix_incidents_group_primary"))
        connection.execute(text("ALTER TABLE incidents DROP COLUMN group_primary"))
        connection.execute(text("ALTER TABLE incidents DROP COLUMN group_cause"))
        connection.execute(text("UPDATE schema_meta SET version = 5"))
    assert migrate(engine) == 5
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version FROM schema_meta")).scalar() == SCHEMA_VERSION
    repository = IncidentRepository(engine)
    checkout, login = opened(repository, "checkout", 0), opened(repository, "login", 5)
    repository.store_report(checkout, CHECKOUT_DB, T0 + 10, 1.0)
    repository.store_report(login, LOGIN_DB, T0 + 20, 1.0)
    group = repository.group(login)
    assert group is not None and group.primary.id == checkout
    with engine.connect() as connection:
        causes_kept = [
            json.loads(r[0]) for r in connection.execute(text("SELECT group_cause FROM incidents"))
        ]
        indexes = {i["name"] for i in inspect(connection).get_indexes("incidents")}
    assert [c["subject"] for c in causes_kept] == ["sqlite:shop", "sqlite:shop"]
    assert "ix_incidents_group_primary" in indexes
