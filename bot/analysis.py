"""Feeding the correlators from files: `journeywatch analyze` and `journeywatch advise`.

Spans are grouped into traces and given their journey from the config, as the collector
would; a trace no journey matches is analysed under its entry point ("frontend GET /x"),
so the command is useful before anyone has written a journeys file.

The files are read forgivingly (see :mod:`bot.telemetry_files`); what each read skipped is
set on the report as its ``input_gaps``, so the analysis never looks more complete than
its input was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import AppConfig
from bot.telemetry.journeys import assemble_traces
from bot.telemetry_files import FileRead, read_logs, read_metrics, read_spans
from correlators.advice import AdviceReport, advise
from correlators.analyze import AnalysisInput, analyze
from correlators.errors import InputFileError
from correlators.input_gaps import InputGap
from correlators.metrics import Window
from correlators.model import LogRecord, MetricSeries, Span
from correlators.report import Report


@dataclass(frozen=True)
class AnalyzeRequest:
    traces: Path
    baseline: Window
    incident: Window
    logs: Path | None = None
    metrics: Path | None = None
    journey: str | None = None


def run_analysis(request: AnalyzeRequest, config: AppConfig) -> Report:
    if request.baseline.end_ns <= request.baseline.start_ns:
        raise InputFileError("the baseline window ends before it starts")
    if request.incident.end_ns <= request.incident.start_ns:
        raise InputFileError("the incident window ends before it starts")
    spans = read_spans(request.traces)
    logs = read_logs(request.logs) if request.logs else None
    metrics = read_metrics(request.metrics) if request.metrics else None
    journey = config.journey(request.journey) if request.journey else None
    latency = journey.objectives.latency if journey else None
    report = analyze(
        AnalysisInput(
            traces=assemble_traces(spans.items, config),
            baseline=request.baseline,
            incident=request.incident,
            logs=logs.items if logs else None,
            metrics=metrics.items if metrics else None,
            journey=request.journey,
            latency_threshold_ms=latency.threshold_ms if latency else None,
        )
    )
    report.input_gaps = _gaps(spans, logs, metrics)
    return report


@dataclass(frozen=True)
class AdviseRequest:
    traces: Path
    window: Window | None = None
    """Traces that start in it; every trace of the file when None."""
    journey: str | None = None


def run_advice(request: AdviseRequest, config: AppConfig) -> AdviceReport:
    """The patterns of the window's traces per journey, read as `analyze` reads them."""
    window = request.window
    if window is not None and window.end_ns <= window.start_ns:
        raise InputFileError("the window ends before it starts")
    spans = read_spans(request.traces)
    traces = assemble_traces(spans.items, config)
    if window is not None:
        traces = [t for t in traces if t.start_ns in window]
    report = advise(traces, journey=request.journey)
    report.input_gaps = _gaps(spans, None, None)
    return report


@contextmanager
def cycles_uncollected() -> Iterator[None]:
    """No cyclic garbage collection while one analysis from files runs (the command's
    edge: a process that ends after it).

    Reading and analysing a 60,000-span case builds some 250,000 objects that all live
    until the report is written, and leaves nothing in cycles to reclaim before then (the
    span trees are cyclic, but kept for the whole analysis). The collector only rescans
    them: 0.5 s of the command's 3 s, with the same peak memory (174 MB) without it
    (bench/analyze_speed.py --files, docs/benchmarks.md).

    Collection is enabled again after, with what was built moved to the oldest generation
    (``freeze`` then ``unfreeze``, no scan): enabled as it was, the first allocation
    would scan all of it at once (0.14 s) just before the process ends. An in-process
    caller (the tests, bench/rca_eval.py) gets the analysis' trees collected by its next
    full collection. Objects frozen before are unfrozen too: only the server freezes, and
    it never analyses files.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def _gaps(
    spans: FileRead[Span], logs: FileRead[LogRecord] | None, metrics: FileRead[MetricSeries] | None
) -> list[InputGap]:
    return [read.gap for read in (spans, logs, metrics) if read is not None and read.gap is not None]
