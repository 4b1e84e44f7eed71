"""Record framing and the snapshot file: the two on-disk shapes the WAL is built from.

A record is [u32 payload length][u32 crc32(payload)][msgpack payload] (little endian); the
payload is never empty, so a zero-filled region never reads as a record. `read_records` tells a
torn tail (what a crash in the middle of an unsynced write leaves: a short record, a CRC-bad
record ending exactly at end of file, or zeros to end of file) apart from corruption anywhere
else, which raises `CorruptWALError` naming the file and the offset. Unsynced pages may reach
the disk out of order, so a crash can also leave whole zero sectors inside the unsynced tail with
intact-looking records after them; with `zero_sector_tears` (the WAL's last segment) a bad record
whose bytes hold an all-zero, sector-aligned 512-byte sector is such a tear too (etcd's
isTornEntry rule). A bad record without one is corruption, whatever follows it.

A snapshot file `snap-{term:016x}-{index:016x}.snap` holds one record; `SnapshotFile` stands
for its image once it is on disk, so a replica need not keep a second copy of its whole state
in memory (it is read back only to ship it to a follower that fell behind). It is written to a
`.tmp`, fsync'd, renamed into place and the directory fsync'd, so a reader sees either the whole
file or none. The newest snapshot file must read back intact: a bad one is an error, never a
silent fall back to older state.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import msgpack

from kubemu.cluster.raft.messages import Snapshot

_HEADER = struct.Struct("<II")
SECTOR_BYTES = 512
"""The disk's write unit: a crash tears writes at sector boundaries, never inside a sector."""
_ZERO_SECTOR = bytes(SECTOR_BYTES)
_SNAPSHOT = 4
_PREFIX, _SUFFIX = "snap-", ".snap"


class CorruptWALError(Exception):
    """The WAL or snapshot on disk is damaged beyond a torn tail; recovery refuses to guess."""


def encode_record(payload: object) -> bytes:
    data = msgpack.packb(payload, use_bin_type=True)
    return _HEADER.pack(len(data), zlib.crc32(data)) + data


def read_records(path: Path, *, zero_sector_tears: bool = False
                 ) -> tuple[list[tuple[int, list]], int | None]:
    """Every whole record of `path` as (offset, payload), and the offset of a torn tail or None.

    With `zero_sector_tears`, a bad record holding an all-zero sector is a torn tail even when
    more data follows it; everything from its offset on is the tail."""
    buf = path.read_bytes()
    records: list[tuple[int, list]] = []
    offset, end = 0, len(buf)
    while offset < end:
        if end - offset < _HEADER.size:
            return records, offset
        length, crc = _HEADER.unpack_from(buf, offset)
        start = offset + _HEADER.size
        stop = start + length
        if stop > end:
            return records, offset
        data = buf[start:stop]
        if length == 0 or zlib.crc32(data) != crc:
            if stop == end or not any(memoryview(buf)[offset:]):
                return records, offset
            if zero_sector_tears and _holds_zero_sector(buf, offset, _extent(offset, length, end)):
                return records, offset
            problem = "has an impossible length 0" if length == 0 else "fails its CRC check"
            raise CorruptWALError(f"{path}: offset {offset}: record {problem} "
                                  f"({end - stop} bytes follow it)")
        try:
            payload = msgpack.unpackb(data, raw=False, use_list=True)
        except Exception as exc:  # a CRC-valid record that does not decode is corruption
            raise CorruptWALError(f"{path}: offset {offset}: undecodable record: {exc}") from exc
        records.append((offset, payload))
        offset = stop
    return records, None


def fsync_dir(dir: Path) -> None:
    fd = os.open(dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def snapshot_path(dir: Path, snapshot: Snapshot) -> Path:
    return dir / f"{_PREFIX}{snapshot.term:016x}-{snapshot.index:016x}{_SUFFIX}"


def write_snapshot(dir: Path, snapshot: Snapshot) -> Path:
    """Write `snapshot` atomically and durably; returns its path."""
    path = snapshot_path(dir, snapshot)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(encode_record([_SNAPSHOT, *snapshot.to_wire()]))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(dir)
    return path


def latest_snapshot(dir: Path) -> Snapshot | None:
    """The newest snapshot in `dir` (by index), or None; CorruptWALError if it is unreadable."""
    found = _list(dir)
    if not found:
        return None
    (index, term), path = found[-1]
    return read_snapshot(path, index, term)


def read_snapshot(path: Path, index: int, term: int) -> Snapshot:
    """The snapshot in `path`, which should hold `index` and `term`; CorruptWALError if not."""
    records, torn_at = read_records(path)
    if torn_at is not None or len(records) != 1 or records[0][1][0] != _SNAPSHOT:
        at = torn_at if torn_at is not None else 0
        raise CorruptWALError(f"{path}: offset {at}: unreadable snapshot file")
    try:
        snapshot = Snapshot.from_wire(records[0][1][1:])
    except Exception as exc:
        raise CorruptWALError(f"{path}: offset 0: malformed snapshot: {exc}") from exc
    if (snapshot.index, snapshot.term) != (index, term):
        raise CorruptWALError(f"{path}: offset 0: holds index {snapshot.index} term "
                              f"{snapshot.term}, not what its name says")
    return snapshot


class SnapshotFile:
    """A snapshot's image left in its file: `bytes()` reads it back. The file must still be
    there, so it stands only for the WAL's current snapshot (older files are removed)."""

    __slots__ = ("path", "index", "term")

    def __init__(self, dir: Path, snapshot: Snapshot) -> None:
        self.path = snapshot_path(dir, snapshot)
        self.index, self.term = snapshot.index, snapshot.term

    def __bytes__(self) -> bytes:
        return bytes(read_snapshot(self.path, self.index, self.term).data)


def remove_snapshots_below(dir: Path, index: int) -> None:
    for (snap_index, _), path in _list(dir):
        if snap_index < index:
            path.unlink()


def _list(dir: Path) -> list[tuple[tuple[int, int], Path]]:
    found = []
    for path in dir.glob(f"{_PREFIX}*{_SUFFIX}"):
        parts = path.name[len(_PREFIX):-len(_SUFFIX)].split("-")
        try:
            term, index = (int(p, 16) for p in parts)
        except ValueError:
            continue
        found.append(((index, term), path))
    return sorted(found)


def _extent(offset: int, length: int, end: int) -> int:
    """Where the on-disk bytes of a bad record at `offset` end. An impossible (zero) length says
    nothing of the record's extent: it is taken to run through the first whole sector at or
    after `offset`, since its header may share a sector with synced bytes before it."""
    if length:
        return offset + _HEADER.size + length
    return min(end, -(-offset // SECTOR_BYTES) * SECTOR_BYTES + SECTOR_BYTES)


def _holds_zero_sector(buf: bytes, start: int, stop: int) -> bool:
    """Whether buf[start:stop] contains a whole sector-aligned sector of zeros."""
    first = -(-start // SECTOR_BYTES) * SECTOR_BYTES
    return any(buf[at:at + SECTOR_BYTES] == _ZERO_SECTOR
               for at in range(first, stop - SECTOR_BYTES + 1, SECTOR_BYTES))
