"""The demo shop against a real `journeywatch serve`: real processes, real SDKs.

Traffic through the shop must come back from the bot's API as whole checkout traces,
frontend -> auth (Node) -> catalog -> payments -> orders, with the database as a
``sqlite`` client span and the services' logs attached, all joined by W3C trace context;
a fault injected through the control API must show in the traces that follow, and
clearing it must end it. The shop's processes must not outlive it, nor its parent.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from correlators.model import trace_from_dict
from correlators.patterns import PatternKind
from demo import faults
from demo.shop import NODE_DIR, REPO, Shop, default_layout
from demo.traffic import Traffic, visits
from tests.fixtures.bot_server import BotProcess
from tests.otlp_json import write_traces

pytestmark = pytest.mark.node

PYTHON_SERVICES = {"frontend", "catalog", "payments", "orders"}
SCOPE_LEVELS = {"shared_dependency", "dependency", "service", "instance", "feature_flag", "release", "zone"}


@pytest.fixture
def node_ready() -> None:
    if not (NODE_DIR / "node_modules").is_dir():
        pytest.fail("demo/node/node_modules is required: run `npm ci` in demo/node (make setup)")


@pytest.fixture
def bot(start_bot: Callable[..., BotProcess], keep_all_config: Path) -> BotProcess:
    return start_bot(keep_all_config)


@pytest.fixture
def shop(bot: BotProcess, node_ready: None, tmp_path: Path) -> Iterator[Shop]:
    with Shop(bot.url, workdir=tmp_path / "shop") as running:
        yield running


def traces(bot: BotProcess, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{bot.url}/api/traces", params=params, timeout=10).json()[
        "traces"
    ]
    return found


def full_trace(bot: BotProcess, trace_id: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{bot.url}/api/traces/{trace_id}", timeout=10).json()
    return found


def wait_for(find: Callable[[], dict[str, Any] | None], what: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout}s")


def whole_checkout(bot: BotProcess, **params: Any) -> dict[str, Any] | None:
    """A checkout trace that went all the way through, with its logs."""
    for summary in traces(bot, journey="checkout", limit=50, **params):
        if summary["span_count"] < 14:
            continue
        trace = full_trace(bot, summary["trace_id"])
        if trace["logs"]:
            return trace
    return None


def test_checkout_is_one_trace_across_python_node_and_the_database(bot: BotProcess, shop: Shop) -> None:
    with Traffic(shop.frontend_url, rate=10, seed=1) as traffic:
        trace = wait_for(lambda: whole_checkout(bot), "complete checkout trace")
        assert {"login", "search"} <= {t["journey"] for t in traces(bot, limit=200)}
    stats = traffic.stats()
    assert sum(s.requests for s in stats.journeys.values()) > 0
    assert all(s.errors == 0 and s.rejected == 0 for s in stats.journeys.values()), traffic.summary()

    assert trace["journey"] == "checkout"
    assert set(trace["services"]) == PYTHON_SERVICES | {"auth"}
    spans = trace["spans"]
    by_id = {s["span_id"]: s for s in spans}
    root = next(s for s in spans if s["parent_span_id"] is None)
    assert (root["service"], root["kind"], root["name"]) == ("frontend", "server", "POST /checkout")
    assert root["attributes"]["http.route"] == "/checkout"
    assert root["attributes"]["user.tier"] in ("free", "premium", "enterprise")
    assert root["attributes"]["feature_flag.new_pricing"] in ("on", "off")
    assert root["attributes"]["session.id"]
    assert not any(s["orphan"] for s in spans)
    assert all(s["trace_id"] == trace["trace_id"] for s in spans)

    # W3C trace context from Python into Node: auth's server span is the child of the
    # frontend's client span, and the baggage's journey came along.
    auth = next(s for s in spans if s["service"] == "auth" and s["kind"] == "server")
    assert auth["language"] == "nodejs"
    assert auth["name"] == "POST /session"
    assert by_id[auth["parent_span_id"]]["service"] == "frontend"
    assert by_id[auth["parent_span_id"]]["kind"] == "client"
    assert auth["attributes"]["journey.name"] == "checkout"

    # Every service span hangs off a frontend client span; the resource says who it is.
    for span in spans:
        if span["kind"] == "server" and span is not root:
            assert by_id[span["parent_span_id"]]["service"] == "frontend", span["name"]
        assert span["resource"]["deployment.environment"] == "demo"
        assert span["resource"]["cloud.availability_zone"]
        assert span["service_version"]
        assert span["instance"]

    # The database, from Python and Node alike, as a dependency named sqlite:shop.
    database = [s for s in spans if s["attributes"].get("db.system") == "sqlite"]
    assert {s["service"] for s in database} == {"auth", "catalog", "orders"}
    for span in database:
        assert span["kind"] == "client"
        assert span["attributes"]["db.name"] == "shop"
        assert span["attributes"]["db.statement"].startswith(("SELECT", "INSERT"))
    provider = next(s for s in spans if s["attributes"].get("peer.service") == "payment-provider")
    assert (provider["service"], provider["kind"]) == ("payments", "client")
    assert provider["attributes"]["server.address"] == "127.0.0.1"

    # Logs, tied to the trace by the SDKs.
    assert {log["service"] for log in trace["logs"]} >= {"frontend", "payments", "orders"}
    assert all(log["trace_id"] == trace["trace_id"] for log in trace["logs"])

    # SIGTERM: every process flushes and exits cleanly, and nothing keeps listening.
    frontend = shop.frontend_url
    shop.stop()
    assert shop.exit_codes == dict.fromkeys(shop.exit_codes, 0)
    assert len(shop.exit_codes) == 7
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{frontend}/_health", timeout=2)


def test_payment_errors_show_in_new_traces_and_stop_when_cleared(bot: BotProcess, shop: Shop) -> None:
    with Traffic(shop.frontend_url, rate=12, seed=2) as traffic:
        wait_for(lambda: whole_checkout(bot), "healthy checkout trace")
        injected_ns = time.time_ns()
        truth = faults.inject("payment-errors", shop)
        assert shop.health()["provider-1"]["faults"] == ["payment-errors"]

        def failed_checkout() -> dict[str, Any] | None:
            for summary in traces(bot, journey="checkout", error="true", start=str(injected_ns / 1e9)):
                trace = full_trace(bot, summary["trace_id"])
                if any(log["severity_text"] == "ERROR" for log in trace["logs"]):
                    return trace
            return None

        trace = wait_for(failed_checkout, "failed checkout trace")
        faults.clear("payment-errors", shop)
        time.sleep(0.5)  # charges the provider failed just before the clear finish
        cleared = traffic.stats().journeys["checkout"]
        time.sleep(3)
        after = traffic.stats().journeys["checkout"]

    assert truth.culprit == "payment-provider" and truth.level == "dependency"
    call = next(s for s in trace["spans"] if s["attributes"].get("peer.service") == "payment-provider")
    assert call["status"] == "error"
    assert "payment-provider returned 500" in call["status_message"]
    root = next(s for s in trace["spans"] if s["parent_span_id"] is None)
    assert root["status"] == "error" and root["attributes"]["http.response.status_code"] == 502
    errors = [log for log in trace["logs"] if log["severity_text"] == "ERROR"]
    assert any(log["service"] == "payments" and "card processor unavailable" in log["body"] for log in errors)
    assert cleared.errors > 0
    assert after.requests > cleared.requests and after.errors == cleared.errors, "cleared: no new errors"
    assert shop.health()["provider-1"]["faults"] == []


def test_a_bad_release_is_a_rolling_restart_as_the_new_version(bot: BotProcess, shop: Shop) -> None:
    before = {r["instance"]: r["url"] for r in shop.instances() if r["service"] == "catalog"}
    with Traffic(shop.frontend_url, rate=10, seed=3) as traffic:
        faults.inject("bad-release", shop)
        deployed_ns = time.time_ns()

        def failing_new_version() -> dict[str, Any] | None:
            for summary in traces(bot, journey="search", error="true", start=str(deployed_ns / 1e9)):
                trace = full_trace(bot, summary["trace_id"])
                if any(s["service"] == "catalog" and s["service_version"] == "2.0.0" for s in trace["spans"]):
                    return trace
            return None

        trace = wait_for(failing_new_version, "search trace failing in catalog 2.0.0")
    assert any("no price format for category 'garden'" in log["body"] for log in trace["logs"])
    assert traffic.stats().journeys["search"].errors > 0
    after = {r["instance"]: r for r in shop.instances() if r["service"] == "catalog"}
    assert set(after) == set(before) == {"catalog-1", "catalog-2"}
    assert all(r["version"] == "2.0.0" and r["url"] != before[name] for name, r in after.items())
    faults.clear("bad-release", shop)
    assert {r["version"] for r in shop.instances() if r["service"] == "catalog"} == {"1.8.0"}


def test_the_n_plus_one_fault_is_what_advise_names_on_the_stored_checkouts(
    bot: BotProcess, shop: Shop, tmp_path: Path
) -> None:
    """The fault's checkouts, read back from the bot and given to `journeywatch advise`:
    orders' 12 INSERTs one by one and its two queries in a row come out with their fixes,
    stored without their arguments."""
    with Traffic(shop.frontend_url, rate=10, seed=5):
        wait_for(lambda: whole_checkout(bot), "healthy checkout trace")
        injected_s = time.time()
        truth = faults.inject("n-plus-one", shop)
        assert shop.health()["orders-1"]["faults"] == ["n-plus-one"]

        def faulty_checkouts() -> dict[str, Any] | None:
            found = [
                t
                for t in traces(bot, journey="checkout", start=str(injected_s), limit=50)
                if t["span_count"] > 28
            ]
            return {"traces": found} if len(found) >= 6 else None

        slow = wait_for(faulty_checkouts, "six checkouts with the N+1", timeout=60)["traces"]
        faults.clear("n-plus-one", shop)
    stored = [full_trace(bot, t["trace_id"]) for t in slow]
    assert all(t["duration_ns"] > 800e6 for t in stored), "the checkout objective is 800 ms"
    inserts = [
        s
        for s in stored[0]["spans"]
        if s["attributes"].get("db.statement", "").startswith("INSERT INTO order_recommendations")
    ]
    assert len(inserts) == 12
    files = tmp_path / "checkouts.jsonl"
    write_traces(files, [trace_from_dict({**t, "spans": t["spans"]}) for t in stored])
    answer = subprocess.run(
        [sys.executable, "-m", "bot.cli", "advise", "--traces", str(files), "--config", "config/demo.yaml",
         "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    [checkout] = [j for j in json.loads(answer.stdout)["journeys"] if j["journey"] == "checkout"]
    advice = {(a["kind"], a["service"], a["callee"]): a for a in checkout["advice"]}
    assert set(truth.advice) <= set(advice), [a["summary"] for a in checkout["advice"]]
    loop = advice[("n_plus_one", "orders", "sqlite:shop")]
    assert loop["target"] == "INSERT INTO order_recommendations (order_id, product_id, rank) VALUES (?)"
    assert loop["requests"] == len(stored) and loop["calls"] == 12 * len(stored)
    assert "12 times one by one in POST /orders: batch them" in loop["summary"]
    pair = advice[("consecutive_calls", "orders", "sqlite:shop")]
    assert "SELECT COUNT(*)" in pair["target"] and "make the calls concurrently" in pair["summary"]


def test_the_shop_dies_with_its_parent(bot: BotProcess, node_ready: None, tmp_path: Path) -> None:
    """Even a SIGKILLed parent, which cleans nothing up, leaves no process behind."""
    script = textwrap.dedent(
        f"""
        import json, time
        from pathlib import Path
        from demo.shop import Shop
        shop = Shop({bot.url!r}, workdir=Path({str(tmp_path / "shop")!r})).start()
        print(json.dumps([r.process.pid for r in shop.running.values()]), flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pids = json.loads(parent.stdout.readline())
    assert len(pids) == sum(len(wave) for wave in default_layout("node"))
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not [pid for pid in pids if _alive(pid)], "services outlived their parent"


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper (init reaps them soon)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_every_fault_has_a_ground_truth_the_bot_can_state() -> None:
    instances = {spec.instance for wave in default_layout("node") for spec in wave}
    services = {spec.service for wave in default_layout("node") for spec in wave}
    assert set(faults.CATALOGUE) >= {
        "db-slow",
        "payment-errors",
        "bad-release",
        "instance-cpu",
        "flag-slow-path",
        "n-plus-one",
    }
    for fault in faults.CATALOGUE.values():
        truth = fault.truth
        assert truth.scope in ("localized", "systemic")
        assert truth.level in SCOPE_LEVELS
        assert truth.journey in truth.breaks
        assert set(truth.breaks) <= {"login", "search", "checkout"}
        assert set(fault.targets) <= services | instances
        assert bool(fault.targets) != bool(fault.release), fault.kind
        if truth.level == "instance":
            assert truth.instance in instances
        for kind, service, _ in truth.advice:
            assert kind in {k.value for k in PatternKind} and service in services
    assert faults.CATALOGUE["db-slow"].truth.culprit == "sqlite:shop"
    with pytest.raises(KeyError, match="unknown fault"):
        faults.inject("disk-full", shop=None)  # type: ignore[arg-type]


def test_the_same_seed_plays_the_same_users() -> None:
    def first(seed: int) -> list[Any]:
        plays = visits(random.Random(seed))
        return [step for _ in range(20) for step in next(plays)]

    assert first(4) == first(4)
    assert first(4) != first(5)
    journeys = [step.journey for step in first(4)]
    assert set(journeys) == {"login", "search", "checkout"}
