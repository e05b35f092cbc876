"""Ingest benchmark: OTLP over HTTP (protobuf, or JSON with --json), 512-span batches,
into SQLite.

Starts `journeywatch serve` (keep-all sampling, so every span is written: the worst case
for the store) and plays 512-span batches at it from this separate process for a fixed
time, several requests in flight. Reports, in one run:

- accepted spans/s (what the HTTP endpoint took) and sustained spans/s: spans written to
  the database per second in the steady state, after a warm-up of the quiet period
  (10 s, the default) plus 5 s, until sending stops;
- p50/p99 request latency and 503 refusals;
- the server's peak RSS (VmHWM);
- the two bounds for the same rows: decode alone (of the encoding sent) and SQLite insert
  alone.

``--json`` sends the same requests in the OTLP/JSON encoding (proto3 JSON with hex ids and
integer enums, as the OTLP specification has it and SDKs' http/json exporters send them).
``--protocol grpc`` sends the protobuf requests over OTLP/gRPC (``TraceService/Export``,
one channel per sender, the key in the metadata) instead of HTTP.

Each request carries an ingest key made with `journeywatch keys create` (as `serve` requires
by default); `--no-key` turns keys off instead, as the demo does.

Run by hand:  .venv/bin/python bench/ingest.py [--seconds 60] [--senders 4] [--json] [--no-key]
                  [--protocol http|grpc]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import grpc
import httpx
import orjson
import yaml
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

REPO = Path(__file__).resolve().parents[1]
SCOPE = InstrumentationScope(name="opentelemetry.instrumentation.flask", version="0.50b0")
"""Every SDK names the library that made a span; the store keeps it (schema 13)."""
sys.path.insert(0, str(REPO))

from bot.store import Store  # noqa: E402
from bot.telemetry.otlp import decode_traces  # noqa: E402
from correlators.model import Trace  # noqa: E402

SPANS_PER_BATCH = 512
TRACES_PER_BATCH = 16
SERVICES = ("frontend", "cart", "payments", "inventory")
BATCH_TEMPLATES = 128
"""Enough distinct batches that their unique attribute values (order.id, 65k of them)
overflow the decoder's cache of attribute pairs, as real ids would."""

Encoding = Literal["protobuf", "json"]
CONTENT_TYPE: dict[Encoding, str] = {"protobuf": "application/x-protobuf", "json": "application/json"}
Template = tuple[bytes, list[bytes]]
"""A request body and the trace ids in it, as they stand in the body (bytes, or hex)."""


def kv(key: str, value: object) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def batch_template(seed: int) -> Template:
    """One 512-span request (16 traces x 32 spans over 4 services, 10 attributes a span,
    one of them unique to the span) and its trace ids, which the sender swaps for fresh
    ones on every send."""
    trace_ids = [os.urandom(16) for _ in range(TRACES_PER_BATCH)]
    per_service: dict[str, list[Span]] = defaultdict(list)
    start = time.time_ns()
    spans_per_trace = SPANS_PER_BATCH // TRACES_PER_BATCH
    for t, trace_id in enumerate(trace_ids):
        for i in range(spans_per_trace):
            service = SERVICES[0] if i == 0 else SERVICES[1 + i % 3]
            span = Span(
                trace_id=trace_id,
                span_id=os.urandom(8),
                parent_span_id=b"" if i == 0 else os.urandom(8),
                name="POST /checkout" if i == 0 else f"op-{i % 7}",
                kind=Span.SPAN_KIND_SERVER if i % 4 == 0 else Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=start + i * 1_000_000,
                end_time_unix_nano=start + i * 1_000_000 + 800_000 + seed * 1000,
                status=Status(code=Status.STATUS_CODE_ERROR if (t + i) % 97 == 0 else 0),
                attributes=[
                    kv("http.request.method", "POST"),
                    kv("http.route", f"/api/v1/items/{i % 5}"),
                    kv("http.response.status_code", 200),
                    kv("server.address", "cart.internal"),
                    kv("user.tier", "free" if t % 3 else "pro"),
                    kv("session.id", f"s-{seed}-{t}"),
                    kv("feature_flag.new_cart", bool(t % 2)),
                    kv("db.system", "postgresql"),
                    kv("payment.amount", 20 + t),
                    kv("order.id", f"o-{seed}-{t}-{i}"),  # unique to the span
                ],
            )
            per_service[service].append(span)
    resource_spans = [
        ResourceSpans(
            resource=Resource(
                attributes=[
                    kv("service.name", name),
                    kv("service.instance.id", f"{name}-1"),
                    kv("service.version", "1.4.2"),
                    kv("telemetry.sdk.language", "python"),
                    kv("cloud.region", "eu-west-1"),
                    kv("cloud.availability_zone", "eu-west-1a"),
                    kv("host.name", f"host-{name}"),
                ]
            ),
            scope_spans=[ScopeSpans(scope=SCOPE, spans=spans)],
        )
        for name, spans in per_service.items()
    ]
    body = ExportTraceServiceRequest(resource_spans=resource_spans).SerializeToString()
    return body, trace_ids


def otlp_json(template: Template) -> Template:
    """The same request in the OTLP/JSON encoding: proto3 JSON, but ids in hex and enums
    as integers, as the OTLP specification has it."""
    body, trace_ids = template
    data = MessageToDict(ExportTraceServiceRequest.FromString(body), use_integers_for_enums=True)
    for resource_spans in data["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in span:
                        span[field] = base64.b64decode(span[field]).hex()
    return orjson.dumps(data), [trace_id.hex().encode() for trace_id in trace_ids]


def fresh(body: bytes, trace_ids: list[bytes]) -> bytes:
    """The body with new trace ids, in the form the old ones had (16 bytes, or 32 hex
    digits)."""
    for trace_id in trace_ids:
        new = os.urandom(16)
        body = body.replace(trace_id, new if len(trace_id) == 16 else new.hex().encode())
    return body


WATCH = True
"""False (--no-watch): the SLO watcher's first evaluation is a day away, so the run
measures ingest alone, without an incident and its investigation in the same process."""


def bench_config(folder: Path, keep_all: bool, watch: bool | None = None) -> Path:
    """The shipped config; with keep_all, every trace is kept (every span is written);
    without watch (default: --no-watch's WATCH), the SLO watcher's first run is a day away."""
    config = yaml.safe_load((REPO / "config" / "journeys.yaml").read_text())
    if not (WATCH if watch is None else watch):
        config["watcher"] = {**config.get("watcher", {}), "evaluate_every": "1d"}
    if keep_all:
        config["sampling"]["default_keep_fraction"] = 1.0
        for journey in config["journeys"]:
            journey["keep_fraction"] = 1.0
    shutil.copy(REPO / "config" / "redaction.yaml", folder / "redaction.yaml")
    path = folder / "journeys.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_server(folder: Path, keep_all: bool, keyed: bool) -> tuple[subprocess.Popen[str], str, Path, str]:
    """The server, and the ingest key its senders present ("" with ``keyed`` false: keys
    are then not required, as in the demo)."""
    database = folder / "ingest.db"
    env = dict(os.environ)  # default settings: 10 s quiet period, default budgets
    env["JOURNEYWATCH_REQUIRE_TOKEN"] = "false"  # the incident API, read at the end
    key = make_key(database, env) if keyed else ""
    if not keyed:
        env["JOURNEYWATCH_INGEST_KEYS__REQUIRED"] = "false"
    process, url = serve(database, bench_config(folder, keep_all), folder / "serve.log", env)
    return process, url, database, key


def make_key(database: Path, env: dict[str, str]) -> str:
    """An ingest key for every service, made with the CLI as an operator would."""
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "keys",
            "create",
            "--team",
            "bench",
            "--database-url",
            f"sqlite:///{database}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.split()[-1]


def serve(
    database: Path,
    config: Path,
    log_path: Path,
    env: dict[str, str],
    *,
    cwd: Path = REPO,
    timeout_s: float = 30,
) -> tuple[subprocess.Popen[str], str]:
    """`journeywatch serve` (from ``cwd``'s tree) on a free loopback port, its output in
    ``log_path``; the process and its URL once it says it listens."""
    command = [
        sys.executable,
        *("-m", "bot.cli", "serve", "--port", "0", "--log-level", "warning"),
        *("--database-url", f"sqlite:///{database}", "--config", str(config)),
    ]
    env = {"JOURNEYWATCH_GRPC_PORT": "0", **env}  # a free port, never a busy 4317 (older trees ignore it)
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, text=True
        )
    return process, _announced(process, log_path, r"listening on (http://\S+)", timeout_s)


def _announced(process: subprocess.Popen[str], log_path: Path, pattern: str, timeout_s: float = 30) -> str:
    """What the server's log says where ``pattern`` matches, once it does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = re.search(pattern, log_path.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"server did not start:\n{log_path.read_text()}")


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


class Timeline(threading.Thread):
    """--timeline: every 2 s, both processes' RSS beside what the collector holds."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.url, self.pid = url, pid
        self.done = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        while not self.done.wait(2.0):
            try:
                health = httpx.get(f"{self.url}/healthz", timeout=5).json()
                writers = sum(rss_mb(child) for child in children(self.pid))
                print(
                    f"  t={time.monotonic() - began:5.0f}s  RSS {rss_mb(self.pid):4.0f} + {writers:4.0f} MB"
                    f"  buffered {health['collector']['buffered_spans']:7,} spans"
                    f"  pending writes {health['pending_writes']:6,}",
                    flush=True,
                )
            except (httpx.HTTPError, OSError):
                continue


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in found]


Sent = tuple[Literal["ok", "refused", "error"], float]
"""How a request went, and for a refusal how long to wait before the next."""
_GRPC_TRACES = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_GRPC_RETRIED = (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)


@contextlib.contextmanager
def _transport(
    url: str, grpc_target: str | None, headers: dict[str, str]
) -> Iterator[Callable[[bytes], Sent]]:
    """One sender's connection: an HTTP client, or a gRPC channel when ``grpc_target``."""
    if grpc_target is None:
        with httpx.Client(base_url=url, timeout=30) as http:

            def over_http(payload: bytes) -> Sent:
                response = http.post("/v1/traces", content=payload, headers=headers)
                if response.status_code == 200:
                    return "ok", 0.0
                if response.status_code in (429, 503):
                    return "refused", float(response.headers.get("retry-after", "1"))
                return "error", 0.0

            yield over_http
        return
    metadata = [(k, v) for k, v in headers.items() if k == "authorization"]
    with grpc.insecure_channel(grpc_target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        export = channel.unary_unary(_GRPC_TRACES)

        def over_grpc(payload: bytes) -> Sent:
            try:
                export(payload, metadata=metadata, timeout=30)
            except grpc.RpcError as exc:
                return ("refused", 1.0) if exc.code() in _GRPC_RETRIED else ("error", 0.0)
            return "ok", 0.0

        yield over_grpc


def send_for(
    url: str,
    templates: list[Template],
    seconds: float,
    senders: int,
    rate: float = 0,
    encoding: Encoding = "protobuf",
    key: str = "",
    grpc_target: str | None = None,
) -> dict:
    """As fast as the server takes them, or paced to ``rate`` spans/s in all (so that
    memory can be compared at equal load on a machine whose speed varies)."""
    latencies: list[float] = []
    counts = {"spans": 0, "refused": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    headers = {"content-type": CONTENT_TYPE[encoding], **({"authorization": f"Bearer {key}"} if key else {})}

    def sender(index: int) -> None:
        interval = senders * SPANS_PER_BATCH / rate if rate else 0.0
        with _transport(url, grpc_target, headers) as send:
            n = index
            due = time.monotonic()
            while time.monotonic() < stop_at:
                if interval:
                    due += interval
                    time.sleep(max(0.0, due - time.monotonic()))
                body, ids = templates[n % len(templates)]
                n += senders
                payload = fresh(body, ids)
                began = time.perf_counter()
                status, retry_after = send(payload)
                took = time.perf_counter() - began
                with lock:
                    if status == "ok":
                        latencies.append(took)
                        counts["spans"] += SPANS_PER_BATCH
                    elif status == "refused":
                        counts["refused"] += 1
                    else:
                        counts["errors"] += 1
                if status == "refused":
                    time.sleep(retry_after)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {**counts, "latencies": latencies, "elapsed": time.monotonic() - began, "began": began}


class SteadyWindow(threading.Thread):
    """Counts the spans in the database after the warm-up and when sending stops."""

    def __init__(self, database: Path, warmup: float, seconds: float) -> None:
        super().__init__(daemon=True)
        self.database, self.warmup, self.seconds = database, warmup, seconds
        self.rate = 0.0

    def run(self) -> None:
        began = time.monotonic()
        time.sleep(self.warmup)
        first, first_at = count_spans(self.database), time.monotonic()
        time.sleep(max(0.0, self.seconds - (first_at - began)))
        last, last_at = count_spans(self.database), time.monotonic()
        self.rate = (last - first) / (last_at - first_at)


def wait_drained(url: str, timeout: float = 300) -> None:
    """Until the collector has decided every trace and the writer has written it all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = httpx.get(f"{url}/healthz", timeout=10).json()
        if health["pending_writes"] == 0 and health["collector"]["buffered_spans"] == 0:
            return
        time.sleep(0.2)
    raise SystemExit("collector did not drain")


def investigated(url: str) -> str:
    """What the watcher did meanwhile: the run's point is ingest beside an investigation."""
    found = httpx.get(f"{url}/api/incidents", timeout=10).json()["incidents"]
    reports = 0
    for incident in found:
        detail = httpx.get(f"{url}/api/incidents/{incident['id']}", timeout=10).json()
        reports += detail.get("report") is not None
    return f"{len(found)} incidents opened, {reports} investigated"


def count_spans(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("select count(*) from spans").fetchone()[0])


def decode_bound(templates: list[Template], encoding: Encoding) -> float:
    bodies = [body for body, _ in templates]
    began = time.perf_counter()
    spans = 0
    for _ in range(2):
        for body in bodies:
            spans += len(decode_traces(body, encoding).items)
    return spans / (time.perf_counter() - began)


def insert_bound(templates: list[Template], folder: Path, encoding: Encoding) -> float:
    store = Store(f"sqlite:///{folder / 'insert-bound.db'}")
    store.migrate()
    batches = []
    for _ in range(2):
        for body, ids in templates:
            spans = decode_traces(fresh(body, ids), encoding).items
            by_trace: dict[str, list] = defaultdict(list)
            for span in spans:
                by_trace[span.trace_id].append(span)
            batches.append([Trace(trace_id=t, spans=s, journey="checkout") for t, s in by_trace.items()])
    # ten 512-span batches a transaction, as the writer coalesces them under load
    chunks = [[t for b in batches[i : i + 10] for t in b] for i in range(0, len(batches), 10)]
    began = time.perf_counter()
    for traces in chunks:
        store.write_traces(traces)
    took = time.perf_counter() - began
    store.close()
    return len(batches) * SPANS_PER_BATCH / took


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument(
        "--sampling",
        choices=["keep-all", "default"],
        default="keep-all",
        help="keep-all writes every span (the worst case); default uses config/journeys.yaml",
    )
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0, help="offered spans/s in all (0: as fast as taken)")
    parser.add_argument("--no-watch", action="store_true", help="ingest alone: no SLO evaluation")
    parser.add_argument("--timeline", action="store_true", help="print RSS and buffers every 2 s")
    parser.add_argument("--json", action="store_true", help="send OTLP/JSON instead of protobuf")
    parser.add_argument("--no-key", action="store_true", help="ingest keys not required (the demo's setting)")
    parser.add_argument("--protocol", choices=["http", "grpc"], default="http", help="OTLP over HTTP or gRPC")
    args = parser.parse_args()
    if args.protocol == "grpc" and args.json:
        parser.error("--json is an HTTP encoding; gRPC sends protobuf")
    global WATCH
    WATCH = not args.no_watch
    encoding: Encoding = "json" if args.json else "protobuf"

    templates = [batch_template(seed) for seed in range(BATCH_TEMPLATES)]
    if encoding == "json":
        templates = [otlp_json(template) for template in templates]
    with tempfile.TemporaryDirectory(prefix="jw-ingest-") as tmp:
        folder = Path(tmp)
        process, url, database, key = start_server(folder, args.sampling == "keep-all", not args.no_key)
        try:
            window = SteadyWindow(database, args.warmup, args.seconds)
            window.start()
            timeline = Timeline(url, process.pid)
            if args.timeline:
                timeline.start()
            cpu_before = time.process_time()
            target = _announced(process, folder / "serve.log", r"OTLP/gRPC listening on (\S+)")
            grpc_target = target if args.protocol == "grpc" else None
            sent = send_for(url, templates, args.seconds, args.senders, args.rate, encoding, key, grpc_target)
            sender_cpu = time.process_time() - cpu_before
            timeline.done.set()
            window.join()
            wait_drained(url)
            rss = peak_rss_mb(process.pid)
            writer_rss = sum(peak_rss_mb(child) for child in children(process.pid))
            server_cpu = cpu_seconds(process.pid)
            writer_cpu = sum(cpu_seconds(child) for child in children(process.pid))
            health = httpx.get(f"{url}/healthz", timeout=10).json()
            incidents = investigated(url)
        finally:
            process.terminate()
            process.wait(timeout=30)
        stored = count_spans(database)
        decode_rate = decode_bound(templates, encoding)
        insert_rate = insert_bound(templates, folder, encoding)

    latencies = sorted(sent["latencies"])
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"sent for {sent['elapsed']:.1f}s with {args.senders} senders, 512-span {encoding} batches "
        f"over {args.protocol} ({statistics.mean(len(body) for body, _ in templates) / 1024:.0f} KiB each), "
        f"sampling {args.sampling}" + (f", offered {args.rate:,.0f} spans/s" if args.rate else "")
    )
    print(
        f"accepted:  {sent['spans'] / sent['elapsed']:,.0f} spans/s  "
        f"({sent['refused']} refused 503, {sent['errors']} errors)"
    )
    print(
        f"sustained: {window.rate:,.0f} spans/s written in the steady state ({stored:,} spans stored in all)"
    )
    print(f"collector: {health['collector']}")
    print(f"watcher: {incidents}")
    print(f"request latency: p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99:.1f} ms")
    print(f"peak RSS: collector process {rss:.0f} MB, writer process {writer_rss:.0f} MB")
    print(
        f"CPU over the run: server {server_cpu:.0f} s ({server_cpu / stored * 1e6:.0f} us a span stored), "
        f"writer {writer_cpu:.0f} s, this sender {sender_cpu:.0f} s, wall {sent['elapsed']:.0f} s"
    )
    print(f"bound, {encoding} decode alone: {decode_rate:,.0f} spans/s")
    print(f"bound, SQLite insert alone:   {insert_rate:,.0f} spans/s")


if __name__ == "__main__":
    main()
