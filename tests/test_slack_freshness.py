"""The memory of seen Slack signatures (bot.slack.freshness): a replay is never taken,
whether the memory still holds its signature, forgot it with age, or was full."""

from __future__ import annotations

import os

from bot.slack.freshness import ENTRY_BYTES, VALIDITY_S, SeenSignatures

NOW = 1_800_000_000.0


def test_a_signature_is_taken_once_and_forgotten_after_the_window() -> None:
    seen = SeenSignatures(max_bytes=1024 * 1024)
    digest = os.urandom(32)
    assert seen.first_time(int(NOW), digest, NOW)
    assert not seen.first_time(int(NOW), digest, NOW + 1)
    assert not seen.first_time(int(NOW), digest, NOW + VALIDITY_S)  # still within Bolt's window
    assert seen.size_bytes == ENTRY_BYTES
    seen.first_time(int(NOW) + VALIDITY_S + 1, os.urandom(32), NOW + VALIDITY_S + 1)
    assert seen.size_bytes == ENTRY_BYTES  # the first one aged out: Bolt refuses it as stale now


def test_a_full_memory_refuses_what_it_may_have_forgotten_and_stays_in_its_bytes() -> None:
    seen = SeenSignatures(max_bytes=10 * ENTRY_BYTES)
    taken = [(int(NOW) - 100 + n, os.urandom(32)) for n in range(25)]
    assert all(seen.first_time(ts, digest, NOW) for ts, digest in taken)
    assert seen.size_bytes == 10 * ENTRY_BYTES
    assert not any(seen.first_time(ts, digest, NOW) for ts, digest in taken)  # no replay slips through
    assert not seen.first_time(int(NOW) - 100, os.urandom(32), NOW)  # older than the floor: refused
    assert seen.first_time(int(NOW), os.urandom(32), NOW)  # newer than every forgotten one: taken
