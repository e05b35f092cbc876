"""What the service-metric templates cost Prometheus: one investigation's metric read.

Starts Debian's Prometheus (as the test suite does, scraping an in-process exporter every
second) with SERVICES services, each serving the stable HTTP histogram (16 buckets, two
status codes, two routes) and process metrics, then times
``PrometheusMetricSource.service_metrics`` over all of them, a 10-minute window at a
15 s step, with the templates of this checkout and with those of another one (``--before
/path/to/checkout``, e.g. the main worktree), alternating, REPEAT times each. Both read
the same series; the new templates also try the other naming conventions, which find
nothing here, so the difference is what those extra ``or`` branches cost.

    PYTHONPATH=. .venv/bin/python bench/promql_templates.py --before /work/main
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from types import ModuleType

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.sources.prometheus import PrometheusClient, PrometheusMetricSource
from bot.sources.promql import DEFAULT_QUERIES
from tests.fixtures.prometheus import PROMETHEUS, Exporter, _config, _free_port

S = 1_000_000_000
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def _load(checkout: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("promql_before", checkout / "bot/sources/promql.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _registry(services: list[str]) -> CollectorRegistry:
    registry = CollectorRegistry()
    labels = ["service_name", "http_route", "http_response_status_code"]
    http = Histogram(
        "http_server_request_duration_seconds", "http", labels, buckets=BUCKETS, registry=registry
    )
    cpu = Counter("process_cpu_seconds", "cpu", ["service_name"], registry=registry)
    rss = Gauge("process_resident_memory_bytes", "rss", ["service_name"], registry=registry)
    for service in services:
        for route in ("/a", "/b"):
            for code in ("200", "500"):
                http.labels(service, route, code).observe(0.04)
        cpu.labels(service).inc(1)
        rss.labels(service).set(1e8)
    return registry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", type=Path, required=True, help="a checkout whose templates to compare")
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    before = _load(args.before).DEFAULT_QUERIES
    services = [f"svc-{i}" for i in range(args.services)]
    exporter = Exporter()
    exporter.registry = _registry(services)
    root = Path(tempfile.mkdtemp(prefix="jw-bench-prom-"))
    (root / "prometheus.yml").write_text(_config(exporter))
    port = _free_port()
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        exporter.wait_scrapes(15, timeout=60)
        client = PrometheusClient(f"http://127.0.0.1:{port}", timeout_s=30)
        sources = {
            # templates the other checkout did not have are switched off (empty)
            "before": PrometheusMetricSource(
                client, queries={**dict.fromkeys(DEFAULT_QUERIES, ""), **before}, timeout_s=30
            ),
            "after": PrometheusMetricSource(client, queries=dict(DEFAULT_QUERIES), timeout_s=30),
        }
        times: dict[str, list[float]] = {name: [] for name in sources}
        found: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, source in sources.items():
                end_ns = time.time_ns()
                began = time.perf_counter()
                series = source.service_metrics(services, end_ns - 600 * S, end_ns, 15)
                times[name].append(time.perf_counter() - began)
                found[name] = len(series)
        for name, took in times.items():
            print(
                f"{name}: {len(sources[name].queries)} templates x {len(services)} services, "
                f"{found[name]} series, median {statistics.median(took) * 1000:.0f} ms "
                f"(min {min(took) * 1000:.0f}, max {max(took) * 1000:.0f})"
            )
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=15)
        exporter.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
