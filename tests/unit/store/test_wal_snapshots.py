"""WAL snapshots: a snapshot starts a new segment, crashes on the way recover, a damaged or
missing snapshot is an error, a snapshot file written beside appends is adopted, and the current
one stands in for its image in memory."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubemu.cluster.raft.messages import HardState, Snapshot
from kubemu.cluster.store.snapfile import write_snapshot
from kubemu.cluster.store.wal import WAL, CorruptWALError
from tests.unit.store.test_wal import entries, segments


def test_snapshot_starts_a_new_segment_and_deletes_older_files(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path, segment_bytes=400)
    for i in range(1, 21):
        wal.save(HardState(1, 1, i), entries(i, i))
        wal.sync()
    assert len(segments(tmp_path)) > 1
    wal.save_snapshot(Snapshot(index=8, term=1, members=(1, 2, 3), data=b"image-8"))
    wal.save_snapshot(Snapshot(index=15, term=1, members=(1, 2, 3), data=b"image-15"))
    assert len(segments(tmp_path)) == 1
    assert [p.name for p in tmp_path.glob("*.snap")] == [f"snap-{1:016x}-{15:016x}.snap"]
    wal.save(HardState(1, 1, 21), entries(21, 22))
    wal.sync()
    wal.close()
    _, rec = WAL.open(tmp_path)
    assert rec.snapshot == Snapshot(15, 1, (1, 2, 3), b"image-15")
    assert [e.index for e in rec.entries] == list(range(16, 23))
    assert rec.hard_state == HardState(1, 1, 21)


@pytest.mark.parametrize(
    ("snapshot", "expected_indexes"),
    [
        pytest.param(Snapshot(4, 1, (1,), b"s"), [5, 6], id="log-matches-keeps-tail"),
        pytest.param(Snapshot(4, 2, (1,), b"s"), [], id="term-mismatch-resets-log"),
        pytest.param(Snapshot(9, 3, (1,), b"s"), [], id="snapshot-beyond-log"),
    ],
)
def test_snapshot_keeps_entries_after_it_only_if_the_log_matches(
        tmp_path: Path, snapshot: Snapshot, expected_indexes: list[int]) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(3, 1, 4), entries(1, 6))
    wal.sync()
    wal.save_snapshot(snapshot)
    assert wal.last_index == (expected_indexes[-1] if expected_indexes else snapshot.index)
    wal.close()
    _, rec = WAL.open(tmp_path)
    assert rec.snapshot == snapshot
    assert [e.index for e in rec.entries] == expected_indexes
    assert rec.hard_state.commit == max(4, snapshot.index)


def test_crash_after_snapshot_file_before_new_segment_recovers(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 6), entries(1, 8))
    wal.sync()
    wal.close()
    write_snapshot(tmp_path, Snapshot(6, 1, (1,), b"six"))  # the new segment never got written
    _, rec = WAL.open(tmp_path)
    assert rec.snapshot.index == 6
    assert [e.index for e in rec.entries] == [7, 8]


def test_crash_after_new_segment_before_old_ones_deleted_recovers(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 6), entries(1, 8))
    wal.sync()
    [old] = segments(tmp_path)
    kept = tmp_path / "kept"
    shutil.copy(old, kept)
    wal.save_snapshot(Snapshot(6, 1, (1,), b"six"))
    wal.save(None, entries(9, 9, term=2))
    wal.sync()
    wal.close()
    shutil.move(kept, old)  # as if deleting the old segment had not happened
    _, rec = WAL.open(tmp_path)
    assert rec.snapshot.index == 6
    assert [(e.index, e.term) for e in rec.entries] == [(7, 1), (8, 1), (9, 2)]


def test_unreadable_snapshot_raises(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 3), entries(1, 3))
    wal.sync()
    wal.save_snapshot(Snapshot(3, 1, (1,), b"image" * 100))
    wal.close()
    [snap] = tmp_path.glob("*.snap")
    data = bytearray(snap.read_bytes())
    data[20] ^= 0xFF
    snap.write_bytes(bytes(data))
    with pytest.raises(CorruptWALError, match=rf"{snap.name}.*snapshot"):
        WAL.open(tmp_path)


def test_missing_snapshot_that_a_segment_follows_raises(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 3), entries(1, 3))
    wal.sync()
    wal.save_snapshot(Snapshot(3, 1, (1,), b"image"))
    wal.close()
    [snap] = tmp_path.glob("*.snap")
    snap.unlink()
    with pytest.raises(CorruptWALError, match="snapshot"):
        WAL.open(tmp_path)


def test_snapshot_file_written_while_appends_go_on_then_adopted(tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 5), entries(1, 6))
    wal.sync()
    snap = Snapshot(5, 1, (1, 2, 3), b"five")
    wal.write_snapshot_file(snap)  # in a thread, in the replica
    wal.save(HardState(1, 1, 7), entries(7, 8))  # the ready loop keeps appending
    wal.sync()
    crashed = tmp_path / "crash"  # a crash now: the old segment still holds everything
    shutil.copytree(tmp_path, crashed, ignore=shutil.ignore_patterns("crash"))
    _, rec = WAL.open(crashed)
    assert rec.snapshot == snap and [e.index for e in rec.entries] == [6, 7, 8]
    assert rec.hard_state == HardState(1, 1, 7)
    wal.adopt_snapshot(snap)  # between two Readies
    assert len(segments(tmp_path)) == 1 and wal.snapshot_index == 5
    wal.save(HardState(1, 1, 8), entries(9, 9))
    wal.sync()
    wal.close()
    _, rec = WAL.open(tmp_path)
    assert rec.snapshot == snap and [e.index for e in rec.entries] == [6, 7, 8, 9]
    assert rec.hard_state == HardState(1, 1, 8)


def test_the_current_snapshot_file_stands_in_for_its_image_until_a_newer_one(
        tmp_path: Path) -> None:
    wal, _ = WAL.open(tmp_path)
    wal.save(HardState(1, 1, 10), entries(1, 10))
    wal.sync()
    first = Snapshot(5, 1, (1, 2, 3), b"image at 5" * 1000)
    wal.save_snapshot(first)
    stored = wal.snapshot_file(first)
    assert stored is not None and bytes(stored) == first.data
    assert Snapshot(5, 1, (1, 2, 3), stored).to_wire() == first.to_wire()
    assert wal.snapshot_file(Snapshot(5, 2, (1, 2, 3), b"")) is None  # another term's
    second = Snapshot(8, 1, (1, 2, 3), b"image at 8")
    wal.save_snapshot(second)
    assert wal.snapshot_file(first) is None  # its file is gone
    assert bytes(wal.snapshot_file(second)) == b"image at 8"
    wal.close()
