"""A short real demo run in a browser: `journeywatch demo --fault db-slow` starts the bot,
the polyglot shop (Python services and a Node one, with the OpenTelemetry SDKs) and its
traffic, slows the shared database down, and the incident page in Debian's chromium shows
the bot's verdict. Ctrl-C then ends every process of the demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from tests.fixtures.bot_server import REPO

ARTIFACTS = REPO / "tests" / "artifacts"
RUN_TIMEOUT_S = 240


def test_a_db_slow_demo_pages_and_its_incident_page_shows_the_verdict(
    tmp_path: Path, new_page: Callable[..., Page]
) -> None:
    result_file = tmp_path / "result.json"
    command = [
        sys.executable, "-m", "bot.cli", "demo", "--fault", "db-slow", "--duration", "200", "--warmup", "40",
        "--port", "0", "--stop-after-verdict", "--keep-serving", "--json-out", str(result_file),
        "--data-dir", str(tmp_path / "data"),
    ]  # fmt: skip
    log = (tmp_path / "demo.log").open("w")
    marker = f"demo-test-{os.getpid()}-{time.time_ns()}"
    env = {**os.environ, "COLUMNS": "120", "DEMO_TEST_MARKER": marker}  # inherited by every process
    demo = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not result_file.exists():
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, "no verdict in time:\n" + (tmp_path / "demo.log").read_text()
            time.sleep(1)
        time.sleep(0.5)  # the file is written in one go; let the writer close it
        result = json.loads(result_file.read_text())
        assert result["verdict"] is not None
        assert (result["verdict"]["culprit"], result["verdict"]["scope"]) == ("sqlite:shop", "systemic")
        assert result["right"] is True
        assert result["report_after_s"] < 180
        parent = result["verdict"]["parent"]  # the whole message, for docs/demo-messages.md
        assert parent.startswith(result["verdict"]["first_line"]) and "sqlite:shop" in parent
        assert parent.count("\n") >= 2, parent

        page = new_page()
        page.goto(f"{result['bot_url']}/incidents/{result['incident_id']}")
        body = page.inner_text("body")
        assert "systemic" in body.lower() and "sqlite:shop" in body
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo_db_slow_incident.png"), full_page=True)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
            raise
        log.close()
    output = (tmp_path / "demo.log").read_text()
    assert "verdict right" in output
    deadline = time.monotonic() + 15  # children exit on their own once their lifeline closes
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == [], f"demo processes left running after Ctrl-C: {[command_of(pid) for pid in left]}"


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"{pid} (gone)"


def processes_with(marker: str) -> list[int]:
    """Live processes whose environment carries the marker: the demo and its children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        state = _state(entry)
        if state not in ("Z", "X") and f"DEMO_TEST_MARKER={marker}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _state(entry: Path) -> str:
    """A zombie has exited; only its parent's wait is missing."""
    try:
        return (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"
