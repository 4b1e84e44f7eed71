"""Store commands: the msgpack-able dicts that travel in Raft entries and over the wire.

A command is `{"op": name, ...args}` (range, put, delete_range, txn, compact, lease_grant,
lease_revoke, lease_keepalive, lease_timetolive); its result is a dict, and an error is a result
too (`{"error": {...}}`), so a bad command never crashes a replica. `validate` checks a command
completely before it is proposed, and again when applied: a follower cannot tell an entry its
leader validated from a corrupt or foreign one, and an unchecked key of the wrong type would
poison the key index for every later read (the common put takes a fast path, well under 1 us);
integers must fit msgpack's 64 bits, so every valid command can enter the Raft log.
`StateMachine` is the replicated state (MVCC keyspace + leases) plus its watch history: `apply`
runs one committed write atomically (a txn validates its chosen branch before changing
anything), `read` serves linearizable reads (range, lease_timetolive, txns of ranges only),
`keepalive` renews a lease on the leader.
"""

from __future__ import annotations

from typing import Any

import msgpack

from kubemu.cluster.store.errors import (
    BadRequestError, CompactedError, StoreError, UnknownOpError, ValueTooLargeError,
)
from kubemu.cluster.store.lease import Lessor
from kubemu.cluster.store.mvcc import (
    MAX_VALUE_BYTES, Event, KeyValue, MVCCImage, MVCCStore, WriteTxn, event_to_dict, in_range,
    kv_to_dict,
)
from kubemu.cluster.store.watch import WatchHistory

__all__ = [
    "READ_OPS", "WRITE_OPS", "LEADER_OPS", "ALL_OPS", "validate", "is_read", "error_result",
    "kv_to_dict", "event_to_dict", "StateMachine",
]

READ_OPS = frozenset({"range", "lease_timetolive"})  # served via ReadIndex on any member
LEADER_OPS = frozenset({"lease_keepalive"})  # leader-local, no Raft write (after a ReadIndex)
WRITE_OPS = frozenset({"put", "delete_range", "txn", "compact", "lease_grant", "lease_revoke"})
ALL_OPS = READ_OPS | LEADER_OPS | WRITE_OPS
_TXN_OPS = frozenset({"range", "put", "delete_range"})
_COMPARE_TARGETS = frozenset({"version", "create", "mod", "value", "lease"})
_COMPARE_RESULTS = frozenset({"=", "!=", "<", ">"})
_PUT_KEYS = frozenset({"op", "key", "value", "lease", "prev_kv"})
_UINT64_MAX = (1 << 64) - 1  # msgpack's integer range: a command must survive the Raft log
_INT64_MIN = -(1 << 63)

# op -> {arg: (type check name, required)}
_ARGS: dict[str, dict[str, tuple[str, bool]]] = {
    "range": {"key": ("key", True), "range_end": ("str", False), "revision": ("uint", False),
              "limit": ("uint", False), "keys_only": ("bool", False),
              "count_only": ("bool", False)},
    "put": {"key": ("key", True), "value": ("bytes", True), "lease": ("uint", False),
            "prev_kv": ("bool", False)},
    "delete_range": {"key": ("key", True), "range_end": ("str", False),
                     "prev_kv": ("bool", False)},
    "txn": {"compares": ("list", False), "success": ("list", False), "failure": ("list", False)},
    "compact": {"revision": ("uint", True)},
    "lease_grant": {"id": ("uint", False), "ttl": ("int", True)},
    "lease_revoke": {"id": ("uint", True)},
    "lease_keepalive": {"id": ("uint", True)},
    "lease_timetolive": {"id": ("uint", True), "keys": ("bool", False)},
}


def validate(command: Any, *, _in_txn: bool = False) -> None:
    """Raise a StoreError (UnknownOpError, BadRequestError, ValueTooLargeError) unless
    `command` is a well-formed command of the contract."""
    if type(command) is dict and command.get("op") == "put" and command.keys() <= _PUT_KEYS:
        key, value = command.get("key"), command.get("value")
        lease = command.get("lease", 0)
        if (type(key) is str and key and type(value) is bytes and len(value) <= MAX_VALUE_BYTES
                and type(lease) is int and 0 <= lease <= _UINT64_MAX
                and type(command.get("prev_kv", False)) is bool):
            return  # a subset of what the checks below accept, and the most common command
    if not isinstance(command, dict):
        raise BadRequestError(f"a command is a dict, got {type(command).__name__}")
    op = command.get("op")
    spec = _ARGS.get(op) if isinstance(op, str) else None
    if spec is None or (_in_txn and op not in _TXN_OPS):
        where = "inside a txn" if _in_txn and spec is not None else ""
        raise UnknownOpError(f"unknown op {op!r} {where}".rstrip())
    for name, value in command.items():
        if name == "op":
            continue
        check = spec.get(name)
        if check is None:
            raise BadRequestError(f"{op}: unknown argument {name!r} (allowed: {sorted(spec)})")
        _check_arg(op, name, value, check[0])
    for name, (_, required) in spec.items():
        if required and name not in command:
            raise BadRequestError(f"{op}: missing argument {name!r}")
    if op == "txn":
        for c in command.get("compares", ()):
            _validate_compare(c)
        for branch in ("success", "failure"):
            for sub in command.get(branch, ()):
                validate(sub, _in_txn=True)


def is_read(command: dict) -> bool:
    """Whether a (valid) command only reads: range, lease_timetolive, or a txn whose branches
    hold only ranges (served like a range, without a Raft write, as etcd does)."""
    op = command["op"]
    if op in READ_OPS:
        return True
    if op != "txn":
        return False
    return all(sub["op"] == "range"
               for branch in ("success", "failure") for sub in command.get(branch, ()))


def error_result(exc: StoreError) -> dict[str, Any]:
    return exc.to_result()


class StateMachine:
    """The replicated state: MVCC keyspace and leases, plus the watch history it feeds."""

    def __init__(self, *, history_events: int = 100_000) -> None:
        self.mvcc = MVCCStore()
        self.lessor = Lessor()
        self.watch = WatchHistory(capacity=history_events)

    @property
    def revision(self) -> int:
        return self.mvcc.revision

    def apply(self, command: dict, *, index: int, now: float) -> dict[str, Any]:
        """Apply one committed write; never raises for a bad command (returns its error)."""
        try:
            validate(command)
            op = command["op"]
            if op not in WRITE_OPS:
                raise BadRequestError(f"{op} is not a write")
            return getattr(self, "_apply_" + op)(command, index, now)
        except StoreError as exc:
            return exc.to_result()

    def read(self, command: dict, *, now: float) -> dict[str, Any]:
        """Serve a read (range, lease_timetolive) from the local state."""
        try:
            validate(command)
            op = command["op"]
            if op == "range":
                return self._range(self.mvcc, command)
            if op == "lease_timetolive":
                return self._time_to_live(command, now)
            if is_read(command):  # a txn of ranges only
                return self._apply_txn(command, 0, now)
            raise BadRequestError(f"{op} is not a read")
        except StoreError as exc:
            return exc.to_result()

    def keepalive(self, command: dict, *, now: float) -> dict[str, Any]:
        """Renew a lease's deadline (on the leader); {"id", "ttl"}."""
        try:
            validate(command)
            ttl = self.lessor.renew(command["id"], now=now)
            return {"id": command["id"], "ttl": ttl}
        except StoreError as exc:
            return exc.to_result()

    # ---- snapshot ----------------------------------------------------------------------------

    def snapshot_obj(self) -> list:
        return [self.mvcc.snapshot_obj(), self.lessor.snapshot_obj()]

    def image(self) -> tuple[MVCCImage, list]:
        """A frozen view for a snapshot taken off the caller's thread: the keyspace's
        copy-on-write image and the (small) lease table; packs as `snapshot_obj()`."""
        return self.mvcc.image(), self.lessor.snapshot_obj()

    def restore_obj(self, obj: list, *, now: float) -> None:
        """Replace the state with a snapshot's; watch history is rebuilt from key histories."""
        primary = self.lessor.primary
        self.mvcc = MVCCStore.from_snapshot_obj(obj[0])
        self.lessor = Lessor.from_snapshot_obj(obj[1])
        for kv in self.mvcc.iter_live():
            self.lessor.attach(kv.lease, kv.key)
        if primary:
            self.lessor.promote(now=now)
        after = self.mvcc.compact_revision
        self.watch.reset(floor=after + 1, events=self.mvcc.history_events(after=after))

    def snapshot(self) -> bytes:
        return msgpack.packb(self.snapshot_obj(), use_bin_type=True)

    def restore(self, data: bytes, *, now: float) -> None:
        self.restore_obj(msgpack.unpackb(data, raw=False), now=now)

    # ---- writes ------------------------------------------------------------------------------

    def _apply_put(self, cmd: dict, index: int, now: float) -> dict[str, Any]:
        self._check_lease(cmd)
        return self._single_write(self._put, cmd)

    def _apply_delete_range(self, cmd: dict, index: int, now: float) -> dict[str, Any]:
        return self._single_write(self._delete, cmd)

    def _single_write(self, write, cmd: dict) -> dict[str, Any]:
        """One put or delete as its own write transaction; the result names its revision."""
        w = self.mvcc.txn()
        result = write(w, cmd)
        self._end(w)
        result["revision"] = self.mvcc.revision
        return result

    def _apply_txn(self, cmd: dict, index: int, now: float) -> dict[str, Any]:
        succeeded = all(self._compare(c) for c in cmd.get("compares", ()))
        ops = cmd.get("success" if succeeded else "failure", ())
        self._check_txn_ops(ops)
        w = self.mvcc.txn()
        responses = []
        for op in ops:
            kind = op["op"]
            if kind == "put":
                responses.append(self._put(w, op))
            elif kind == "delete_range":
                responses.append(self._delete(w, op))
            else:
                responses.append(self._range(w, op))
        self._end(w)
        revision = self.mvcc.revision
        for r in responses:
            r["revision"] = revision
        return {"succeeded": succeeded, "revision": revision, "responses": responses}

    def _apply_compact(self, cmd: dict, index: int, now: float) -> dict[str, Any]:
        self.mvcc.compact(cmd["revision"])
        self.watch.compact(cmd["revision"])
        return {"revision": self.mvcc.revision}

    def _apply_lease_grant(self, cmd: dict, index: int, now: float) -> dict[str, Any]:
        lease_id = cmd.get("id", 0) or self.lessor.pick_id(index)
        lease = self.lessor.grant(lease_id, cmd["ttl"], now=now, index=index)
        return {"id": lease.id, "ttl": lease.ttl}

    def _apply_lease_revoke(self, cmd: dict, index: int, now: float) -> dict[str, Any]:
        keys = self.lessor.revoke(cmd["id"])
        w = self.mvcc.txn()
        for key in keys:
            w.delete_range(key)
        self._end(w)
        return {"revision": self.mvcc.revision}

    def _put(self, w: WriteTxn, cmd: dict) -> dict[str, Any]:
        key, lease = cmd["key"], cmd.get("lease", 0)
        prev = w.put(key, bytes(cmd["value"]), lease=lease)
        if prev is not None and prev.lease != lease:
            self.lessor.detach(prev.lease, key)
        self.lessor.attach(lease, key)
        return {"prev_kv": kv_to_dict(prev) if cmd.get("prev_kv") else None}

    def _delete(self, w: WriteTxn, cmd: dict) -> dict[str, Any]:
        deleted = w.delete_range(cmd["key"], cmd.get("range_end", ""))
        for prev in deleted:
            self.lessor.detach(prev.lease, prev.key)
        prev_kvs = [kv_to_dict(kv) for kv in deleted] if cmd.get("prev_kv", True) else []
        return {"deleted": len(deleted), "prev_kvs": prev_kvs}

    def _end(self, w: WriteTxn) -> list[Event]:
        events = w.end()
        if events:
            self.watch.extend(events)
        return events

    def _range(self, reader: MVCCStore | WriteTxn, cmd: dict) -> dict[str, Any]:
        r = reader.range(
            cmd["key"], cmd.get("range_end", ""), revision=cmd.get("revision", 0),
            limit=cmd.get("limit", 0), keys_only=cmd.get("keys_only", False),
            count_only=cmd.get("count_only", False),
            changed=self._changed_since(cmd) if reader is self.mvcc else None,
        )
        return {"kvs": [kv_to_dict(kv) for kv in r.kvs], "count": r.count, "more": r.more,
                "revision": self.mvcc.revision}

    def _changed_since(self, cmd: dict) -> list[str] | None:
        """For a range at an old revision: the keys of the range written since, from the
        watch history (None when it no longer reaches back): a paginated list reads every
        page at its first page's revision, and counting what remains by looking at every
        key was a scan of 100,000 pods per page."""
        revision, range_end = cmd.get("revision", 0), cmd.get("range_end", "")
        if not revision or not range_end or revision >= self.mvcc.revision:
            return None
        try:
            events, _ = self.watch.events_since(cmd["key"], range_end, revision + 1, limit=0)
        except CompactedError:
            return None
        return [ev.kv.key for ev in events]

    def _time_to_live(self, cmd: dict, now: float) -> dict[str, Any]:
        lease = self.lessor.leases.get(cmd["id"])
        if lease is None:  # as etcd: an expired or unknown lease has TTL -1
            return {"id": cmd["id"], "ttl": -1, "granted_ttl": 0, "keys": []}
        keys = sorted(lease.keys) if cmd.get("keys", True) else []
        return {"id": lease.id, "ttl": self.lessor.remaining(lease.id, now=now),
                "granted_ttl": lease.ttl, "keys": keys}

    # ---- checks made before a write changes anything -----------------------------------------

    def _check_lease(self, cmd: dict) -> None:
        lease = cmd.get("lease", 0)
        if lease:
            self.lessor.get(lease)  # raises LeaseNotFoundError

    def _check_txn_ops(self, ops: list[dict]) -> None:
        puts: set[str] = set()
        deletes: list[tuple[str, str]] = []
        for op in ops:
            kind = op["op"]
            if kind == "range":
                self.mvcc.check_revision(op.get("revision", 0))
            elif kind == "put":
                self._check_lease(op)
                if op["key"] in puts:
                    raise BadRequestError(f"duplicate key given in txn request: {op['key']!r}")
                puts.add(op["key"])
            else:
                deletes.append((op["key"], op.get("range_end", "")))
        for key in puts:
            for start, end in deletes:
                if in_range(key, start, end):
                    raise BadRequestError(
                        f"txn puts key {key!r} inside a range it deletes")

    def _compare(self, c: dict) -> bool:
        target, result, want = c["target"], c["result"], c["value"]
        range_end = c.get("range_end", "")
        if range_end:
            kvs = self.mvcc.range(c["key"], range_end).kvs
        else:
            kv = self.mvcc.get(c["key"])
            kvs = [] if kv is None else [kv]
        if not kvs:
            if target == "value":
                return False
            kvs = [KeyValue(c["key"], b"", 0, 0, 0, 0)]
        return all(_compare_one(_target_of(kv, target), result, want) for kv in kvs)


def _target_of(kv: KeyValue, target: str) -> int | bytes:
    if target == "version":
        return kv.version
    if target == "create":
        return kv.create_revision
    if target == "mod":
        return kv.mod_revision
    if target == "lease":
        return kv.lease
    return kv.value


def _compare_one(have: int | bytes, result: str, want: int | bytes) -> bool:
    if result == "=":
        return have == want
    if result == "!=":
        return have != want
    if result == "<":
        return have < want  # type: ignore[operator]
    return have > want  # type: ignore[operator]


def _validate_compare(c: Any) -> None:
    if not isinstance(c, dict):
        raise BadRequestError(f"a txn compare is a dict, got {type(c).__name__}")
    unknown = set(c) - {"key", "range_end", "target", "result", "value"}
    if unknown:
        raise BadRequestError(f"txn compare: unknown fields {sorted(unknown)}")
    for name in ("key", "target", "result", "value"):
        if name not in c:
            raise BadRequestError(f"txn compare: missing {name!r}")
    _check_arg("compare", "key", c["key"], "key")
    _check_arg("compare", "range_end", c.get("range_end", ""), "str")
    if c["target"] not in _COMPARE_TARGETS:
        raise BadRequestError(
            f"txn compare: target must be one of {sorted(_COMPARE_TARGETS)}, got {c['target']!r}")
    if c["result"] not in _COMPARE_RESULTS:
        raise BadRequestError(
            f"txn compare: result must be one of {sorted(_COMPARE_RESULTS)}, got {c['result']!r}")
    _check_arg("compare", "value", c["value"], "bytes" if c["target"] == "value" else "int")


def _check_arg(op: str, name: str, value: Any, kind: str) -> None:
    ok: bool
    if kind == "key":
        ok = isinstance(value, str) and value != ""
        what = "a non-empty str"
    elif kind == "str":
        ok = isinstance(value, str)
        what = "a str"
    elif kind == "bytes":
        ok = isinstance(value, (bytes, bytearray))
        what = "bytes"
        if ok and len(value) > MAX_VALUE_BYTES:
            raise ValueTooLargeError(
                f"{op}: {name} of {len(value)} bytes is over the {MAX_VALUE_BYTES} byte limit")
    elif kind == "bool":
        ok = isinstance(value, bool)
        what = "a bool"
    elif kind == "list":
        ok = isinstance(value, (list, tuple))
        what = "a list"
    else:
        ok = (isinstance(value, int) and not isinstance(value, bool)
              and _INT64_MIN <= value <= _UINT64_MAX)
        what = "a 64-bit int"
        if kind == "uint":
            ok = ok and value >= 0
            what = "a 64-bit int >= 0"
    if not ok:
        raise BadRequestError(f"{op}: {name} must be {what}, got {value!r:.80}")
