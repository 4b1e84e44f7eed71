"""Simulated store clients: concurrent, retrying, timing out, and recording a history.

Each `SimClient` runs one operation at a time (put, delete, single-key txn, linearizable get)
on a small shared key set, with a request id per operation. It sends to the member it thinks is
the leader (reads sometimes go to any member: they are served through ReadIndex), follows
`not_leader` hints, and retries with the SAME request id when an attempt times out or is
refused, so a write is applied at most once. After `op_timeout` steps it gives up: the op is
recorded as indeterminate (it may or may not have taken effect). Completed ops are recorded with
the global sequence numbers of their invocation and completion (real-time order for the
linearizability checker) and their results.

A client may also hold one watch (a key or the prefix) that it polls every step from some live
member, resuming at the next unseen revision when it switches member (a crash, or at random), so
the watch must be gap-free across failover.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from kubemu.cluster.raft.messages import NodeId
from kubemu.cluster.store.errors import CompactedError

from tests.sim.checkers import WatchRecord, event_tuple
from tests.sim.cluster import SimCluster, SimViolation
from tests.sim.linearizability import HistoryOp

RETRIABLE = frozenset({"not_leader", "timeout"})
KEY_PREFIX = "/k/"
LEASE_PREFIX = "/l/"
LINEARIZABLE_KINDS = frozenset({"put", "get", "txn", "delete"})
KINDS = ("put", "get", "txn", "delete", "lease", "keepalive", "compact", "get_at")
# error results that are a legitimate answer (not a failure) for an op kind
ACCEPTED_ERRORS = {
    "lease_put": {"lease_not_found"},  # the lease expired first
    "keepalive": {"lease_not_found"},
    "compact": {"compacted"},  # someone compacted at or past that revision already
    "get_at": {"compacted"},
}


@dataclass(slots=True)
class ClientOptions:
    ops: int = 8  # operations per client during the active phase
    keys: int = 3
    think_max: int = 12  # idle steps between operations: 0..think_max
    attempt_timeout: int = 15  # steps before an attempt is retried (same request id)
    op_timeout: int = 80  # steps before the client gives up (indeterminate)
    read_any_member: float = 0.5  # chance a get goes to a random member, not the leader
    watch: float = 0.6  # chance this client opens a watch
    watch_window: int = 150  # it opens it at a random step in [0, watch_window]
    # put, get, txn, delete, lease (grant, then put a key with it), keepalive, compact, get_at
    weights: tuple[float, ...] = (4, 3, 3, 1, 1, 0.5, 0.3, 1)


@dataclass(slots=True)
class _Pending:
    op: HistoryOp
    command: dict
    deadline: int
    target: NodeId = 0
    retry_at: int = 0
    attempts: int = 0


class Sequencer:
    """Global real-time order of invocations and completions."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def __call__(self) -> int:
        return next(self._next)


class SimClient:
    def __init__(self, client_id: int, *, cluster: SimCluster, rng: random.Random,
                 seq: Sequencer, options: ClientOptions) -> None:
        self.id = client_id
        self.cluster = cluster
        self.rng = rng
        self.seq = seq
        self.opts = options
        self.keys = [f"{KEY_PREFIX}{i}" for i in range(options.keys)]
        self.history: list[HistoryOp] = []
        self.pending: _Pending | None = None
        self.todo = options.ops
        self.final_reads: list[str] = []
        self.next_at = rng.randint(0, options.think_max)
        self.leader_guess: NodeId = rng.choice(cluster.ids)
        self.last_read: dict[str, tuple[bytes, int] | None] = {}
        self._ids = itertools.count(1)
        self._values = itertools.count(1)
        self.errors: list[str] = []
        self.watch: WatchRecord | None = None
        self.watch_node: NodeId = 0
        self.watch_from_step = (rng.randint(0, options.watch_window)
                                if rng.random() < options.watch else None)
        self.last_revision = 1
        self.lease_id = 0

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        return self.pending is None and not self.todo and not self.final_reads

    def finish_with_reads(self) -> None:
        """Quiet phase: stop issuing new ops except one final read of every key."""
        self.todo = 0
        self.final_reads = list(self.keys)

    def act(self, step: int) -> None:
        self._poll_watch(step)
        p = self.pending
        if p is not None:
            if step >= p.deadline:
                self._give_up(step)
            elif step >= p.retry_at:
                self._send(step, new_target=True)
            return
        if step < self.next_at:
            return
        if self.final_reads:
            self._start(step, self._get(self.final_reads.pop()))
        elif self.todo:
            self.todo -= 1
            self._start(step, self._random_op())

    def on_result(self, node: NodeId, request_id: str, result: dict, step: int) -> None:
        p = self.pending
        if p is None or p.op.request_id != request_id:
            return  # a late answer to an op already completed or given up
        err = result.get("error")
        if err is not None:
            code = err.get("code")
            if code in RETRIABLE:
                if node == p.target:  # only the current attempt's refusal triggers a retry
                    hint = err.get("leader") or 0
                    self.leader_guess = hint if hint else self._other_member(node)
                    p.retry_at = min(p.retry_at, step + 1)
                return
            if code not in ACCEPTED_ERRORS.get(p.op.kind, ()):
                self.errors.append(f"step {step}: client {self.id}: {p.command} failed with "
                                   f"{err}")
                self.pending = None
                self.next_at = step + 1
                return
        self._complete(p, result, step)

    # -- operations -----------------------------------------------------------------------------

    def _random_op(self) -> tuple[HistoryOp, dict]:
        rng = self.rng
        key = rng.choice(self.keys)
        kind = rng.choices(KINDS, weights=self.opts.weights)[0]
        if kind in ("lease", "keepalive", "compact", "get_at"):
            return self._side_op(kind, key)
        if kind == "get":
            return self._get(key)
        if kind == "delete":
            return (self._op("delete", key), {"op": "delete_range", "key": key})
        value = f"c{self.id}.{next(self._values)}".encode()
        if kind == "put":
            return (self._op("put", key, value=value), {"op": "put", "key": key, "value": value})
        seen = self.last_read.get(key, "unknown")
        if seen == "unknown" or seen is None:
            compare = ("version", 0)
            wire = {"key": key, "target": "version", "result": "=", "value": 0}
        elif rng.random() < 0.5:
            compare = ("value", seen[0])
            wire = {"key": key, "target": "value", "result": "=", "value": seen[0]}
        else:
            compare = ("mod", seen[1], seen[0])
            wire = {"key": key, "target": "mod", "result": "=", "value": seen[1]}
        command = {"op": "txn", "compares": [wire],
                   "success": [{"op": "put", "key": key, "value": value}], "failure": []}
        return (self._op("txn", key, value=value, compare=compare), command)

    def _side_op(self, kind: str, key: str) -> tuple[HistoryOp, dict]:
        """Ops outside the linearizability model: leases, compaction, reads in the past."""
        rng = self.rng
        if kind == "get_at":
            rev = rng.randint(1, self.last_revision)
            return (self._op("get_at", key, at_revision=rev),
                    {"op": "range", "key": key, "revision": rev})
        if kind == "compact":
            rev = rng.randint(1, max(1, self.last_revision - 2))
            return (self._op("compact", "", at_revision=rev), {"op": "compact", "revision": rev})
        if kind == "keepalive" and self.lease_id:
            return (self._op("keepalive", ""), {"op": "lease_keepalive", "id": self.lease_id})
        lease_key = f"{LEASE_PREFIX}c{self.id}"
        if self.lease_id and rng.random() < 0.7:
            value = f"c{self.id}.{next(self._values)}".encode()
            return (self._op("lease_put", lease_key, value=value),
                    {"op": "put", "key": lease_key, "value": value, "lease": self.lease_id})
        return (self._op("lease_grant", ""), {"op": "lease_grant", "ttl": rng.randint(1, 3)})

    def _get(self, key: str) -> tuple[HistoryOp, dict]:
        return (self._op("get", key), {"op": "range", "key": key})

    def _op(self, kind: str, key: str, **kw) -> HistoryOp:
        return HistoryOp(self.id, kind, key, call=0, ret=None,
                         request_id=f"c{self.id}-{next(self._ids)}", **kw)

    def _start(self, step: int, op_and_command: tuple[HistoryOp, dict]) -> None:
        op, command = op_and_command
        op.call = self.seq()
        op.call_step = step
        self.history.append(op)
        self.pending = _Pending(op, command, deadline=step + self.opts.op_timeout)
        self._send(step, new_target=False)

    def _send(self, step: int, *, new_target: bool) -> None:
        p = self.pending
        assert p is not None
        live = self.cluster.live()
        if p.op.kind == "get" and self.rng.random() < self.opts.read_any_member:
            target = self.rng.choice(self.cluster.ids)
        else:
            if new_target and p.attempts and p.target == self.leader_guess:
                self.leader_guess = self._other_member(p.target)
            target = self.leader_guess
        p.target = target
        p.attempts += 1
        p.retry_at = step + self.opts.attempt_timeout
        if target in live:
            self.cluster.members[target].submit(p.op.request_id, p.command)

    def _complete(self, p: _Pending, result: dict, step: int) -> None:
        op = p.op
        op.ret = self.seq()
        op.ret_step = step
        op.revision = result.get("revision", 0)
        self.last_revision = max(self.last_revision, op.revision)
        if op.kind == "get":  # a linearizable read of the current state
            kvs = result.get("kvs", [])
            if len(kvs) > 1:
                raise SimViolation(f"step {step}: get of {op.key!r} returned {len(kvs)} kvs")
            if kvs:
                kv = kvs[0]
                op.output = (kv["value"], kv["version"], kv["mod_revision"])
                self.last_read[op.key] = (kv["value"], kv["mod_revision"])
            else:
                op.output = None
                self.last_read[op.key] = None
        elif op.kind == "delete":
            op.output = result.get("deleted")
        elif op.kind == "txn":
            op.output = result.get("succeeded")
        elif op.kind == "get_at":
            if "error" in result:
                op.output = result["error"]["code"]
            else:
                op.output = [(kv["key"], kv["value"], kv["version"], kv["mod_revision"])
                             for kv in result.get("kvs", [])]
        elif op.kind == "lease_grant":
            self.lease_id = result["id"]
        elif "error" in result:
            op.output = result["error"]["code"]
            if op.kind in ("lease_put", "keepalive"):
                self.lease_id = 0
        self.pending = None
        self.next_at = step + self.rng.randint(0, self.opts.think_max)

    def _give_up(self, step: int) -> None:
        self.pending = None  # op.ret stays None: indeterminate
        self.next_at = step + 1

    def _other_member(self, node: NodeId) -> NodeId:
        others = [i for i in self.cluster.ids if i != node]
        return self.rng.choice(others) if others else node

    # -- watch ----------------------------------------------------------------------------------

    def _poll_watch(self, step: int) -> None:
        if self.watch is None:
            if self.watch_from_step is None or step < self.watch_from_step:
                return
            shape = self.rng.random()
            if shape < 0.4:
                key, range_end = KEY_PREFIX, "/k0"  # prefix_end("/k/")
            elif shape < 0.6:
                key, range_end = "/", "\0"  # every key from "/" on, leased keys too
            else:
                key, range_end = self.rng.choice(self.keys), ""
            start = self.rng.choice([1, self.last_revision, self.last_revision + 1])
            self.watch = WatchRecord(self.id, key, range_end, start, [], start - 1)
        w = self.watch
        if w.compacted:
            return
        live = self.cluster.live()
        if not live:
            return
        if self.watch_node not in live or self.rng.random() < 0.02:
            self.watch_node = self.rng.choice(live)
        member = self.cluster.members[self.watch_node]
        try:
            events, through = member.watch_events(w.key, w.range_end, w.through + 1, limit=20)
        except CompactedError:
            w.compacted = True
            return
        if len(events) >= 20:  # cut by the limit: complete only through the last event seen
            through = min(through, events[-1].kv.mod_revision)
        if through <= w.through:
            return
        w.events.extend(event_tuple(ev) for ev in events)
        w.through = through
