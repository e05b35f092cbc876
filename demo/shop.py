"""Start, reconfigure and stop the demo shop's processes.

::

    with Shop(endpoint="http://127.0.0.1:8000") as shop:   # the bot's OTLP/HTTP base URL
        shop.frontend_url                                  # where the traffic goes
        shop.set_fault("db-slow", True, targets=["auth", "catalog", "orders"])
        shop.deploy("catalog", "2.0.0")                    # a rolling restart

Each service is a separate process in its own session (so a Ctrl-C at the terminal
reaches the parent only, which then stops the shop in order), bound to a free loopback
port that it announces on its first line of output (``{"listening": PORT}``). Its output
goes to a log file in the shop's working directory, never to a pipe nobody reads.

No orphans: :meth:`Shop.stop` (also registered with ``atexit``) sends SIGTERM to each
process group, so the services flush their telemetry, and SIGKILL to whatever is left
after a few seconds. If the parent dies without running any clean-up (SIGKILL, or a
SIGTERM with no handler), each service sees its standard input, a pipe only the parent
holds, reach end of file and exits by itself (see :mod:`demo.runtime`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from demo.data import create_database

DEMO = Path(__file__).resolve().parent
REPO = DEMO.parent
NODE_DIR = DEMO / "node"
_LISTENING = re.compile(r'^\{"listening": ?(\d+)\}$', re.MULTILINE)


class ShopError(RuntimeError):
    """The shop could not start, or a control request failed; says which process and why."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One process of the shop: what it is, how to run it, which services it calls."""

    service: str
    instance: str
    version: str
    zone: str
    command: tuple[str, ...]
    calls: tuple[str, ...] = ()


@dataclass(slots=True)
class Running:
    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    url: str = ""


def python_service(module: str) -> tuple[str, ...]:
    return (sys.executable, "-m", f"demo.services.{module}")


def default_layout(node: str, catalog_instances: int = 2) -> list[list[ServiceSpec]]:
    """The shop, in start order: each wave only calls services of earlier waves."""
    catalog = [
        ServiceSpec(
            "catalog", f"catalog-{n}", "1.8.0", "demo-a" if n % 2 else "demo-b", python_service("catalog")
        )
        for n in range(1, catalog_instances + 1)
    ]
    return [
        [
            ServiceSpec("payment-provider", "provider-1", "external", "external", python_service("provider")),
            ServiceSpec("auth", "auth-1", "3.1.0", "demo-a", (node, "-r", "./telemetry.js", "auth.js")),
            *catalog,
            ServiceSpec("orders", "orders-1", "1.2.0", "demo-b", python_service("orders")),
        ],
        [
            ServiceSpec(
                "payments", "payments-1", "2.3.1", "demo-a", python_service("payments"), ("payment-provider",)
            )
        ],
        [
            ServiceSpec(
                "frontend",
                "frontend-1",
                "1.4.2",
                "demo-a",
                python_service("frontend"),
                ("auth", "catalog", "payments", "orders"),
            )
        ],
    ]


@dataclass
class Shop:
    """The shop's processes, sending traces and logs to ``endpoint`` (the bot's base URL,
    given to every SDK as ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""

    endpoint: str
    workdir: Path | None = None
    """Database and logs go here; a temporary folder (removed on stop) when None."""
    node: str | None = None
    catalog_instances: int = 2
    startup_timeout_s: float = 30.0
    stop_timeout_s: float = 5.0
    running: dict[str, Running] = field(default_factory=dict, init=False)
    exit_codes: dict[str, int] = field(default_factory=dict, init=False)
    """How each stopped process ended: 0 after a clean SIGTERM, negative when killed."""
    _waves: list[list[ServiceSpec]] = field(default_factory=list, init=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> Shop:
        """Start every process and wait until each answers its health check."""
        if self.running:
            raise ShopError("the shop is already running")
        node = self.node or shutil.which("node")
        if node is None:
            raise ShopError("Node.js is needed for the auth service: install node")
        if not (NODE_DIR / "node_modules").is_dir():
            raise ShopError(f"the Node packages are missing: run `npm ci` in {NODE_DIR}")
        if self.workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="journeywatch-shop-")
            self.workdir = Path(self._tempdir.name)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        create_database(self.database)
        atexit.register(self.stop)
        self._waves = default_layout(node, self.catalog_instances)
        try:
            for wave in self._waves:
                started = [self._spawn(spec) for spec in wave]
                for running in started:
                    self._wait_ready(running)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything, the entry first so no request is cut halfway down; idempotent."""
        atexit.unregister(self.stop)
        for wave in reversed(self._waves):
            group = [r for r in self.running.values() if r.spec in wave]
            self._terminate(group)
        self._terminate(list(self.running.values()))  # anything a deploy left behind
        self.running.clear()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self.workdir = None

    def __enter__(self) -> Shop:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what callers need -----------------------------------------------------------

    @property
    def database(self) -> Path:
        assert self.workdir is not None, "the shop is not started"
        return self.workdir / "shop.db"

    @property
    def frontend_url(self) -> str:
        """Where the traffic goes: the entry of every journey."""
        found = self.urls("frontend")
        if not found:
            raise ShopError("the shop is not running")
        return found[0]

    def urls(self, service: str) -> list[str]:
        """Base URLs of the running instances of a service (or of one instance)."""
        return [r.url for r in self._matching([service])]

    def instances(self) -> list[dict[str, str]]:
        """Who runs where: service, instance, version, zone, url, log file."""
        return [
            {
                "service": r.spec.service,
                "instance": r.spec.instance,
                "version": r.spec.version,
                "zone": r.spec.zone,
                "url": r.url,
                "log": str(r.log_path),
            }
            for r in self.running.values()
        ]

    def health(self) -> dict[str, Any]:
        return {name: self._control(r, "GET", "/_health") for name, r in self.running.items()}

    def set_fault(self, kind: str, on: bool, *, targets: Iterable[str]) -> None:
        """Switch a fault in every instance of the target services (or named instances)."""
        matched = self._matching(targets)
        if not matched:
            raise ShopError(f"no running instance matches {list(targets)}")
        for running in matched:
            self._control(running, "POST", "/_fault", {"kind": kind, "on": on})

    def deploy(self, service: str, version: str) -> None:
        """A rolling restart of a service the frontend calls, as ``version``: per
        instance, start the new process, point the frontend at it, stop the old one."""
        frontend = self._matching(["frontend"])[0]
        if service not in frontend.spec.calls:
            raise ShopError(f"only services behind the frontend can be redeployed, not {service!r}")
        for old in [r for r in self.running.values() if r.spec.service == service]:
            new = self._spawn(replace(old.spec, version=version), key=f"{old.spec.instance}@{version}")
            self._wait_ready(new)
            urls = [new.url if r is old else r.url for r in self._matching([service])]
            self._control(frontend, "POST", "/_upstreams", {service: urls})
            self._terminate([old])
            del self.running[f"{new.spec.instance}@{version}"]
            self.running[old.spec.instance] = new
            self._replace_in_waves(old.spec, new.spec)

    # -- processes -------------------------------------------------------------------

    def _spawn(self, spec: ServiceSpec, key: str | None = None) -> Running:
        assert self.workdir is not None
        log_path = self.workdir / "logs" / f"{key or spec.instance}.log"
        log_file = log_path.open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and node, fixed arguments
            spec.command,
            cwd=NODE_DIR if spec.service == "auth" else REPO,
            env=self._environment(spec),
            stdin=subprocess.PIPE,  # the lifeline: see demo.runtime
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = Running(spec, process, log_path, log_file)
        self.running[key or spec.instance] = running
        return running

    def _environment(self, spec: ServiceSpec) -> dict[str, str]:
        # The parent's OpenTelemetry settings would override the shop's, and the bot's
        # own secrets (Slack, journeywatch) are none of the services' business.
        private = ("OTEL_", "SHOP_", "SLACK_", "JOURNEYWATCH_")
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(private)}
        upstreams = {name: self.urls(name) for name in spec.calls}
        return {
            **inherited,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            "PYTHONUNBUFFERED": "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint.rstrip("/"),
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "SHOP_SERVICE": spec.service,
            "SHOP_INSTANCE": spec.instance,
            "SHOP_VERSION": spec.version,
            "SHOP_ZONE": spec.zone,
            "SHOP_DATABASE": str(self.database),
            "SHOP_UPSTREAMS": json.dumps(upstreams),
        }

    def _wait_ready(self, running: Running) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            found = _LISTENING.search(running.log_path.read_text(errors="replace"))
            if found:
                running.url = f"http://127.0.0.1:{found.group(1)}"
                self._control(running, "GET", "/_health")
                return
            if running.process.poll() is not None:
                raise ShopError(f"{running.spec.instance} exited at start:\n{self._tail(running)}")
            time.sleep(0.02)
        raise ShopError(
            f"{running.spec.instance} did not start in {self.startup_timeout_s}s:\n{self._tail(running)}"
        )

    def _terminate(self, group: list[Running]) -> None:
        for running in group:
            _signal(running.process, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for running in group:
            try:
                running.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(running.process, signal.SIGKILL)
                running.process.wait()
            self.exit_codes[running.spec.instance] = running.process.returncode
            if running.process.stdin is not None:
                running.process.stdin.close()
            running.log_file.close()
        for key in [k for k, r in self.running.items() if r in group]:
            del self.running[key]

    def _control(self, running: Running, method: str, path: str, body: Any = None) -> Any:
        try:
            response = httpx.request(method, running.url + path, json=body, timeout=10)
        except httpx.HTTPError as exc:
            raise ShopError(f"{running.spec.instance} {method} {path}: {exc}") from exc
        if response.status_code != 200:
            raise ShopError(
                f"{running.spec.instance} {method} {path}: {response.status_code} {response.text}"
            )
        return response.json()

    def _matching(self, targets: Iterable[str]) -> list[Running]:
        wanted = set(targets)
        return [
            r
            for key, r in self.running.items()
            if "@" not in key and (r.spec.service in wanted or r.spec.instance in wanted)
        ]

    def _replace_in_waves(self, old: ServiceSpec, new: ServiceSpec) -> None:
        self._waves = [[new if spec is old else spec for spec in wave] for wave in self._waves]

    @staticmethod
    def _tail(running: Running, lines: int = 30) -> str:
        return "\n".join(running.log_path.read_text(errors="replace").splitlines()[-lines:])


def _signal(process: subprocess.Popen[bytes], number: signal.Signals) -> None:
    """Signal the process's whole group (it leads one: start_new_session)."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):  # exited since the poll
        os.killpg(process.pid, number)
