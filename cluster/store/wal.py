"""WAL: a store replica's durable Raft state (hard state, log entries, snapshot), as etcd keeps it.

A member's directory holds numbered segments `wal-{seq:016x}.log` and the latest snapshot
`snap-{term:016x}-{index:016x}.snap` (see `snapfile`). Every record is framed as
[u32 payload length][u32 crc32(payload)][msgpack payload]. A segment opens with a SEGMENT record
(the snapshot marker: the snapshot index/term the segment follows), then ENTRIES and HARD_STATE
records in write order.

Invariants:
- `save` only buffers; `sync` writes and fsyncs: the group-commit point. Nothing saved is
  durable (or may be acknowledged) before `sync` returns. Within one save, entries are written
  before the hard state, so a torn tail never leaves a commit index beyond the log.
- etcd's MustSync rule: when everything buffered since the last fsync is hard states that
  differ from the last synced one only in the commit index (no entries, same term and vote),
  `sync` writes them but does not fsync. A crash may then lose that commit index; recovery finds
  an older one, which Raft allows (commit is relearnt from the leader; term, vote and every
  acknowledged entry are durable). The next fsync makes them durable with what follows.
- Entries replay as the Raft log: a batch starting at index k <= last replaces k and all after it
  (the log truncation); a gap is corruption.
- `save_snapshot` writes the snapshot file (tmp, fsync, rename, directory fsync), then a new
  segment holding the marker, the hard state and the entries after the snapshot (kept only if
  the log holds the snapshot's own entry; otherwise the log resets, as Raft's restore does),
  and only then deletes older segments and snapshots. A crash at any point is recoverable.
  The two halves exist on their own: `write_snapshot_file` touches only the new file, so a
  driver may run it in a thread while it keeps appending, and `adopt_snapshot` (which needs
  that file) switches segments; the appends made in between replay after the snapshot.
- Recovery truncates a torn tail of the LAST segment, logging a warning: a short, CRC-bad or
  zero-filled last record, or (etcd's isTornEntry rule, since unsynced pages can reach the disk
  out of order) a CRC-bad or zero-length record whose bytes hold an all-zero sector-aligned
  512-byte sector, with everything after it. Any other bad record (including one like that in
  an earlier segment), a missing segment, or an unreadable snapshot raises `CorruptWALError`
  naming the file and offset. Never silent loss: what is truncated is logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from kubemu.cluster.raft.messages import Entry, HardState, Snapshot
from kubemu.cluster.raft.storage import Recovered
from kubemu.cluster.store.snapfile import (
    CorruptWALError,
    SnapshotFile,
    encode_record,
    fsync_dir,
    latest_snapshot,
    read_records,
    remove_snapshots_below,
    write_snapshot,
)

__all__ = ["WAL", "CorruptWALError", "SEGMENT_BYTES"]

log = logging.getLogger("kubemu.store.wal")

SEGMENT_BYTES = 64 << 20
"""A segment past this size is closed and a new one started at the next sync."""

_HARD_STATE, _ENTRIES, _SEGMENT = 1, 2, 3
_VERSION = 1
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "wal-", ".log"


class WAL:
    """Append-only durable log of one Raft member; use `WAL.open(dir)`."""

    def __init__(self, dir: Path, *, seq: int, fd: int | None, size: int, segment_bytes: int,
                 base: tuple[int, int], hard_state: HardState | None,
                 entries: list[Entry]) -> None:
        self._dir = dir
        self._seq = seq
        self._fd: int | None = fd
        self._size = size
        self._segment_bytes = segment_bytes
        self._base_index, self._base_term = base
        self._hard_state = hard_state
        self._entries = entries  # the log after the snapshot, entries[i].index == base+1+i
        self._buf = bytearray()
        self._synced_hs = hard_state  # term and vote as of the last fsync'd hard state
        self._must_sync = False  # buffered or written records that the next sync must fsync
        self._unsynced = False  # records written since the last fsync
        self.fsyncs = 0
        """How many times `sync` fsync'd (the MustSync rule skips some)."""

    @classmethod
    def open(cls, dir: str | Path, *, segment_bytes: int = SEGMENT_BYTES
             ) -> tuple[WAL, Recovered]:
        """Open (creating if needed) the WAL in `dir` and recover what it holds."""
        dir = Path(dir)
        dir.mkdir(parents=True, exist_ok=True)
        for tmp in dir.glob("*.tmp"):
            tmp.unlink()
        snapshot = latest_snapshot(dir)
        segments = _list_segments(dir)
        if not segments:
            if snapshot is not None:
                raise CorruptWALError(
                    f"{dir}: snapshot at index {snapshot.index} present but no WAL segments "
                    "(hard state lost)")
            wal = cls(dir, seq=-1, fd=None, size=0, segment_bytes=segment_bytes, base=(0, 0),
                      hard_state=None, entries=[])
            wal._start_segment(0)
            return wal, Recovered()
        replay = _Replay()
        last_size = 0
        for n, (seq, path) in enumerate(segments):
            if seq != segments[0][0] + n:
                raise CorruptWALError(f"{dir}: WAL segment {segments[0][0] + n:016x} is missing "
                                      f"(found {path.name} next)")
            last = n == len(segments) - 1
            records, torn_at = read_records(path, zero_sector_tears=last)
            if torn_at is not None:
                if not last:
                    raise CorruptWALError(f"{path}: torn record at offset {torn_at} in a "
                                          "segment that is not the last")
                log.warning("truncating torn WAL tail: file=%s offset=%d dropped_bytes=%d",
                            path, torn_at, path.stat().st_size - torn_at)
                with open(path, "r+b") as f:  # a torn tail was never acknowledged: drop it
                    f.truncate(torn_at)
                    os.fsync(f.fileno())
            last_size = torn_at if torn_at is not None else path.stat().st_size
            replay.segment(path, seq, records, snapshot)
        if snapshot is not None and snapshot.index > replay.base_index:
            replay.restore(snapshot.index, snapshot.term)  # crashed before the new segment
        recovered = replay.finish(dir, snapshot)
        seq, path = segments[-1]
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        wal = cls(dir, seq=seq, fd=fd, size=last_size, segment_bytes=segment_bytes,
                  base=(replay.base_index, replay.base_term), hard_state=recovered.hard_state,
                  entries=list(recovered.entries))
        return wal, recovered

    @property
    def last_index(self) -> int:
        return self._entries[-1].index if self._entries else self._base_index

    @property
    def snapshot_index(self) -> int:
        return self._base_index

    @property
    def hard_state(self) -> HardState | None:
        """The last hard state saved (synced or not)."""
        return self._hard_state

    @property
    def needs_fsync(self) -> bool:
        """Whether the next `sync` must fsync (false when only commit indexes are pending)."""
        return self._must_sync

    def save(self, hard_state: HardState | None, entries: Sequence[Entry]) -> None:
        """Buffer entries (truncating a conflicting suffix) and the hard state; see `sync`."""
        if entries:
            first = entries[0].index
            if first > self.last_index + 1:
                raise ValueError(f"WAL append at index {first} leaves a gap after "
                                 f"{self.last_index}")
            if first <= self._base_index:
                entries = [e for e in entries if e.index > self._base_index]
            if entries:
                del self._entries[entries[0].index - self._base_index - 1:]
                self._entries.extend(entries)
                self._buf += encode_record([_ENTRIES, [e.to_wire() for e in entries]])
                self._must_sync = True
        if hard_state is not None:
            synced = self._synced_hs
            if synced is None or (hard_state.term, hard_state.vote) != (synced.term, synced.vote):
                self._must_sync = True
            self._hard_state = HardState(hard_state.term, hard_state.vote, hard_state.commit)
            self._buf += encode_record([_HARD_STATE, *hard_state.to_wire()])

    def sync(self, *, force: bool = False) -> bool:
        """Write what `save` buffered and fsync it: afterwards it survives a crash. Under the
        MustSync rule (see the module docstring) a pending change of nothing but the commit
        index is only written, unless `force`. Returns whether it fsync'd."""
        if self._buf:
            fd = self._require_open()
            view = memoryview(self._buf)
            while view:
                view = view[os.write(fd, view):]
            self._size += len(self._buf)
            self._buf = bytearray()
            self._unsynced = True
        if not (self._must_sync or (force and self._unsynced)):
            return False
        _datasync(self._require_open())
        self.fsyncs += 1
        self._must_sync = self._unsynced = False
        self._synced_hs = self._hard_state
        if self._size >= self._segment_bytes:
            self._start_segment(self._seq + 1)
        return True

    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Make `snapshot` durable, then restart the WAL after it and drop older files."""
        if snapshot.index <= self._base_index:
            return
        self.write_snapshot_file(snapshot)
        self.adopt_snapshot(snapshot)

    def snapshot_file(self, snapshot: Snapshot) -> SnapshotFile | None:
        """What stands for `snapshot`'s image once this WAL is based on it (read back from its
        file on demand); None for any other snapshot (its file may be gone)."""
        if (snapshot.index, snapshot.term) != (self._base_index, self._base_term):
            return None
        return SnapshotFile(self._dir, snapshot)

    def write_snapshot_file(self, snapshot: Snapshot) -> None:
        """The first half of `save_snapshot`: write the snapshot file durably. It touches no
        state of this object, so it may run in another thread while this WAL keeps appending."""
        write_snapshot(self._dir, snapshot)

    def adopt_snapshot(self, snapshot: Snapshot) -> None:
        """The second half of `save_snapshot` (once `write_snapshot_file(snapshot)` returned):
        restart the WAL after the snapshot and drop older segments and snapshot files."""
        if snapshot.index <= self._base_index:
            return
        self.sync(force=True)  # the old segment ends with whole records before a newer one
        term = self._term_at(snapshot.index)
        if term == snapshot.term:
            del self._entries[:snapshot.index - self._base_index]
        else:
            self._entries = []
        self._base_index, self._base_term = snapshot.index, snapshot.term
        old = [path for seq, path in _list_segments(self._dir)]
        self._start_segment(self._seq + 1, carry=True)
        for path in old:
            path.unlink()
        remove_snapshots_below(self._dir, snapshot.index)
        fsync_dir(self._dir)

    def close(self) -> None:
        if self._fd is None:
            return
        self.sync(force=True)
        os.close(self._fd)
        self._fd = None

    def _term_at(self, index: int) -> int | None:
        if index == self._base_index:
            return self._base_term
        if self._base_index < index <= self.last_index:
            return self._entries[index - self._base_index - 1].term
        return None

    def _require_open(self) -> int:
        if self._fd is None:
            raise ValueError("WAL is closed")
        return self._fd

    def _start_segment(self, seq: int, *, carry: bool = False) -> None:
        """Write a complete new segment atomically (tmp, fsync, rename) and append to it."""
        data = bytearray(encode_record([_SEGMENT, _VERSION, seq, self._base_index,
                                        self._base_term]))
        if carry and self._entries:
            data += encode_record([_ENTRIES, [e.to_wire() for e in self._entries]])
        if self._hard_state is not None:
            data += encode_record([_HARD_STATE, *self._hard_state.to_wire()])
        path = self._dir / f"{_SEGMENT_PREFIX}{seq:016x}{_SEGMENT_SUFFIX}"
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(self._dir)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        if self._fd is not None:
            os.close(self._fd)
        self._fd, self._seq, self._size = fd, seq, len(data)
        self._synced_hs = self._hard_state  # the new segment holds it, fsync'd
        self._unsynced = False


class _Replay:
    """Rebuilds the log, hard state and snapshot baseline from segment records in order."""

    def __init__(self) -> None:
        self.base_index = 0
        self.base_term = 0
        self.entries: list[Entry] = []
        self.hard_state: HardState | None = None

    def segment(self, path: Path, seq: int, records: list[tuple[int, list]],
                snapshot: Snapshot | None) -> None:
        if not records or records[0][1][0] != _SEGMENT:
            raise CorruptWALError(f"{path}: offset 0: segment does not start with its marker")
        for offset, rec in records:
            kind = rec[0]
            if kind == _ENTRIES:
                self._append(path, offset, [Entry.from_wire(w) for w in rec[1]])
            elif kind == _HARD_STATE:
                self.hard_state = HardState.from_wire(rec[1:])
            elif kind == _SEGMENT:
                _, version, marker_seq, index, term = rec
                if version != _VERSION or marker_seq != seq:
                    raise CorruptWALError(f"{path}: offset {offset}: bad segment marker "
                                          f"(version {version}, seq {marker_seq})")
                snap_index = 0 if snapshot is None else snapshot.index
                if index > snap_index or (index and index == snap_index
                                          and term != snapshot.term):
                    raise CorruptWALError(
                        f"{path}: offset {offset}: segment follows a snapshot at index {index} "
                        f"(term {term}) but no readable snapshot file holds it")
                if index > self.base_index:
                    self.restore(index, term)
            else:
                raise CorruptWALError(f"{path}: offset {offset}: unknown record kind {kind}")

    def restore(self, index: int, term: int) -> None:
        """Raft's log restore: entries after the snapshot survive only if the log matches it."""
        last = self.entries[-1].index if self.entries else self.base_index
        if self.base_index < index <= last and \
                self.entries[index - self.base_index - 1].term == term:
            del self.entries[:index - self.base_index]
        else:
            self.entries = []
        self.base_index, self.base_term = index, term

    def finish(self, dir: Path, snapshot: Snapshot | None) -> Recovered:
        hs = self.hard_state
        last = self.entries[-1].index if self.entries else self.base_index
        if hs is not None:
            if hs.commit > last:
                raise CorruptWALError(f"{dir}: hard state commit {hs.commit} is beyond the last "
                                      f"log index {last}")
            if snapshot is not None and hs.commit < snapshot.index:
                hs = HardState(hs.term, hs.vote, snapshot.index)  # a snapshot is committed
        return Recovered(hard_state=hs, snapshot=snapshot, entries=self.entries)

    def _append(self, path: Path, offset: int, batch: list[Entry]) -> None:
        batch = [e for e in batch if e.index > self.base_index]
        if not batch:
            return
        last = self.entries[-1].index if self.entries else self.base_index
        first = batch[0].index
        if first > last + 1:
            raise CorruptWALError(f"{path}: offset {offset}: entry {first} leaves a gap after "
                                  f"index {last}")
        del self.entries[first - self.base_index - 1:]
        self.entries.extend(batch)


def _list_segments(dir: Path) -> list[tuple[int, Path]]:
    found = []
    for path in dir.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"):
        digits = path.name[len(_SEGMENT_PREFIX):-len(_SEGMENT_SUFFIX)]
        try:
            found.append((int(digits, 16), path))
        except ValueError:
            continue
    return sorted(found)


def _datasync(fd: int) -> None:
    (getattr(os, "fdatasync", None) or os.fsync)(fd)
