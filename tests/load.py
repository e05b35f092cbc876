"""Load against a real server that remembers what it acknowledged, and what the database
holds of it: the two numbers every durability test and bench/faults.py compare."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import httpx

from tests.test_ingest_http import PROTOBUF, otlp_request

_PLACEHOLDER = "ab" * 16


class Load:
    """``senders`` threads posting OTLP/protobuf requests of one new trace of ``spans``
    spans each, paced to ``rate`` spans/s in all (0: as fast as answered). A request
    counts as acknowledged on a 200 only; connection errors (the server was killed) and
    503s are retried with a new trace, as an exporter would retry."""

    def __init__(self, url: str, *, senders: int = 4, spans: int = 50, rate: float = 0) -> None:
        self.url = url
        self.senders = senders
        self.spans = spans
        self.rate = rate
        self.acked: dict[str, int] = {}
        self.refused = 0
        self.failed = 0
        self.retry_after: set[str] = set()
        self._template = otlp_request(_PLACEHOLDER, spans=spans).SerializeToString()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def acked_spans(self) -> int:
        with self._lock:
            return sum(self.acked.values())

    def start(self) -> Load:
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(self.senders)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def retarget(self, url: str) -> None:
        """Send to a restarted server from now on."""
        self.url = url

    def wait_for(self, acked_spans: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.acked_spans < acked_spans:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.acked_spans} spans acknowledged in {timeout}s")
            time.sleep(0.01)

    def _send(self) -> None:
        interval = self.senders * self.spans / self.rate if self.rate else 0.0
        due = time.monotonic()
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                if interval:
                    due = max(due + interval, time.monotonic() - 1)
                    self._stop.wait(max(0.0, due - time.monotonic()))
                self._post(http)

    def _post(self, http: httpx.Client) -> None:
        trace_id = os.urandom(16).hex()
        body = self._template.replace(bytes.fromhex(_PLACEHOLDER), bytes.fromhex(trace_id))
        try:
            answer = http.post(f"{self.url}/v1/traces", content=body, headers=PROTOBUF)
        except httpx.HTTPError:
            with self._lock:
                self.failed += 1
            self._stop.wait(0.05)
            return
        with self._lock:
            if answer.status_code == 200:
                self.acked[trace_id] = self.spans
            elif answer.status_code == 503:
                self.refused += 1
                self.retry_after.add(answer.headers.get("retry-after", ""))
            else:
                self.failed += 1
        if answer.status_code == 503:
            self._stop.wait(0.2)


def stored_spans(database: Path) -> dict[str, int]:
    """Spans stored per trace id."""
    with sqlite3.connect(database) as db:
        return dict(db.execute("select trace_id, count(*) from spans group by trace_id").fetchall())


def missing(acked: dict[str, int], database: Path) -> int:
    """Acknowledged spans the database does not hold."""
    stored = stored_spans(database)
    return sum(max(0, count - stored.get(trace_id, 0)) for trace_id, count in acked.items())


def wait_stored(acked: dict[str, int], database: Path, timeout: float = 60) -> int:
    """Until every acknowledged span is stored, or ``timeout``; the spans still missing."""
    deadline = time.monotonic() + timeout
    lost = missing(acked, database)
    while lost and time.monotonic() < deadline:
        time.sleep(0.25)
        lost = missing(acked, database)
    return lost
