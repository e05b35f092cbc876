"""The ingest spool on its own: framing, rolling, replay with damage, release, refusal."""

from __future__ import annotations

import asyncio
import errno
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.collector.spool import HEADER_BYTES, Kind, Releases, Spool
from correlators.errors import ConfigError, Saturated

TRACES = Kind.OTLP_TRACES_PROTOBUF


def spool(directory: Path, **options: object) -> Spool:
    settings: dict[str, object] = {"max_bytes": 1 << 20, "segment_bytes": 1000, "fsync": "always"}
    settings.update(options)
    return Spool(directory, **settings)  # type: ignore[arg-type]


def payloads(found: Spool) -> list[bytes]:
    return [record.payload for record in found.replay()]


def test_records_come_back_in_order_across_segments_after_a_reopen(tmp_path: Path) -> None:
    first = spool(tmp_path)
    written = [os.urandom(300) for _ in range(10)]
    lsns = [first.append(TRACES, payload) for payload in written]
    assert lsns == sorted(lsns)
    assert first.segments > 1, "a segment rolls once it holds segment_bytes"
    first.close()

    again = spool(tmp_path)
    records = list(again.replay())
    assert [r.payload for r in records] == written
    assert [r.lsn for r in records] == lsns
    assert {r.kind for r in records} == {TRACES}
    assert again.stats.records_replayed == 10
    assert again.append(TRACES, b"new") == again.head - HEADER_BYTES - 3
    assert again.head > lsns[-1], "LSNs go on from where the last run stopped"


def test_a_torn_tail_is_skipped_and_counted(tmp_path: Path) -> None:
    first = spool(tmp_path, segment_bytes=1 << 20)
    first.append(TRACES, b"a" * 100)
    first.append(TRACES, b"b" * 100)
    first.close()
    (segment,) = tmp_path.glob("*.seg")
    data = segment.read_bytes()
    segment.write_bytes(data[: len(data) - 40])  # the crash came mid-write

    again = spool(tmp_path)
    assert payloads(again) == [b"a" * 100]
    assert again.stats.torn_tails == 1
    assert again.stats.bytes_skipped == HEADER_BYTES + 60


def damaged(directory: Path, at: slice, replacement: bytes) -> Spool:
    """A spool of records a, b and c (100 bytes each) in one segment, with the bytes at
    ``at`` replaced, reopened."""
    first = spool(directory, segment_bytes=1 << 20)
    for letter in b"abc":
        first.append(TRACES, bytes([letter]) * 100)
    first.close()
    (segment,) = directory.glob("*.seg")
    data = bytearray(segment.read_bytes())
    data[at] = replacement
    segment.write_bytes(bytes(data))
    return spool(directory)


def test_a_record_failing_its_checksum_is_skipped_and_the_next_ones_kept(tmp_path: Path) -> None:
    in_b = HEADER_BYTES + 100 + HEADER_BYTES + 50
    again = damaged(tmp_path, slice(in_b, in_b + 1), b"\xff")  # one byte of b's payload
    assert payloads(again) == [b"a" * 100, b"c" * 100]
    assert again.stats.records_corrupt == 1
    assert again.stats.torn_tails == 0
    assert again.stats.bytes_skipped == HEADER_BYTES + 100


def test_a_damaged_length_does_not_lose_the_records_after_it(tmp_path: Path) -> None:
    again = damaged(tmp_path, slice(5, 9), (10**9).to_bytes(4, "little"))  # a's length
    assert payloads(again) == [b"b" * 100, b"c" * 100]


def test_segments_are_deleted_once_released_never_before(tmp_path: Path) -> None:
    found = spool(tmp_path, segment_bytes=200)  # one record a segment
    lsns = [found.append(TRACES, bytes(200)) for _ in range(4)]
    assert len(list(tmp_path.glob("*.seg"))) == 4
    found.release_below(lsns[2])
    assert found.segments == 2
    assert sorted(int(p.stem) for p in tmp_path.glob("*.seg")) == lsns[2:]
    found.release_below(found.head)
    assert found.segments == 0 and found.bytes_held == 0
    assert found.stats.segments_deleted == 4


def test_the_segment_appended_to_goes_when_wholly_released(tmp_path: Path) -> None:
    found = spool(tmp_path, segment_bytes=1 << 20)
    first = found.append(TRACES, b"x" * 10)
    found.release_below(first)  # not below its end: kept
    assert found.segments == 1
    found.release_below(found.head)
    assert found.segments == 0
    later = found.append(TRACES, b"y")
    assert later == first + HEADER_BYTES + 10
    found.close()
    assert payloads(spool(tmp_path)) == [b"y"]


def test_releases_wait_for_the_writer_to_acknowledge_what_was_submitted(tmp_path: Path) -> None:
    found = spool(tmp_path, segment_bytes=100)
    releases = Releases(found)
    first = found.append(TRACES, bytes(100))
    second = found.append(TRACES, bytes(100))
    releases.note(floor=second, writer_sequence=5)  # everything below `second` handed over by 5
    releases.note(floor=found.head, writer_sequence=9)
    releases.settle(writer_completed=4)
    assert found.segments == 2
    releases.settle(writer_completed=7)
    assert found.segments == 1 and first < second
    releases.settle(writer_completed=9)
    assert found.segments == 0


def test_past_its_size_the_spool_refuses_with_saturated(tmp_path: Path) -> None:
    found = spool(tmp_path, max_bytes=500, segment_bytes=1 << 20)
    found.append(TRACES, bytes(400))
    with pytest.raises(Saturated) as refused:
        found.append(TRACES, bytes(200))
    assert refused.value.retry_after > 0
    assert found.full() is False and found.refusing and "limit" in found.refusing
    assert found.stats.refused_full == 1
    found.release_below(found.head)
    found.append(TRACES, bytes(200))
    assert found.refusing is None


def test_one_record_larger_than_the_limit_goes_in_an_empty_spool(tmp_path: Path) -> None:
    found = spool(tmp_path, max_bytes=100)
    found.append(TRACES, bytes(300))
    assert found.full()


class FullDisk:
    """Injected at the file layer (``os.writev``): writes ``room`` bytes, then ENOSPC, as a
    file system does when it fills up. The real-disk variant is in test_ingest_durable.py
    (a tiny tmpfs); this one runs wherever the suite runs."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __call__(self, fd: int, parts: Sequence[bytes]) -> int:
        data = b"".join(parts)
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        written = os.write(fd, data[: self.room])
        self.room -= written
        return written


def test_a_full_disk_refuses_with_saturated_and_leaves_no_torn_record(tmp_path: Path) -> None:
    disk = FullDisk(room=HEADER_BYTES + 100 + 50)
    found = spool(tmp_path, segment_bytes=1 << 20, write=disk)
    found.append(TRACES, b"a" * 100)
    with pytest.raises(Saturated) as short:  # half of it fits
        found.append(TRACES, b"b" * 100)
    assert "disk is full" in str(short.value)
    with pytest.raises(Saturated):  # nothing fits
        found.append(TRACES, b"c" * 100)
    assert found.stats.refused_disk == 2
    assert found.refusing and "disk is full" in found.refusing
    disk.room = 10_000  # space freed
    found.append(TRACES, b"d" * 100)
    found.close()

    again = spool(tmp_path)
    assert payloads(again) == [b"a" * 100, b"d" * 100]
    assert again.stats.torn_tails == again.stats.records_corrupt == 0


def test_a_second_process_cannot_open_the_same_spool(tmp_path: Path) -> None:
    first = spool(tmp_path)
    with pytest.raises(ConfigError, match="in use"):
        spool(tmp_path)
    first.close()
    spool(tmp_path).close()


@pytest.mark.parametrize(("policy", "syncs"), [("always", True), ("interval", True), ("never", False)])
def test_durable_syncs_by_policy_and_groups_concurrent_waiters(
    tmp_path: Path, policy: str, syncs: bool
) -> None:
    found = spool(tmp_path, fsync=policy, fsync_interval_s=0.02)

    async def requests() -> None:
        async def one(n: int) -> None:
            found.append(TRACES, bytes([n]) * 10)
            await found.durable()

        await asyncio.gather(*(one(n) for n in range(20)))

    asyncio.run(requests())
    if syncs:
        assert 1 <= found.stats.syncs <= 3, "twenty waiters share a sync or two"
    else:
        assert found.stats.syncs == 0


def test_a_failed_sync_refuses_the_waiting_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = spool(tmp_path)

    def broken(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", broken)
    found.append(TRACES, b"x")
    with pytest.raises(Saturated, match="cannot be synced"):
        asyncio.run(found.durable())
    assert found.stats.sync_errors == 1 and found.refusing
