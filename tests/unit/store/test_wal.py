"""WAL: round trip, Raft log truncation on replay, torn tails, corruption, rotation (snapshots:
test_wal_snapshots.py)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from kubemu.cluster.raft.messages import Entry, EntryType, HardState
from kubemu.cluster.store.snapfile import SECTOR_BYTES, read_records
from kubemu.cluster.store.wal import WAL, CorruptWALError


def entries(first: int, last: int, *, term: int = 1, tag: str = "") -> list[Entry]:
    return [Entry(term, i, f"{tag}{i}".encode()) for i in range(first, last + 1)]


def segments(dir: Path) -> list[Path]:
    return sorted(dir.glob("wal-*.log"))


def test_empty_directory_recovers_nothing_and_creates_a_segment(tmp_path: Path) -> None:
    wal, rec = WAL.open(tmp_path / "m1")
    assert rec.hard_state is None and rec.snapshot is None and rec.entries == []
    assert len(segments(tmp_path / "m1")) == 1
    wal.close()


def test_synced_hard_state_and_entries_round_trip(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    log = entries(1, 3) + [Entry(2, 4, b"", EntryType.EMPTY), Entry(2, 5, b"\x00\xff" * 100)]
    wal.save(HardState(term=2, vote=3, commit=4), log[:2])
    wal.save(None, log[2:])
    wal.sync()
    wal.close()
    _, rec = WAL.open(tmp_path)
    assert rec.hard_state == HardState(2, 3, 4)
    assert rec.entries == log
    assert rec.snapshot is None


def test_saved_but_unsynced_records_are_not_recovered(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 1), entries(1, 1))
    wal.sync()
    wal.save(HardState(1, 1, 2), entries(2, 2))  # crash before sync: never reached the file
    _, rec = WAL.open(tmp_path)
    assert rec.entries == entries(1, 1)
    assert rec.hard_state == HardState(1, 1, 1)


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        pytest.param([entries(1, 5), entries(3, 4, term=2, tag="b")],
                     entries(1, 2) + entries(3, 4, term=2, tag="b"), id="suffix-replaced"),
        pytest.param([entries(1, 5), entries(6, 7, term=2)],
                     entries(1, 5) + entries(6, 7, term=2), id="plain-append"),
        pytest.param([entries(1, 3), entries(1, 1, term=3, tag="c")],
                     entries(1, 1, term=3, tag="c"), id="whole-log-replaced"),
        pytest.param([entries(1, 5), entries(4, 6, term=2, tag="d"), entries(5, 5, term=3)],
                     entries(1, 3) + [Entry(2, 4, b"d4"), Entry(3, 5, b"5")],
                     id="two-truncations"),
    ],
)
def test_replay_truncates_the_log_like_raft(tmp_path: Path, writes, expected) -> None:
    wal, _ = WAL.open(tmp_path)
    for batch in writes:
        wal.save(None, batch)
        wal.sync()
    wal.close()
    _, rec = WAL.open(tmp_path)
    assert rec.entries == expected


def test_append_leaving_a_gap_is_refused(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(None, entries(1, 2))
    with pytest.raises(ValueError, match="gap"):
        wal.save(None, entries(4, 4))


def _cut_half_of_last_record(path: Path, size_before: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: size_before + (len(data) - size_before) // 2])


def _append(path: Path, extra: bytes) -> None:
    with open(path, "ab") as f:
        f.write(extra)


def _flip_last_byte(path: Path, size_before: int) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "survivors"),
    [
        pytest.param(_cut_half_of_last_record, 2, id="last-record-cut-in-half"),
        pytest.param(lambda p, n: p.write_bytes(p.read_bytes()[: n + 5]), 2, id="header-cut"),
        pytest.param(_flip_last_byte, 2, id="last-record-crc-bad"),
        pytest.param(lambda p, n: _append(p, b"\x07garbage"), 3, id="garbage-appended"),
        pytest.param(lambda p, n: _append(p, b"\x00" * 4096), 3, id="zeros-appended"),
    ],
)
def test_torn_tail_is_truncated_and_recovery_proceeds(tmp_path: Path, damage, survivors) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 2), entries(1, 2))
    wal.sync()
    [seg] = segments(tmp_path)
    size_before = seg.stat().st_size
    wal.save(None, entries(3, 3))
    wal.sync()
    wal.close()
    damage(seg, size_before)
    wal, rec = WAL.open(tmp_path)
    assert rec.hard_state == HardState(1, 1, 2)
    assert rec.entries == entries(1, survivors)
    # the tear is cut off the file: later appends survive the next recovery
    wal.save(HardState(1, 1, 4), entries(survivors + 1, 4, tag="n"))
    wal.sync()
    wal.close()
    _, rec2 = WAL.open(tmp_path)
    assert [e.index for e in rec2.entries] == [1, 2, 3, 4]
    assert rec2.hard_state == HardState(1, 1, 4)


def test_bad_crc_in_the_middle_raises_naming_file_and_offset(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(None, entries(1, 1))
    wal.sync()
    [seg] = segments(tmp_path)
    offset = seg.stat().st_size
    wal.save(None, entries(2, 2))
    wal.sync()
    wal.save(HardState(1, 1, 2), entries(3, 3))
    wal.sync()
    wal.close()
    data = bytearray(seg.read_bytes())
    data[offset + 10] ^= 0xFF
    seg.write_bytes(bytes(data))
    with pytest.raises(CorruptWALError, match=rf"{seg.name}.*offset {offset}"):
        WAL.open(tmp_path)


def test_torn_record_in_a_segment_that_is_not_the_last_is_corruption(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path, segment_bytes=200)
    for i in range(1, 30):
        wal.save(HardState(1, 1, i), entries(i, i))
        wal.sync()
    wal.close()
    first = segments(tmp_path)[0]
    assert len(segments(tmp_path)) > 2
    first.write_bytes(first.read_bytes()[:-3])
    with pytest.raises(CorruptWALError, match=first.name):
        WAL.open(tmp_path)


def _write_unsynced_tail(dir: Path, *, rotate_after: bool = False) -> dict[int, tuple[Path, int]]:
    """Entries 1-2 and a hard state synced, then entries 3-10 (one ~1.5 KiB record each) as the
    tail a crash may tear; entry 5's record starts on a sector boundary. With `rotate_after`
    entry 11 closes that segment, so the tail is in a segment that is not the last. Returns
    where each entry's record is: index -> (segment, offset)."""
    wal, _ = WAL.open(dir)
    wal.save(HardState(1, 1, 2), entries(1, 2))
    wal.sync()
    [seg] = segments(dir)
    size = seg.stat().st_size
    wal.save(None, [Entry(1, 3, b"x" * 1500)])
    wal.sync()
    overhead = seg.stat().st_size - size - 1500  # framing of a one-entry record
    size = seg.stat().st_size
    wal.save(None, [Entry(1, 4, b"x" * (1500 + -(size + 1500 + overhead) % SECTOR_BYTES))])
    wal.sync()
    for i in range(5, 11):
        wal.save(None, [Entry(1, i, b"x" * 1500)])
        wal.sync()
    wal.close()
    if rotate_after:
        wal, _ = WAL.open(dir, segment_bytes=1)
        wal.save(None, entries(11, 11))
        wal.sync()
        wal.close()
        assert len(segments(dir)) == 2
    where = {}
    for offset, rec in read_records(seg)[0]:
        if rec[0] == 2:  # an ENTRIES record
            for wire in rec[1]:
                where[Entry.from_wire(wire).index] = (seg, offset)
    assert where[5][1] % SECTOR_BYTES == 0
    return where


def _sector_in(where: dict[int, tuple[Path, int]], index: int, *, skip: int = 64) -> int:
    """The first sector boundary at least `skip` bytes into entry `index`'s record."""
    return -(-(where[index][1] + skip) // SECTOR_BYTES) * SECTOR_BYTES


def _zero(path: Path, start: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    assert start + length < len(data)  # the hole is inside the file, data follows it
    data[start:start + length] = bytes(length)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("hole", "survivors"),
    [
        pytest.param(lambda w: (_sector_in(w, 4), SECTOR_BYTES), 3,
                     id="zero-sector-inside-a-record-fails-its-crc"),
        pytest.param(lambda w: (w[5][1], SECTOR_BYTES), 4,
                     id="zero-sector-at-a-record-start-gives-an-impossible-length"),
        pytest.param(lambda w: (_sector_in(w, 6), 4096), 5,
                     id="zero-page-across-several-records"),
        pytest.param(lambda w: (w[4][1], _sector_in(w, 4, skip=0) + SECTOR_BYTES - w[4][1]), 3,
                     id="zero-header-sharing-a-synced-sector-then-a-zero-sector"),
    ],
)
def test_zero_sector_hole_inside_the_last_segments_tail_is_truncated_as_a_torn_write(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, hole, survivors: int) -> None:
    where = _write_unsynced_tail(tmp_path)
    seg, cut = where[survivors + 1]
    start, length = hole(where)
    _zero(seg, start, length)  # valid-looking records 7..10 still follow the hole
    with caplog.at_level(logging.WARNING, logger="kubemu.store.wal"):
        wal, rec = WAL.open(tmp_path)
    assert rec.hard_state == HardState(1, 1, 2)
    assert [e.index for e in rec.entries] == list(range(1, survivors + 1))
    assert seg.stat().st_size == cut  # truncated at the torn record's start
    assert any(f"offset={cut}" in r.getMessage() for r in caplog.records)
    wal.save(HardState(1, 1, 12), entries(survivors + 1, 12, tag="n"))
    wal.sync()
    wal.close()
    _, rec2 = WAL.open(tmp_path)
    assert [e.index for e in rec2.entries] == list(range(1, 13))
    assert rec2.hard_state == HardState(1, 1, 12)


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("rotate_after", "damage", "bad"),
    [
        pytest.param(False, lambda w: _flip(w[4][0], _sector_in(w, 4) + 7), 4,
                     id="crc-bad-without-a-zero-sector-in-the-last-segment"),
        pytest.param(False, lambda w: _zero(w[4][0], _sector_in(w, 4) + 1, 600), 4,
                     id="zeros-covering-no-whole-aligned-sector"),
        pytest.param(False, lambda w: _zero(w[4][0], w[4][1], 8), 4,
                     id="zero-header-mid-sector-without-a-zero-sector"),
        pytest.param(True, lambda w: _zero(w[4][0], _sector_in(w, 4), SECTOR_BYTES), 4,
                     id="zero-sector-in-a-segment-that-is-not-the-last"),
        pytest.param(True, lambda w: _zero(w[5][0], w[5][1], SECTOR_BYTES), 5,
                     id="zero-length-header-in-a-segment-that-is-not-the-last"),
    ],
)
def test_bad_record_followed_by_data_that_is_not_a_torn_write_raises_naming_file_and_offset(
        tmp_path: Path, rotate_after: bool, damage, bad: int) -> None:
    where = _write_unsynced_tail(tmp_path, rotate_after=rotate_after)
    seg, offset = where[bad]
    size = seg.stat().st_size
    damage(where)
    with pytest.raises(CorruptWALError, match=rf"{seg.name}: offset {offset}:"):
        WAL.open(tmp_path)
    assert seg.stat().st_size == size  # nothing was truncated


def test_segments_rotate_by_size_and_replay_in_order(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path, segment_bytes=300)
    for i in range(1, 51):
        wal.save(HardState(2, 1, i - 1), [Entry(2, i, b"x" * 20)])
        wal.sync()
    wal.close()
    assert len(segments(tmp_path)) > 3
    _, rec = WAL.open(tmp_path)
    assert [e.index for e in rec.entries] == list(range(1, 51))
    assert rec.hard_state == HardState(2, 1, 49)


def test_missing_segment_is_corruption(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path, segment_bytes=200)
    for i in range(1, 30):
        wal.save(None, entries(i, i))
        wal.sync()
    wal.close()
    segments(tmp_path)[1].unlink()
    with pytest.raises(CorruptWALError, match="missing"):
        WAL.open(tmp_path)


def test_hard_state_commit_beyond_log_is_corruption(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 5), entries(1, 2))
    wal.sync()
    wal.close()
    with pytest.raises(CorruptWALError, match="commit 5"):
        WAL.open(tmp_path)


def test_leftover_tmp_files_are_ignored_and_removed(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 1), entries(1, 1))
    wal.sync()
    wal.close()
    (tmp_path / f"snap-{1:016x}-{1:016x}.snap.tmp").write_bytes(b"half a snap")
    _, rec = WAL.open(tmp_path)
    assert rec.snapshot is None and rec.entries == entries(1, 1)
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    ("hard_state", "new_entries", "fsyncs"),
    [
        pytest.param(HardState(2, 1, 3), [], False, id="commit-only-is-not-fsynced"),
        pytest.param(HardState(2, 1, 2), [], False, id="same-hard-state-is-not-fsynced"),
        pytest.param(HardState(3, 1, 2), [], True, id="term-change-is-fsynced"),
        pytest.param(HardState(2, 2, 2), [], True, id="vote-change-is-fsynced"),
        pytest.param(HardState(2, 1, 3), entries(4, 4), True, id="entries-are-fsynced"),
        pytest.param(None, entries(4, 4), True, id="entries-alone-are-fsynced"),
    ],
)
def test_sync_fsyncs_unless_only_the_commit_index_changed(
        tmp_path: Path, hard_state: HardState | None, new_entries: list[Entry],
        fsyncs: bool) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(2, 1, 2), entries(1, 3))
    assert wal.needs_fsync and wal.sync() is True
    before = wal.fsyncs
    wal.save(hard_state, new_entries)
    assert wal.needs_fsync is fsyncs
    assert wal.sync() is fsyncs
    assert wal.fsyncs == before + fsyncs
    wal.close()  # a clean close makes even a commit-only change durable
    _, rec = WAL.open(tmp_path)
    assert rec.hard_state == (hard_state or HardState(2, 1, 2))
    assert rec.entries == entries(1, 3) + new_entries


def test_commit_only_change_is_written_and_a_crash_may_only_lose_that_commit(
        tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(2, 1, 1), entries(1, 3))
    wal.sync()
    [seg] = segments(tmp_path)
    synced_size = seg.stat().st_size
    wal.save(HardState(2, 1, 3), [])
    assert wal.sync() is False
    assert seg.stat().st_size > synced_size  # written (page cache), not fsync'd
    # a crash before the next fsync may lose the unsynced tail, whole or torn
    for keep in (synced_size, synced_size + 5):
        crashed = tmp_path / f"crash-{keep}"
        shutil.copytree(tmp_path, crashed, ignore=shutil.ignore_patterns("crash-*"))
        [copy] = segments(crashed)
        copy.write_bytes(copy.read_bytes()[:keep])
        _, rec = WAL.open(crashed)
        assert rec.hard_state == HardState(2, 1, 1)  # the commit regressed: Raft allows it
        assert rec.entries == entries(1, 3)  # every fsync'd entry is there
    # the next fsync makes the earlier commit-only record durable too
    wal.save(None, entries(4, 4))
    assert wal.sync() is True
    wal.close()
    _, rec = WAL.open(tmp_path)
    assert rec.hard_state == HardState(2, 1, 3) and rec.entries == entries(1, 4)
