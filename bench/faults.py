"""Faults under load against a real `journeywatch serve`: is what it acknowledged stored?

Each scenario starts the server (keep-all sampling, so every acknowledged span must end up
in the database), sends OTLP/protobuf requests of one 50-span trace each at a paced rate
from this process, and injects its fault:

- ``server``: kill -9 of the server after ~40,000 acknowledged spans at 2,000 spans/s,
  then a restart on the same data;
- ``writer``: kill -9 of the store writer process six times, 4 s apart, at 4,000 spans/s
  (``--writer-rate``: at 4,000 the writer is idle most of the time, and a kill often finds
  nothing in flight);
- ``disk``: the data directory (database and spool) on a 48 MiB tmpfs that fills up at
  4,000 spans/s; 20 s after the first refusal the tmpfs is grown to 512 MiB (room made);
- ``spool``: the spool limited to 4 MiB at 4,000 spans/s (the spool only).

and prints, per scenario and with the spool on and off: spans acknowledged (200),
stored (of those), lost, 503 refusals, the server's and writer's peak RSS, and the time
to recover: from the restart, the last kill, or the room made, until every acknowledged
span is stored (or, when some are lost for good, until the server has drained).

Needs root for the tmpfs of ``disk``. ``--checkout DIR`` runs the server from another
tree of the repository (e.g. a worktree of an older commit) for before/after figures.

Run by hand:  .venv/bin/python bench/faults.py [--scenarios server,writer,disk,spool] [--spool on,off]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest import bench_config, serve  # noqa: E402

from tests.load import Load, missing  # noqa: E402

WRITER = {"rate": 4000.0}
"""Spans/s offered in the writer scenario (--writer-rate)."""
LIMIT_S = 180.0
"""How long a recovery may take before it is reported as not done."""


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    database: Path

    def health(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=10).json()

    def writer_pid(self) -> int:
        pid = self.process.pid
        return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


@dataclass
class Outcome:
    acked: int
    lost: int
    refused: int
    server_mb: float
    writer_mb: float
    recover_s: float | None


def config_file(folder: Path) -> Path:
    """The shipped config, every trace kept, the watcher's first run a day away."""
    return bench_config(folder, keep_all=True, watch=False)


def start(checkout: Path, data: Path, config: Path, env: dict[str, str]) -> Server:
    database = data / "journeywatch.db"
    log_path = data.parent / f"serve-{time.monotonic_ns()}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "JOURNEYWATCH_REQUIRE_TOKEN": "false",
        "JOURNEYWATCH_INGEST_KEYS__REQUIRED": "false",  # the shop sends without a key
        **env,
    }
    process, url = serve(database, config, log_path, environment, cwd=checkout, timeout_s=60)
    server = Server(process, url, database)
    httpx.get(f"{server.url}/healthz", timeout=LIMIT_S)  # after the spool's replay
    return server


def peak_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]
    return 0.0


def recover(load: Load, server: Server, began: float) -> tuple[int, float | None]:
    """(spans lost, seconds from ``began`` until all is stored or the server drained)."""
    acked = dict(load.acked)
    deadline = began + LIMIT_S
    drained = 0
    while time.monotonic() < deadline:
        lost = missing(acked, server.database)
        if not lost:
            return 0, time.monotonic() - began
        health = server.health()
        idle = not health["pending_writes"] and not health["collector"]["buffered_spans"]
        drained = drained + 1 if idle else 0
        if drained >= 4:  # a second with nothing left to write: what is missing is lost
            return lost, time.monotonic() - began
        time.sleep(0.25)
    return missing(acked, server.database), None


def finish(
    load: Load, server: Server, began: float, server_mb: float = 0.0, writer_mb: float = 0.0
) -> Outcome:
    """Wait for the recovery from ``began``, take the peaks, stop the server."""
    lost, took = recover(load, server, began)
    outcome = Outcome(
        load.acked_spans,
        lost,
        load.refused,
        max(server_mb, peak_mb(server.process.pid)),
        max(writer_mb, peak_mb(server.writer_pid())),
        took,
    )
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(60)
    return outcome


def server_kill(checkout: Path, data: Path, config: Path, env: dict[str, str]) -> Outcome:
    server = start(checkout, data, config, env)
    load = Load(server.url, rate=2000).start()
    load.wait_for(40_000, timeout=120)
    peak = peak_mb(server.process.pid), peak_mb(server.writer_pid())
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    load.stop()
    began = time.monotonic()
    return finish(load, start(checkout, data, config, env), began, *peak)


def writer_kills(checkout: Path, data: Path, config: Path, env: dict[str, str]) -> Outcome:
    server = start(checkout, data, config, env)
    load = Load(server.url, rate=WRITER["rate"]).start()
    time.sleep(4)
    writer_peak = 0.0
    for _ in range(6):
        victim = server.writer_pid()
        writer_peak = max(writer_peak, peak_mb(victim))
        os.kill(victim, signal.SIGKILL)
        time.sleep(4)
    began = time.monotonic()
    load.stop()
    return finish(load, server, began, writer_mb=writer_peak)


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def full_disk(checkout: Path, data: Path, config: Path, env: dict[str, str]) -> Outcome:
    data.rmdir()
    with tmpfs(data, "48m"):
        server = start(checkout, data, config, env)
        load = Load(server.url, rate=4000).start()
        deadline = time.monotonic() + 120
        while not load.refused and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(20)  # full for a while
        subprocess.run(["mount", "-o", "remount,size=512m", str(data)], check=True)
        began = time.monotonic()
        time.sleep(5)  # accepted again
        load.stop()
        return finish(load, server, began)


def spool_full(checkout: Path, data: Path, config: Path, env: dict[str, str]) -> Outcome:
    server = start(checkout, data, config, {**env, "JOURNEYWATCH_COLLECTOR__SPOOL__MAX_BYTES": str(4 << 20)})
    load = Load(server.url, rate=4000).start()
    time.sleep(30)
    began = time.monotonic()
    load.stop()
    return finish(load, server, began)


SCENARIOS = {"server": server_kill, "writer": writer_kills, "disk": full_disk, "spool": spool_full}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", default="server,writer,disk,spool")
    parser.add_argument("--spool", default="on,off", help="on, off or both")
    parser.add_argument("--checkout", type=Path, default=REPO, help="the tree whose server runs")
    parser.add_argument(
        "--writer-rate", type=float, default=WRITER["rate"], help="spans/s while the writer is killed"
    )
    args = parser.parse_args()
    WRITER["rate"] = args.writer_rate
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"server from {args.checkout}")
    header = ("scenario", "spool", "acked", "stored", "lost", "503s", "RSS MB", "recover")
    print("{:8} {:5} {:>8} {:>8} {:>7} {:>6} {:>11} {:>9}".format(*header))
    for name in args.scenarios.split(","):
        for spool in args.spool.split(","):
            if name == "spool" and spool == "off":
                continue
            env = {"JOURNEYWATCH_COLLECTOR__SPOOL__ENABLED": "true" if spool == "on" else "false"}
            with tempfile.TemporaryDirectory(prefix="jw-faults-") as tmp:
                folder = Path(tmp)
                data = folder / "data"
                data.mkdir()
                found = SCENARIOS[name](args.checkout, data, config_file(folder), env)
            recovered = f"{found.recover_s:.1f} s" if found.recover_s is not None else "not done"
            print(
                f"{name:8} {spool:5} {found.acked:8,} {found.acked - found.lost:8,} {found.lost:7,} "
                f"{found.refused:6,} {found.server_mb:5.0f} + {found.writer_mb:3.0f} {recovered:>9}",
                flush=True,
            )


if __name__ == "__main__":
    main()
