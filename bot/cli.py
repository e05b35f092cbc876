"""The `journeywatch` command line.

Every command turns a JourneywatchError into one clear line on stderr and exit code 2;
a traceback means a bug in journeywatch, never bad input.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from bot.config import AppConfig, load_config
from bot.render.report import report_json, report_text
from correlators.errors import JourneywatchError

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from bot.audit import AuditTrail
    from bot.keys import KeyInfo, KeyRegistry, NewKey
    from bot.settings import Settings
    from bot.store import Store

T = TypeVar("T")

app = typer.Typer(
    name="journeywatch",
    help="Watches user-journey SLOs and explains what broke.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(exc: JourneywatchError) -> typer.Exit:
    typer.echo(f"journeywatch: {exc}", err=True)
    return typer.Exit(code=2)


@app.command("check-config")
def check_config(
    path: Annotated[Path, typer.Argument(help="journeys.yaml (or a redaction.yaml)")],
) -> None:
    """Validate a config file; print what it defines, or the file, line and reason."""
    try:
        config = load_config(path)
    except JourneywatchError as exc:
        raise _fail(exc) from None
    names = ", ".join(j.name for j in config.journeys) or "none"
    typer.echo(f"{path}: ok — journeys: {names}; priority rules: {len(config.sampling.priority_rules)}")


@app.command("import-slo")
def import_slo(
    file: Annotated[Path, typer.Argument(help="OpenSLO v1 or Sloth YAML; documents may be ---separated.")],
    output: Annotated[Path | None, typer.Option(help="Write the journeys here instead of printing.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite --output if it exists.")] = False,
) -> None:
    """Turn OpenSLO and Sloth SLOs into journeys.yaml entries; warn of what is not carried over."""
    from bot.slo.importer import import_file, render_journeys, write_journeys

    try:
        result = import_file(file)
        text = render_journeys(result.journeys, source=file.name)
        if output is not None:
            write_journeys(output, text, force=force)
    except JourneywatchError as exc:
        raise _fail(exc) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"{output}: wrote {len(result.journeys)} journeys")
    for warning in result.warnings:
        typer.echo(f"journeywatch: warning: {warning}", err=True)


@app.command()
def analyze(
    traces: Annotated[Path, typer.Option(help="OTLP JSON Lines of traces (.gz too).")],
    baseline_start: Annotated[str, typer.Option(help="RFC 3339 or Unix seconds.")],
    baseline_end: Annotated[str, typer.Option()],
    incident_start: Annotated[str, typer.Option()],
    incident_end: Annotated[str, typer.Option()],
    logs: Annotated[Path | None, typer.Option(help="OTLP JSON Lines of logs.")] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(help="OTLP JSON Lines of metrics, or Prometheus query_range JSON."),
    ] = None,
    journey: Annotated[str | None, typer.Option(help="Analyse this journey only.")] = None,
    config: Annotated[Path, typer.Option(help="journeys.yaml")] = Path("config/journeys.yaml"),
    output_format: Annotated[str, typer.Option("--format", help="json or text")] = "text",
) -> None:
    """Say where it broke and how far it reaches, from telemetry files."""
    from bot.analysis import AnalyzeRequest, cycles_uncollected, run_analysis
    from bot.timeparse import parse_time_ns
    from correlators.metrics import Window

    if output_format not in ("json", "text"):
        raise typer.BadParameter("use json or text", param_hint="--format")
    try:
        times = [parse_time_ns(t) for t in (baseline_start, baseline_end, incident_start, incident_end)]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        app_config = load_config(config) if config.exists() else AppConfig()
        request = AnalyzeRequest(
            traces, Window(times[0], times[1]), Window(times[2], times[3]), logs, metrics, journey
        )
        with cycles_uncollected():
            report = run_analysis(request, app_config)
    except JourneywatchError as exc:
        raise _fail(exc) from None
    if output_format == "json":
        typer.echo(json.dumps(report_json(report), indent=2))
    else:
        typer.echo(report_text(report))


@app.command()
def advise(
    traces: Annotated[Path, typer.Option(help="OTLP JSON Lines of traces (.gz too).")],
    start: Annotated[str | None, typer.Option(help="Window start (RFC 3339, Unix s); default all.")] = None,
    end: Annotated[str | None, typer.Option(help="Window end; default all.")] = None,
    journey: Annotated[str | None, typer.Option(help="Advise on this journey only.")] = None,
    config: Annotated[Path, typer.Option(help="journeys.yaml")] = Path("config/journeys.yaml"),
    output_format: Annotated[str, typer.Option("--format", help="json or text")] = "text",
) -> None:
    """Say where a journey's time goes and what would win it back, from telemetry files."""
    from bot.analysis import AdviseRequest, cycles_uncollected, run_advice
    from bot.render.advice import advice_json, advice_text
    from bot.timeparse import parse_time_ns
    from correlators.metrics import Window

    if output_format not in ("json", "text"):
        raise typer.BadParameter("use json or text", param_hint="--format")
    if (start is None) != (end is None):
        raise typer.BadParameter("give both --start and --end, or neither")
    try:
        window = Window(parse_time_ns(start), parse_time_ns(end)) if start and end else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        app_config = load_config(config) if config.exists() else AppConfig()
        with cycles_uncollected():
            report = run_advice(AdviseRequest(traces, window, journey), app_config)
    except JourneywatchError as exc:
        raise _fail(exc) from None
    if output_format == "json":
        typer.echo(json.dumps(advice_json(report), indent=2))
    else:
        typer.echo(advice_text(report), nl=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (4318 is OTLP/HTTP's).")] = None,
    grpc_port: Annotated[
        int | None, typer.Option(help="OTLP/gRPC port (4317); 0 for any free one, -1 for none.")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL.")] = None,
    config: Annotated[Path | None, typer.Option(help="journeys.yaml")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run the collector, the store and the API on one port."""
    from bot.server import build_bot, create_app
    from bot.settings import load_settings

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {
        k: v
        for k, v in {
            "host": host,
            "port": port,
            "grpc_port": grpc_port,
            "database_url": database_url,
            "config_path": config,
        }.items()
        if v is not None
    }
    try:
        settings = load_settings(**overrides)
        app_config = load_config(settings.config_path)
        made_up = _ensure_token(settings)
        bot = build_bot(settings, app_config)
    except JourneywatchError as exc:
        raise _fail(exc) from None
    if made_up:
        typer.echo(
            f"pages and API need a token; this run's is {made_up} "
            "(set JOURNEYWATCH_API_TOKEN to choose one, JOURNEYWATCH_REQUIRE_TOKEN=false for none)"
        )
    _run_server(create_app(bot, announce=_say), settings, log_level)


def _say(line: str) -> None:
    typer.echo(line)
    sys.stdout.flush()


def _ensure_token(settings: Settings) -> str | None:
    """A random token for this run when none is set and one is required."""
    import secrets

    from pydantic import SecretStr

    if settings.api_token is not None or not settings.require_token:
        return None
    token = secrets.token_urlsafe(18)
    settings.api_token = SecretStr(token)
    return token


@app.command()
def demo(
    fault: Annotated[
        str,
        typer.Option(
            help="db-slow, payment-errors, bad-release, instance-cpu, flag-slow-path, n-plus-one or random"
        ),
    ] = "random",
    duration: Annotated[float, typer.Option(help="Seconds the whole run lasts.", min=30)] = 300,
    port: Annotated[int, typer.Option(help="The bot's port: OTLP, API and pages.")] = 4318,
    warmup: Annotated[float, typer.Option(help="Seconds of healthy traffic before the fault.", min=10)] = 60,
    rate: Annotated[float, typer.Option(help="Journeys per second.", min=0.5)] = 10,
    seed: Annotated[int, typer.Option(help="Traffic and --fault random are drawn from it.")] = 1,
    config: Annotated[Path, typer.Option(help="The demo's journeys file.")] = Path("config/demo.yaml"),
    data_dir: Annotated[Path, typer.Option(help="Emptied, then holds the run's database and logs.")] = Path(
        "data/demo"
    ),
    stop_after_verdict: Annotated[bool, typer.Option(help="End as soon as the report is in.")] = False,
    keep_serving: Annotated[
        bool, typer.Option(help="Keep the pages up after the run, until Ctrl-C.")
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option(help="Write the result (truth, verdict, timings) here.")
    ] = None,
) -> None:
    """Run the bot, a polyglot shop and its traffic; inject a fault; show what the bot found."""
    from rich.console import Console

    from bot.demo_runner import DemoOptions, choose_fault, run_demo

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    console = Console()
    try:
        chosen = choose_fault(fault, seed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    if warmup >= duration:
        raise typer.BadParameter("the warm-up must be shorter than the run", param_hint="--warmup")
    options = DemoOptions(
        chosen,
        duration,
        port,
        warmup,
        rate,
        seed,
        config,
        stop_after_verdict=stop_after_verdict,
        json_out=json_out,
    )
    try:
        result = run_demo(options, console, keep_serving=keep_serving)
    except JourneywatchError as exc:
        raise _fail(exc) from None
    except KeyboardInterrupt:
        console.print("stopped: every process of the demo has been ended")
        raise typer.Exit(code=130) from None
    if result.verdict is None:
        raise typer.Exit(code=1)


@app.command()
def accuracy(
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL.")] = None,
    output_format: Annotated[str, typer.Option("--format", help="json or text")] = "text",
) -> None:
    """How often the root cause was right, per journey, from the on-call engineers'
    answers to "Was the root cause right?" after each resolved incident."""
    from bot.incidents.accuracy import accuracy_table
    from bot.incidents.repository import IncidentRepository
    from bot.settings import load_settings
    from bot.store import Store

    try:
        settings = load_settings(**({"database_url": database_url} if database_url else {}))
        store = Store(settings.database_url)
        store.migrate()
        table = accuracy_table(IncidentRepository(store.engine).accuracy())
        store.close()
    except JourneywatchError as exc:
        raise _fail(exc) from None
    if output_format == "json":
        typer.echo(json.dumps(table, indent=2))
        return
    if not table:
        typer.echo("No verdicts yet: they come from the buttons under resolved incidents in Slack.")
        return
    typer.echo(f"{'journey':16} {'verdicts':>8} {'right':>7} {'<=1 hop':>8} {'area':>7} {'wrong':>7}")
    for row in table:
        typer.echo(
            f"{row['journey']:16} {row['verdicts']:>8} {row['right']:>7.0%} {row['within_one_hop']:>8.0%} "
            f"{row['area']:>7.0%} {row['wrong']:>7.0%}"
        )


keys_app = typer.Typer(
    help="Keys: who may send telemetry as which services, who may read which journeys, until when.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
DatabaseOption = Annotated[str | None, typer.Option(help="SQLAlchemy URL.")]


@keys_app.command("create")
def keys_create(
    team: Annotated[str, typer.Option(help="The team the key belongs to.")],
    services: Annotated[
        str | None, typer.Option(help="Comma-separated service.name values it may send; default any.")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Lifetime, e.g. 90d; default none.")] = None,
    scopes: Annotated[
        str | None,
        typer.Option(help="ingest, changes (POST /api/changes), or both; default ingest, none with --role."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option(help="An access key for the API and pages: viewer, responder or admin."),
    ] = None,
    journeys: Annotated[
        str | None,
        typer.Option(help="With --role: journeys it reads besides its team's (owner), or * for all."),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Make a key; print it once (only its hash is kept)."""
    lifetime = _duration(expires, "--expires") if expires else None
    names = services.split(",") if services is not None else None
    wanted = scopes.split(",") if scopes is not None else None
    journey_names = journeys.split(",") if journeys is not None else None
    new = _keys(
        database_url,
        lambda r: r.create(
            team,
            services=names,
            scopes=wanted,
            expires_in_s=lifetime,
            role=role,
            journeys=journey_names,
        ),
        _audit_created,
    )
    typer.echo(f"key {new.info.id} for team {new.info.team}: {new.key}")
    use = "readers" if new.info.role is not None else "senders"
    typer.echo(f"shown once: give it to the {use} as the header Authorization: Bearer <key>", err=True)


@keys_app.command("list")
def keys_list(
    all_keys: Annotated[bool, typer.Option("--all", help="Revoked keys too.")] = False,
    output_format: Annotated[str, typer.Option("--format", help="json or text")] = "text",
    database_url: DatabaseOption = None,
) -> None:
    """The keys, without their secrets."""
    import time

    from bot.keys.listing import key_json, key_line

    found = _keys(database_url, lambda r: r.listed(include_revoked=all_keys))
    now = time.time()
    if output_format == "json":
        typer.echo(json.dumps([key_json(k, now) for k in found], indent=2))
        return
    for info in found:
        typer.echo(key_line(info, now))
    if not found:
        typer.echo("No keys: make one with `journeywatch keys create --team <team>`.")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id.")], database_url: DatabaseOption = None
) -> None:
    """Refuse a key from now on (servers see it within JOURNEYWATCH_INGEST_KEYS__CACHE_TTL_S)."""
    info = _keys(database_url, lambda r: r.revoke(key_id), _audit_revoked)
    typer.echo(f"key {info.id} of team {info.team} is revoked")


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key's id.")],
    overlap: Annotated[
        str, typer.Option(help="How long the old key keeps working, e.g. 7d; 0 for not at all.")
    ] = "7d",
    database_url: DatabaseOption = None,
) -> None:
    """Make a key like KEY_ID; KEY_ID keeps working for the overlap, then stops."""
    from bot.keys.listing import when

    seconds = 0.0 if overlap.strip() == "0" else _duration(overlap, "--overlap")
    old, new = _keys(database_url, lambda r: r.rotate(key_id, overlap_s=seconds), _audit_rotated)
    typer.echo(f"key {new.info.id} for team {new.info.team}: {new.key}")
    typer.echo(f"key {old.id} works until {when(old.expires_at)}; move every sender before then", err=True)


def _duration(text: str, option: str) -> float:
    from bot.durations import parse_duration

    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _keys(
    database_url: str | None,
    action: Callable[[KeyRegistry], T],
    audited: Callable[[AuditTrail, T], object] | None = None,
) -> T:
    """``action`` on the configured database's keys, then ``audited`` of its result (a
    key made, revoked or rotated); a JourneywatchError as one line."""
    from bot.keys import KeyRegistry

    def run(store: Store, trail: AuditTrail) -> T:
        result = action(KeyRegistry(store.engine))
        if audited is not None:
            audited(trail, result)
        return result

    return _with_store(database_url, run)


def _with_store(database_url: str | None, action: Callable[[Store, AuditTrail], T]) -> T:
    """``action`` on the configured database, migrated, with its audit trail (the CLI's
    entries are by ``cli``); a JourneywatchError as one line."""
    from bot.audit import AuditTrail
    from bot.settings import load_settings
    from bot.store import Store

    try:
        settings = load_settings(**({"database_url": database_url} if database_url else {}))
        store = Store(settings.database_url)
        try:
            store.migrate()
            trail = AuditTrail(store.engine, retention_s=settings.retention.audit_hours * 3600)
            return action(store, trail)
        finally:
            store.close()
    except JourneywatchError as exc:
        raise _fail(exc) from None


def _audit_created(trail: AuditTrail, new: NewKey) -> None:
    from bot.audit import CLI

    info = new.info
    services = None if info.services is None else ",".join(sorted(info.services))
    trail.record(
        CLI,
        "cli",
        "create",
        "ingest_key",
        info.id,
        team=info.team,
        services=services,
        scopes=",".join(sorted(info.scopes)),
        expires_at=info.expires_at,
        **_access_detail(info),
    )


def _access_detail(info: KeyInfo) -> dict[str, str]:
    """An access key's role and journeys, for the audit trail (nothing for an ingest key)."""
    if info.role is None:
        return {}
    journeys = "*" if info.journeys is None else ",".join(sorted(info.journeys))
    return {"role": info.role.label, "journeys": journeys}


def _audit_revoked(trail: AuditTrail, info: KeyInfo) -> None:
    from bot.audit import CLI

    trail.record(CLI, "cli", "revoke", "ingest_key", info.id, team=info.team)


def _audit_rotated(trail: AuditTrail, keys: tuple[KeyInfo, NewKey]) -> None:
    from bot.audit import CLI

    old, new = keys
    detail = {"team": old.team, "new": new.info.id, "old_expires_at": old.expires_at}
    trail.record(CLI, "cli", "rotate", "ingest_key", old.id, **detail)


@app.command("audit-log")
def audit_log(
    since: Annotated[str, typer.Option(help="How far back, e.g. 7d or 12h, or a time (RFC 3339).")] = "7d",
    output_format: Annotated[str, typer.Option("--format", help="json or text")] = "text",
    limit: Annotated[int, typer.Option(help="At most this many, the newest.", min=1, max=10_000)] = 1000,
    database_url: DatabaseOption = None,
) -> None:
    """Who read which trace, session or incident, who acted on incidents and keys, and
    what the bot posted where; oldest first. Reading it is recorded too."""
    import time

    from bot.audit import CLI
    from bot.audit.listing import entry_json, entry_line

    if output_format not in ("json", "text"):
        raise typer.BadParameter("use json or text", param_hint="--format")
    start_s = _since(since, time.time())

    def read(_: Store, trail: AuditTrail) -> list[Any]:
        found = trail.since(start_s, limit=limit)
        trail.record(CLI, "cli", "read", "audit_log", shown=len(found))
        return found

    found = list(reversed(_with_store(database_url, read)))
    if output_format == "json":
        typer.echo(json.dumps([entry_json(r) for r in found], indent=2))
        return
    for record in found:
        typer.echo(entry_line(record))
    if not found:
        typer.echo(f"Nothing recorded since {since}.")


def _since(text: str, now_s: float) -> float:
    """The start of ``--since``: a duration back from now, or a time."""
    from bot.durations import parse_duration
    from bot.timeparse import parse_time_ns

    try:
        return now_s - parse_duration(text)
    except ValueError:
        pass
    try:
        return parse_time_ns(text) / 1e9
    except ValueError:
        reason = f"{text!r} is neither a duration (7d, 12h) nor a time"
        raise typer.BadParameter(reason, param_hint="--since") from None


def _run_server(asgi_app: ASGIApp, settings: Settings, log_level: str) -> None:
    """Bind first, then announce the real address: `--port 0` picks a free port."""
    import socket

    import uvicorn

    from bot.edge.serving import server_config
    from bot.server import tune_garbage_collector

    host, port = settings.host, settings.port

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # before announcing: a client that connects now waits, not fails
    bound = sock.getsockname()[1]
    typer.echo(
        f"journeywatch listening on http://{host}:{bound} "
        "(OTLP /v1/traces /v1/logs, Zipkin /api/v2/spans, API /api/traces)",
    )
    sys.stdout.flush()
    tune_garbage_collector()
    server = uvicorn.Server(server_config(asgi_app, settings.http, log_level))
    server.run(sockets=[sock])


def main() -> None:
    try:
        app()
    finally:
        # The process ends next: what the command built is left to the operating system,
        # not scanned for cycles at interpreter exit (0.25 s after a 60,000-span analysis,
        # whose span trees are cyclic garbage by then; bench/analyze_speed.py --files).
        gc.freeze()


if __name__ == "__main__":
    main()
