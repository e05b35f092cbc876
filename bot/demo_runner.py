"""`journeywatch demo`: the whole product on one machine, watching a real shop break.

It starts the bot on the embedded default (SQLite, the built-in collector and SLI source,
local Slack mode unless Slack tokens are set) on one port, the demo shop (``demo/``: real
Python and Node services with the OpenTelemetry SDKs) sending it traces and logs, and
traffic through the shop's journeys. After a warm-up it injects one fault, follows the
incident as it opens and is investigated, and ends by putting the fault's ground truth and
the bot's verdict side by side, with how long the report took from the injection. For a
fault that plants performance patterns (``n-plus-one``), the advice on the incident's
worst traces is set beside the patterns planted.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from bot.config import load_config
from bot.edge.serving import server_config
from bot.render.advice import advice_words
from bot.render.report import grown_words, summary
from bot.server import build_bot, create_app
from bot.settings import HttpSettings, load_settings
from bot.slack.console import ConsoleListener
from bot.wiring import Bot
from correlators.advice import advise
from correlators.report import Report

POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    fault: str
    duration_s: float
    port: int
    warmup_s: float = 60.0
    rate: float = 10.0
    seed: int = 1
    config_path: Path = Path("config/demo.yaml")
    data_dir: Path = Path("data/demo")
    stop_after_verdict: bool = False
    json_out: Path | None = None


@dataclass(slots=True)
class DemoResult:
    fault: str
    truth: dict[str, Any]
    bot_url: str
    injected_at: float | None = None
    incident_id: int | None = None
    journey: str | None = None
    opened_after_s: float | None = None
    report_after_s: float | None = None
    verdict: dict[str, Any] | None = None
    right: bool | None = None
    advice: list[dict[str, str]] = field(default_factory=list)
    """What `journeywatch advise` says of the report's worst traces: kind, service, callee
    and the sentence."""
    advice_right: bool | None = None
    """Every pattern the fault planted is among them (None for a fault that plants none)."""
    fix_lines: list[dict[str, str]] = field(default_factory=list)
    """The thread's fix lines (the report's grown patterns): kind, service, callee and the
    sentence."""
    fix_lines_right: bool | None = None
    """Every pattern the fault planted is among the thread's fix lines."""
    traffic: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class BackgroundServer:
    """uvicorn serving the bot's app in a thread, on a socket bound before it starts (so
    ``port=0`` works and nothing races for the port)."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(2048)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"

    def serve(self, app: Any, http: HttpSettings) -> BackgroundServer:
        import uvicorn

        self.server = uvicorn.Server(server_config(app, http, "warning"))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        return self

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the bot's server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self.sock.close()


def choose_fault(name: str, seed: int) -> str:
    from demo.faults import CATALOGUE

    if name == "random":
        return random.Random(seed).choice(sorted(CATALOGUE))
    if name not in CATALOGUE:
        raise ValueError(f"unknown fault {name!r}; choose one of: random, {', '.join(CATALOGUE)}")
    return name


def run_demo(options: DemoOptions, console: Console, *, keep_serving: bool = False) -> DemoResult:
    from demo.faults import CATALOGUE, clear, inject
    from demo.shop import Shop
    from demo.traffic import Traffic

    fault = CATALOGUE[options.fault]
    listening = BackgroundServer("127.0.0.1", options.port)  # bound first: links need the real port
    bot = _build(options, listening.port)
    result = DemoResult(options.fault, asdict(fault.truth), "")
    with listening.serve(create_app(bot), bot.settings.http) as server:
        result.bot_url = server.url
        console.print(f"journeywatch is up at [bold]{server.url}[/] (pages: {server.url}/journeys)")
        with Shop(endpoint=server.url, workdir=(options.data_dir / "shop").resolve()) as shop:
            console.print(f"the shop is up: {len(shop.instances())} processes, frontend {shop.frontend_url}")
            with Traffic(shop.frontend_url, rate=options.rate, seed=options.seed) as traffic:
                try:
                    _follow(bot, options, console, result, traffic, lambda: inject(options.fault, shop))
                finally:
                    result.traffic = {k: asdict(v) for k, v in traffic.stats().journeys.items()}
                    with contextlib.suppress(Exception):
                        clear(options.fault, shop)
        _report(console, fault, result)
        if options.json_out is not None:
            options.json_out.write_text(json.dumps(result.to_json(), indent=2))
        if keep_serving:
            console.print(f"the pages stay up at {server.url}/journeys; Ctrl-C ends")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return result


def _build(options: DemoOptions, port: int) -> Bot:
    if options.data_dir.exists():
        shutil.rmtree(options.data_dir)
    options.data_dir.mkdir(parents=True)
    settings = load_settings(
        host="127.0.0.1",
        port=port,
        database_url=f"sqlite:///{options.data_dir / 'journeywatch.db'}",
        config_path=options.config_path,
        redaction_hmac_key=secrets.token_hex(16),  # one run's data: no need to match later runs
        ingest_keys={"required": False},  # the shop on loopback sends as every service
        grpc_port=-1,  # the shop sends OTLP/HTTP; 4317 may be another program's
    )
    bot = build_bot(settings, load_config(options.config_path))
    # the demo's own lines say what the console listener would, with the timings
    bot.watcher.listeners = [x for x in bot.watcher.listeners if not isinstance(x, ConsoleListener)]
    return bot


def _follow(
    bot: Bot, options: DemoOptions, console: Console, result: DemoResult, traffic: Any, start_fault: Any
) -> None:
    """Warm up, inject, then watch the incident until the run's time is up."""
    started = time.monotonic()
    with _live(console) as show:
        while True:
            elapsed = time.monotonic() - started
            if result.injected_at is None and elapsed >= options.warmup_s:
                start_fault()
                result.injected_at = time.time()
                console.print(f"[bold red]injected {options.fault}[/] after {elapsed:.0f} s of warm-up")
            if result.injected_at is not None:
                _track(bot, console, result)
            show(_table(bot, traffic, result, elapsed, options))
            if elapsed >= options.duration_s or (options.stop_after_verdict and result.verdict is not None):
                return
            time.sleep(POLL_S)


@contextlib.contextmanager
def _live(console: Console) -> Iterator[Any]:
    """A live table on a terminal; elsewhere (CI, pipes) only the event lines."""
    if not console.is_terminal:
        yield lambda _: None
        return
    with Live(console=console, refresh_per_second=2, transient=True) as live:
        yield live.update


def _track(bot: Bot, console: Console, result: DemoResult) -> None:
    assert result.injected_at is not None
    journey = result.truth["journey"]  # the journey whose incident the ground truth is for
    if result.incident_id is None:
        for incident in bot.incidents.find(journey=journey, limit=5):
            if _opened_s(incident) >= result.injected_at - 5:
                result.incident_id, result.journey = incident["id"], incident["journey"]
                result.opened_after_s = round(_opened_s(incident) - result.injected_at, 1)
                console.print(
                    f"[bold]incident #{incident['id']}[/] opened on {incident['journey']} "
                    f"({incident['severity']}, {incident['tier']}, {incident['burn_rate']:.0f}x) "
                    f"{result.opened_after_s:.0f} s after the injection"
                )
                break
    if result.incident_id is not None and result.verdict is None:
        current = bot.incidents.get(result.incident_id)
        report = bot.incidents.reports(result.incident_id).current
        if current and report:
            _verdict(bot, console, result, current, report)


def parent_text(bot: Bot, incident: dict[str, Any]) -> str | None:
    """The Slack parent as it reads now: its blocks' text in Slack's mrkdwn, in order (the
    demo's examples in docs/ are these)."""
    if bot.slack is None:
        return None
    payload = bot.slack.notifier.parent_message(incident).payload()
    blocks = payload.get("attachments", [{}])[0].get("blocks") or payload.get("blocks") or []
    texts = [_block_text(block) for block in blocks]
    return "\n".join(text for text in texts if text) or None


def _block_text(block: dict[str, Any]) -> str:
    """A block as a line: its text, its fields, or its elements (a button as [its label])."""
    if isinstance(block.get("text"), dict):
        return str(block["text"].get("text", ""))
    parts = block.get("fields") or block.get("elements") or []
    return " · ".join(_element_text(p) for p in parts if isinstance(p, dict) and p.get("text"))


def _element_text(element: dict[str, Any]) -> str:
    text = element["text"]
    if isinstance(text, dict):  # a button's label is a text object of its own
        return f"[{text.get('text', '')}]"
    return str(text).replace("\n", " ")


def first_line(bot: Bot, incident: dict[str, Any]) -> str | None:
    """The Slack parent's first line as it reads now, in Slack's mrkdwn."""
    text = parent_text(bot, incident)
    return text.split("\n")[0] if text else None


def _verdict(
    bot: Bot, console: Console, result: DemoResult, incident: dict[str, Any], report: Report
) -> None:
    assert result.injected_at is not None
    investigated = next(e for e in incident["timeline"] if e["kind"] == "investigated")
    result.report_after_s = round(_parse_iso(investigated["at"]) - result.injected_at, 1)
    top = report.candidates[0] if report.candidates else None
    scope = report.scope
    result.verdict = {
        "culprit": top.service if top else None,
        "instance": top.instance if top else None,
        "scope": scope.kind,
        "level": scope.level,
        "subject": scope.subject,
        "summary": summary(report),
        "first_line": first_line(bot, incident),
        "parent": parent_text(bot, incident),
    }
    right_scope = scope.kind == result.truth["scope"]
    result.right = result.verdict["culprit"] == result.truth["culprit"] and right_scope
    console.print(f"[bold]report[/] {result.report_after_s:.0f} s after the injection: {summary(report)}")
    console.print(f"parent: {result.verdict['first_line']}", markup=False, highlight=False)
    _advice(bot, console, result, report)


def _advice(bot: Bot, console: Console, result: DemoResult, report: Report) -> None:
    """The patterns in the incident's worst traces, against those the fault planted."""
    advised = advise(bot.store.get_traces(report.worst_traces), journey=report.journey)
    result.advice = [
        {"kind": a.kind.value, "service": a.service, "callee": a.callee, "summary": advice_words(a)}
        for journey in advised.journeys
        for a in journey.advice
    ]
    result.fix_lines = [
        {"kind": g.kind.value, "service": g.service, "callee": g.callee, "summary": grown_words(g)}
        for g in report.grown_patterns
    ]
    planted = {tuple(p) for p in result.truth.get("advice") or ()}
    if planted:
        result.advice_right = planted <= {(a["kind"], a["service"], a["callee"]) for a in result.advice}
        result.fix_lines_right = planted <= {(a["kind"], a["service"], a["callee"]) for a in result.fix_lines}
    for a in result.advice:
        console.print(f"advice: {a['summary']}", markup=False, highlight=False)
    for a in result.fix_lines:
        console.print(f"thread's fix line: {a['summary']}", markup=False, highlight=False)


def _table(bot: Bot, traffic: Any, result: DemoResult, elapsed: float, options: DemoOptions) -> Table:
    table = Table(title=f"journeywatch demo — {options.fault} — {elapsed:.0f}/{options.duration_s:.0f} s")
    for column in ("journey", "requests", "errors", "mean ms", "fastest burn", "incident"):
        table.add_column(column)
    stats = traffic.stats().journeys
    for journey in bot.config.journeys:
        states = bot.states.current(journey.name)
        burn = max((s.long_burn for s in states if s.tier == "page-burst"), default=0.0)
        incident = bot.incidents.find(status="open", journey=journey.name, limit=1)
        s = stats.get(journey.name)
        table.add_row(
            journey.name,
            str(s.requests if s else 0),
            str(s.errors if s else 0),
            f"{s.mean_ms:.0f}" if s else "-",
            f"{burn:.1f}x",
            f"#{incident[0]['id']} {incident[0]['severity']}" if incident else "-",
        )
    phase = "warm-up" if result.injected_at is None else "fault injected"
    table.caption = f"{phase}; pages at {result.bot_url}/journeys"
    return table


def _report(console: Console, fault: Any, result: DemoResult) -> None:
    table = Table(title=f"{result.fault}: {fault.summary}")
    table.add_column("")
    table.add_column("ground truth")
    table.add_column("journeywatch")
    verdict = result.verdict or {}
    truth = result.truth
    for label, key in (
        ("culprit", "culprit"),
        ("scope", "scope"),
        ("level", "level"),
        ("subject", "subject"),
    ):
        table.add_row(label, str(truth.get(key) or "-"), str(verdict.get(key) or "-"))
    console.print(table)
    if result.verdict is None:
        console.print("[bold red]no report within the run[/]: try a longer --duration")
        return
    mark = "[bold green]right[/]" if result.right else "[bold red]wrong[/]"
    console.print(
        f"verdict {mark}; incident opened {result.opened_after_s:.0f} s and report ready "
        f"{result.report_after_s:.0f} s after the injection"
    )
    console.print(f"incident page: {result.bot_url}/incidents/{result.incident_id}")


def _opened_s(incident: dict[str, Any]) -> float:
    return _parse_iso(incident["opened_at"])


def _parse_iso(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
