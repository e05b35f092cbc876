"""The faults the demo can inject, each with the answer the bot should find.

::

    inject("payment-errors", shop)
    ...                                   # the bot opens an incident on checkout
    truth = CATALOGUE["payment-errors"].truth
    clear("payment-errors", shop)

The ground truth is written in the bot's own terms, so an evaluation compares it with a
report field by field: ``culprit`` is the top candidate's name (a ``service.name``, or a
dependency node named as ``correlators.topology.dependency_of`` names it), ``scope`` and
``level`` are ``Scope.kind`` and ``Scope.level`` as ``correlators.scope.decide_scope``
decides them, ``subject`` is ``Scope.subject``.

Why each answer is the right one:

- ``db-slow``: every statement to the shared SQLite file is slow. Three services call it
  on the checkout path (auth, catalog, orders), so it is a shared dependency: systemic.
- ``payment-errors``: the provider fails; the error originates in payments' client span
  to ``payment-provider``, an uninstrumented dependency only payments calls: localized to
  that dependency, not to payments, which only relays it.
- ``bad-release``: catalog, redeployed as 2.0.0 on both instances, throws on garden
  products. One service's release: localized at service level (``decide_scope`` calls a
  release systemic only when new versions show on several suspect services); the new
  version is the evidence (``version``).
- ``instance-cpu``: a busy loop in catalog-2 only; catalog-1 is healthy: localized to the
  instance. As at any saturated instance, requests mostly queue before catalog-2 starts
  on them: the time shows in the frontend's client spans to catalog-2 more than in
  catalog-2's own server spans.
- ``flag-slow-path``: the new pricing engine, taken only by users with
  ``feature_flag.new_pricing=on``, gets slow. The flag value is what the bad traces share
  (on about 100% of them against about 30% of healthy ones): systemic at feature-flag
  level, even though the slow code runs in catalog (the top candidate).
- ``n-plus-one``: orders' new recommendations code (``demo/services/orders.py``) reads two
  independent things one after the other and then writes 12 rows with one INSERT each.
  The statements are ordinary ones, slow only in number and order: the time is orders'
  code's, so localized to orders, the service to change. The patterns and their fixes
  are in ``advice``: what `journeywatch advise` and the incident's thread should say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


class FaultTarget(Protocol):
    """What a fault needs of the shop (:class:`demo.shop.Shop` is one)."""

    def set_fault(self, kind: str, on: bool, *, targets: list[str]) -> None: ...

    def deploy(self, service: str, version: str) -> None: ...


@dataclass(frozen=True, slots=True)
class GroundTruth:
    culprit: str
    """The top root-cause candidate: service.name, or dependency node (``sqlite:shop``)."""
    scope: Literal["localized", "systemic"]
    level: str
    """``correlators.scope`` level: shared_dependency, dependency, service, instance, feature_flag."""
    subject: str
    """``Scope.subject``: the dependency, service, instance or ``flag=value``."""
    breaks: tuple[str, ...]
    """The journeys whose objectives the fault breaks."""
    journey: str = "checkout"
    """The journey whose incident this answer is for. Every fault breaks checkout, the
    journey that crosses every service; on another journey fewer callers are in view (only
    catalog reads the database during a search), so the scope can rightly read narrower."""
    instance: str | None = None
    version: str | None = None
    advice: tuple[tuple[str, str, str], ...] = ()
    """Performance patterns the fault plants: (``PatternKind`` value, service, callee)."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    summary: str
    truth: GroundTruth
    targets: tuple[str, ...] = ()
    """Services or instances whose ``/_fault`` switch it flips."""
    release: tuple[str, str, str] | None = None
    """(service, bad version, good version): a redeploy instead of a switch."""


CATALOGUE: dict[str, Fault] = {
    fault.kind: fault
    for fault in (
        Fault(
            "db-slow",
            "every database statement takes 300-600 ms longer",
            GroundTruth(
                "sqlite:shop", "systemic", "shared_dependency", "sqlite:shop", ("login", "search", "checkout")
            ),
            targets=("auth", "catalog", "orders"),
        ),
        Fault(
            "payment-errors",
            "the payment provider fails about 60% of charges with 500",
            GroundTruth("payment-provider", "localized", "dependency", "payment-provider", ("checkout",)),
            targets=("payment-provider",),
        ),
        Fault(
            "bad-release",
            "catalog 2.0.0 is rolled out and fails on every garden product",
            GroundTruth(
                "catalog", "localized", "service", "catalog", ("search", "checkout"), version="2.0.0"
            ),
            release=("catalog", "2.0.0", "1.8.0"),
        ),
        Fault(
            "instance-cpu",
            "a busy loop hogs the CPU of catalog-2",
            GroundTruth(
                "catalog", "localized", "instance", "catalog-2", ("search", "checkout"), instance="catalog-2"
            ),
            targets=("catalog-2",),
        ),
        Fault(
            "flag-slow-path",
            "the new pricing engine (feature_flag.new_pricing=on) takes +800 ms",
            GroundTruth(
                "catalog",
                "systemic",
                "feature_flag",
                "feature_flag.new_pricing=on",
                ("search", "checkout"),
            ),
            targets=("catalog",),
        ),
        Fault(
            "n-plus-one",
            "orders writes 12 recommendations one INSERT at a time after two queries in a row: +0.8 s",
            GroundTruth(
                "orders",
                "localized",
                "service",
                "orders",
                ("checkout",),
                advice=(
                    ("n_plus_one", "orders", "sqlite:shop"),
                    ("consecutive_calls", "orders", "sqlite:shop"),
                ),
            ),
            targets=("orders",),
        ),
    )
}


def inject(kind: str, shop: FaultTarget) -> GroundTruth:
    """Start the fault; returns its ground truth."""
    return _apply(kind, shop, on=True)


def clear(kind: str, shop: FaultTarget) -> GroundTruth:
    """End the fault (a bad release is rolled back to the good version)."""
    return _apply(kind, shop, on=False)


def _apply(kind: str, shop: FaultTarget, *, on: bool) -> GroundTruth:
    fault = CATALOGUE.get(kind)
    if fault is None:
        raise KeyError(f"unknown fault {kind!r}; known: {', '.join(CATALOGUE)}")
    if fault.release is not None:
        service, bad, good = fault.release
        shop.deploy(service, bad if on else good)
    else:
        shop.set_fault(kind, on, targets=list(fault.targets))
    return fault.truth
