"""OTLP metrics ingest benchmark: /v1/metrics (protobuf) into a real `journeywatch serve`,
then what an investigation's read of those points costs.

Each request is one SDK export of one service instance: 50 instruments of 4 attribute sets
each (200 points: cumulative counters, gauges, explicit histograms of 15 buckets,
exponential histograms of 40), the resource an SDK sends by default. Senders post them
back to back for a fixed time, as many services exporting at once, with keys off (as the
demo). Reports accepted and stored points/s, p50/p99 request latency, 503s and the peak
RSS of the server and its writer; then the built-in metrics source's read of one
service's points over the window (``BuiltinMetricSource.service_metrics``).

Last, one evaluation of a journey's SLI from a duration histogram (``sli.source:
metrics``) over 72 hours of one export a minute of 10 series (43,200 points in a store of
its own), the default windows asked at once as the watcher asks them: the first evaluation
reads every point, the next (30 s and one export later) reads what came since.

Run by hand:  .venv/bin/python bench/metrics_ingest.py [--seconds 20] [--senders 4] [--sli-only]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest

from bot.slo.config import MetricSli, MetricSlis
from bot.sources.base import SliQuery
from bot.sources.builtin import BuiltinMetricSource
from bot.sources.metric_sli import MetricSliSource
from bot.store import Store
from correlators.model import MetricDataPoint

INSTRUMENTS = 50
SETS = 4
POINTS = INSTRUMENTS * SETS
SERVICES = 20
S = 1_000_000_000


def export(service: int, step: int, now_ns: int) -> bytes:
    """One SDK export of ``service`` at ``step`` (cumulative values grow with it)."""
    request = ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    for key, value in (
        ("service.name", f"svc-{service}"),
        ("service.instance.id", f"svc-{service}-1"),
        ("telemetry.sdk.language", "python"),
        ("telemetry.sdk.name", "opentelemetry"),
        ("telemetry.sdk.version", "1.27.0"),
    ):
        resource.resource.attributes.add(key=key, value={"string_value": value})
    scope = resource.scope_metrics.add()
    for i in range(INSTRUMENTS):
        metric = scope.metrics.add(name=f"instrument.{i}", unit="ms")
        for j in range(SETS):
            attrs = [{"key": "http.route", "value": {"string_value": f"/route/{j}"}}]
            common = {
                "attributes": attrs,
                "start_time_unix_nano": now_ns - 3600 * S,
                "time_unix_nano": now_ns,
            }
            kind = i % 4
            if kind == 0:
                metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                metric.sum.is_monotonic = True
                metric.sum.data_points.add(as_int=step * 100 + j, **common)
            elif kind == 1:
                metric.gauge.data_points.add(as_double=float(step % 7 + j), **common)
            elif kind == 2:
                metric.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                counts = [step + k for k in range(16)]
                metric.histogram.data_points.add(
                    count=sum(counts),
                    sum=float(sum(counts) * 20),
                    explicit_bounds=[float(5 * 2**k) for k in range(15)],
                    bucket_counts=counts,
                    **common,
                )
            else:
                hist = metric.exponential_histogram
                hist.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
                point = hist.data_points.add(
                    count=40 * step, sum=800.0 * step, scale=3, zero_count=0, **common
                )
                point.positive.offset = 10
                point.positive.bucket_counts.extend([step] * 40)
    return request.SerializeToString()


@dataclass
class Sent:
    points: int = 0
    refused: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)


def send_for(url: str, seconds: float, senders: int) -> Sent:
    sent = Sent()
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def sender(index: int) -> None:
        step = 0
        mine = max(1, SERVICES // senders)  # each sender is the exporter of its own services
        with httpx.Client(base_url=url, timeout=30) as http:
            while time.monotonic() < stop_at:
                step += 1
                body = export(index * mine + step % mine, step, time.time_ns())
                began = time.perf_counter()
                response = http.post(
                    "/v1/metrics", content=body, headers={"content-type": "application/x-protobuf"}
                )
                took = time.perf_counter() - began
                with lock:
                    if response.status_code == 200:
                        sent.latencies.append(took)
                        sent.points += POINTS
                    elif response.status_code in (429, 503):
                        sent.refused += 1
                    else:
                        sent.errors += 1
                if response.status_code in (429, 503):
                    time.sleep(float(response.headers.get("retry-after", "1")))

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent.elapsed = time.monotonic() - began
    return sent


def stored(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        return int(connection.execute("SELECT count(*) FROM metric_points").fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--sli-only", action="store_true", help="only the SLI evaluations")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if args.sli_only:
        with tempfile.TemporaryDirectory() as tmp:
            sli_evaluation(Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        process, url, database, _ = ingest.start_server(folder, keep_all=False, keyed=False)
        try:
            started = time.time_ns()
            sent = send_for(url, args.seconds, args.senders)
            accepted = sent.points
            deadline = time.monotonic() + 120
            while stored(database) < accepted and time.monotonic() < deadline:
                time.sleep(0.2)
            latencies = sorted(sent.latencies)
            rss = [
                ingest.peak_rss_mb(process.pid),
                *(ingest.peak_rss_mb(c) for c in ingest.children(process.pid)),
            ]
            rate = accepted / sent.elapsed
            print(f"{accepted:,} points accepted in {sent.elapsed:.1f} s: {rate:,.0f} points/s")
            print(f"stored {stored(database):,}; 503/429: {sent.refused}, other errors: {sent.errors}")
            print(
                f"latency p50 {statistics.median(latencies) * 1e3:.1f} ms, "
                f"p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.1f} ms"
            )
            print("peak RSS (server / writer): " + " / ".join(f"{mb:.0f} MB" for mb in rss))
        finally:
            process.terminate()
            process.wait(30)
        store = Store(f"sqlite:///{database}")
        try:
            source = BuiltinMetricSource(store)
            began = time.perf_counter()
            series = source.service_metrics(["svc-0"], started - 60 * S, time.time_ns() + S, 60)
            took = time.perf_counter() - began
            points = sum(len(s.points) for s in series)
            print(
                f"investigation read of svc-0: {len(series)} series, {points:,} points in {took * 1e3:.0f} ms"
            )
        finally:
            store.close()
        sli_evaluation(folder)


def sli_evaluation(folder: Path) -> None:
    store = Store(f"sqlite:///{folder}/sli.db")
    store.migrate()
    end_s = int(time.time())
    minutes = 72 * 60
    bounds = (0.1, 0.25, 0.5, 1.0)

    def exported(minute: int, series: int) -> MetricDataPoint:
        labels = {
            "service.name": "checkout",
            "http.route": "/checkout",
            "http.response.status_code": str(200 + series),
        }
        buckets = (minute * 50.0, minute * 5.0, minute * 1.0, 0.0, float(minute % 3))
        return MetricDataPoint(
            "http.server.request.duration",
            "checkout",
            labels,
            (end_s - (minutes - minute) * 60) * S,
            (end_s - minutes * 60 - 60) * S,
            "histogram",
            "cumulative",
            False,
            0.0,
            sum(buckets),
            0.0,
            bounds,
            buckets,
            "s",
        )

    for series in range(10):
        store.write_metric_points([exported(minute, series) for minute in range(minutes)])
    slis = MetricSlis(service="checkout", latency=MetricSli(histogram="http.server.request.duration"))
    source = MetricSliSource(store, {"checkout": slis})
    windows = [60, 300, 1800, 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600, 30 * 24 * 3600]
    query = SliQuery("checkout", "latency", 400.0)
    began = time.perf_counter()
    counted = source.counts(query, end_s, windows)
    took = time.perf_counter() - began
    print(
        f"SLI evaluation, 43,200 points, {len(windows)} windows: {took * 1e3:.0f} ms "
        f"(last hour {counted[3600]})"
    )
    store.write_metric_points([exported(minutes, series) for series in range(10)])
    began = time.perf_counter()
    again = source.counts(query, end_s + 30, windows)
    took = time.perf_counter() - began
    print(f"the next evaluation, 30 s and 10 points later: {took * 1e3:.1f} ms (last hour {again[3600]})")
    store.close()


if __name__ == "__main__":
    main()
