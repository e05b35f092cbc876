"""The collector's per-span cost, stage by stage, on bench/ingest.py's batches.

Where a span's time goes between the request body and the row handed to the writer,
measured in this process with the garbage collector off (best of 3 passes over 256
batches, 131k spans): decode alone; redaction of decoded spans (the whole-span path
Zipkin takes); decode with attributes redacted through the pair cache plus the rest of
the span's redaction (the OTLP path); rows for the store; their pickling to the writer.

Run by hand:  .venv/bin/python bench/ingest_stages.py
"""

from __future__ import annotations

import gc
import os
import pickle
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import ingest  # noqa: E402

from bot.config import load_config  # noqa: E402
from bot.store.rows import Rows, to_rows  # noqa: E402
from bot.telemetry.lite import PairCache  # noqa: E402
from bot.telemetry.otlp import decode_traces  # noqa: E402
from bot.telemetry.redact import Redactor  # noqa: E402
from correlators.model import Span, Trace  # noqa: E402

BATCHES = 256


def per_span_us(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - began)
    return best / (BATCHES * ingest.SPANS_PER_BATCH) * 1e6


def main() -> None:
    gc.disable()
    config = load_config(ingest.bench_config(Path(tempfile.mkdtemp()), keep_all=True))
    redactor = Redactor(config.redaction, os.urandom(32))
    templates = [ingest.batch_template(seed) for seed in range(ingest.BATCH_TEMPLATES)]
    bodies = [ingest.fresh(*templates[i % len(templates)]) for i in range(BATCHES)]
    decoded: list[list[Span]] = []
    rows: list[Rows] = []
    pairs = PairCache(redactor.redact_pair)

    def decode() -> None:
        decoded[:] = [decode_traces(body, "protobuf").items for body in bodies]

    def redact_whole() -> None:
        for spans in decoded:
            for span in spans:
                redactor.redact_span(span)

    def decode_redacting() -> None:
        decoded[:] = [decode_traces(body, "protobuf", pairs).items for body in bodies]
        for spans in decoded:
            for span in spans:
                redactor.redact_span(span, attributes=False)

    def build_rows() -> None:
        rows[:] = [to_rows(trace_batch=[Trace(spans[0].trace_id, spans)]) for spans in decoded]

    def pickle_rows() -> None:
        for batch in rows:
            pickle.dumps((1, batch), protocol=pickle.HIGHEST_PROTOCOL)

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"decode alone                       {per_span_us(decode):6.2f} us/span")
    print(f"redact decoded spans (whole span)  {per_span_us(redact_whole):6.2f} us/span")
    print(f"decode + redact, OTLP path         {per_span_us(decode_redacting):6.2f} us/span")
    print(f"rows for the store                 {per_span_us(build_rows):6.2f} us/span")
    print(f"pickle rows for the writer         {per_span_us(pickle_rows):6.2f} us/span")


if __name__ == "__main__":
    main()
