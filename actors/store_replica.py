"""StoreReplica: one etcd-like store member (Raft + MVCC) as a Ray actor, and `start_store`.

The actor drives a sans-I/O `StoreMember`. A ticker task calls `tick()` every `tick_seconds`
(wall clock); `deliver` steps peers' Raft messages in and `submit` hands requests over; each of
them wakes the ready loop, which takes one Ready, appends it to the WAL and fsyncs it ONCE in a
worker thread while the event loop keeps accepting requests (group commit: whatever arrives
meanwhile lands in the next Ready), sends its messages fire-and-forget (one `deliver` call per
peer per Ready carrying one msgpack `bytes`, never awaiting the reply), applies it and completes
waiting `submit` calls (whose batches and results also travel as one msgpack `bytes` each way).
`watch` long-polls the applied history. Store clients make `submit` and `watch` calls over a
TCP link once it is up (`store_link`: a Ray call costs far more CPU). Peers are found by name; now and then one send's outcome
is watched from the side, and a peer found dead for good is looked up again (it may have been
re-created under its name).

Persist before send, except on the leader (Raft thesis 10.2.1; etcd does the same): a Ready
whose soft state is LEADER, that installs no snapshot and moves neither term nor vote is sent
first and fsync'd while its appends travel. Safe because such a Ready promises nothing that
needs the leader's disk: its term and vote were fsync'd when it campaigned (a leader's Ready
never holds a newer term: a higher term makes it a follower first); its own copy of the new
entries counts toward commit only once `advance` reports them persisted (RaftCore moves the
leader's own progress in `advance`), so an entry commits only when a majority holds it durably,
the followers fsync'ing before they ack; and a leader that crashes before its fsync cannot
later write a different entry at an index it already sent, since it could lead again only after
winning an election in a newer term. Nothing is applied or acknowledged to a client before the
leader's own fsync either (the loop awaits it before `advance`). Followers and candidates keep
persist -> fsync -> send: their answers (votes, append acks) promise durable state.

etcd's MustSync rule: a Ready whose only durable change is the commit index is written without
fsync, on the loop (see `WAL.sync`). Snapshots are built off the loop: `begin_snapshot` freezes
a copy-on-write image, a thread packs it and writes the snapshot file while Readies keep
flowing, and the ready loop then switches the WAL to a segment after it, between two Readies;
replicas stagger their snapshots (`snapshot_offset`) so that at most one is busy at a time.
Once the WAL holds a snapshot, Raft keeps a reference to its file (read back only to ship it
to a follower that fell behind) instead of a second copy of the whole state in memory.

The store's data is long-lived and the process exists for it, so the cyclic garbage collector
is kept off it: after recovery and every `_GC_FREEZE_EVERY` applied entries `gc.freeze()` moves
everything alive into the permanent generation, which collections skip (a full collection of a
100k-key store took ~190 ms, a stall longer than most write cycles). Frozen objects are still
freed by reference counting; the store's values form no cycles.

Invariants: nothing a follower or candidate sends, and nothing acknowledged to a client, leaves
before the Ready that produced it is fsync'd; the ready loop is the WAL's only user (the
snapshot task writes only the new snapshot file); Ready n+1 is taken only after Ready n is
advanced. Any failure in the loops (an fsync error above all) ends the process: Ray restarts
the actor, which recovers from `data_dir/store-{id}` and rejoins, exactly as after `ray.kill`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgpack
import ray
from ray.exceptions import ActorDiedError

from kubemu.actors import heap
from kubemu.actors.peer_link import PeerLinks
from kubemu.actors.runtime import ensure_ray, namespace, store_actor_name
from kubemu.actors.store_link import ReplicaLinkServer
from kubemu.cluster.clock import WallClock, derive_rng
from kubemu.cluster.raft.messages import HardState, Message, Ready, Snapshot, StateType
from kubemu.cluster.store.errors import StoreError
from kubemu.cluster.store.member import SnapshotJob, StoreMember
from kubemu.cluster.store.mvcc import event_to_dict
from kubemu.cluster.store.wal import WAL

__all__ = ["StoreReplica", "start_store", "start_replica", "stop_store", "wait_for_leader",
           "may_send_before_persisting"]

log = logging.getLogger("kubemu.store")

_PEER_RESOLVE_SECONDS = 0.5  # at most one name lookup per missing peer per this interval
_PROBE_SECONDS = 0.5  # how often one send to a peer has its outcome checked (dead actor?)
_PROBE_GIVE_UP_SECONDS = 10.0  # a probe unanswered this long no longer blocks the next one
_GC_FREEZE_EVERY = 2_000  # applied entries between two gc.freeze() (see the module docstring)
_OWNED: dict[tuple[str, int], Any] = {}  # handles this process created: Ray kills a named
# (non-detached) actor once its creator drops every handle, so keep them until stop_store


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class StoreReplica:
    def __init__(self, *, id: int, peers: list[int], cluster: str, data_dir: str,
                 tick_seconds: float = 0.05, election_tick: int = 10,
                 snapshot_every: int = 10_000, history_events: int = 100_000,
                 request_timeout: float = 5.0) -> None:
        self._id = id
        self._namespace = namespace(cluster)
        self._tick_seconds = tick_seconds
        self._request_timeout = request_timeout
        self._wal, recovered = WAL.open(Path(data_dir) / store_actor_name(id))
        self._member = StoreMember(
            id, peers, clock=WallClock(), rng=derive_rng(int.from_bytes(os.urandom(8)), id),
            election_tick=election_tick, snapshot_every=snapshot_every,
            snapshot_offset=(id - 1) * snapshot_every // max(1, len(peers)),
            history_events=history_events, background_snapshots=True, recovered=recovered)
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._peers: dict[int, Any] = {}
        self._links = PeerLinks(self._step_wire)
        self._client_links = ReplicaLinkServer(self._link_call)
        self._peer_lookup_at: dict[int, float] = {}
        self._probe_at: dict[int, float] = {}
        self._deliver_methods: dict[int, tuple[Any, Any]] = {}  # peer -> (handle, no-reply call)
        self._wake: asyncio.Event | None = None
        self._applied: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._snapshotting: asyncio.Task | None = None  # building/writing our own snapshot
        self._snapshot_written: Snapshot | None = None  # its file is durable: adopt it
        self._offload_snapshot()
        gc.freeze()  # the recovered state is long-lived: keep it out of every collection
        self._frozen_at = self._member.applied_index
        log.info("store replica %s recovered: hard_state=%s snapshot=%s entries=%d", id,
                 recovered.hard_state,
                 None if recovered.snapshot is None else recovered.snapshot.index,
                 len(recovered.entries))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # an older Ray runs __init__ off the loop: start on the first call
        self._start()

    # ---- the actor's API ----

    async def submit(self, batch: bytes | list[tuple[str, dict]]) -> bytes | list[dict]:
        """Run requests (write through Raft, read via ReadIndex); results in order. `batch` is
        msgpack bytes of [[request id, command], ...] (then so is the answer) or that list."""
        self._start()
        if isinstance(batch, bytes):
            results = await self._submit(msgpack.unpackb(batch, raw=False))
            return msgpack.packb(results, use_bin_type=True)
        return await self._submit(batch)

    async def _submit(self, batch: list) -> list[dict]:
        loop = asyncio.get_running_loop()
        futures: list[tuple[str, asyncio.Future]] = []
        for request_id, command in batch:
            fut = loop.create_future()
            self._waiters.setdefault(request_id, []).append(fut)
            futures.append((request_id, fut))
            try:
                self._member.submit(request_id, command)
            except StoreError as exc:
                self._complete([(request_id, exc.to_result())])
        self._wake.set()
        if futures:
            await asyncio.wait([f for _, f in futures], timeout=self._request_timeout)
        results = []
        for request_id, fut in futures:
            if fut.done():
                results.append(fut.result())
                continue
            fut.cancel()
            waiting = self._waiters.get(request_id, [])
            if fut in waiting:
                waiting.remove(fut)
            if not waiting:
                self._waiters.pop(request_id, None)
            results.append({"error": {"code": "timeout", "message": (
                f"store replica {self._id}: no result within {self._request_timeout}s; "
                "retry with the same request id")}})
        return results

    async def deliver(self, wire_messages: bytes | list) -> None:
        """Step peers' Raft messages, `Message.to_wire` tuples in a list or in msgpack bytes of
        one (sent fire-and-forget; nobody awaits this). Linked peers send the same bytes over
        TCP instead (`peer_link`)."""
        self._step_wire(wire_messages)

    async def link_address(self) -> tuple[str, int, bytes]:
        """Where peers open their TCP links to this replica, and the secret that opens one."""
        self._start()
        return await self._links.listen(ray.util.get_node_ip_address())

    async def client_address(self) -> tuple[str, int, bytes]:
        """Where store clients open their TCP links to this replica, and the secret that
        opens one (`store_link`)."""
        self._start()
        return await self._client_links.listen(ray.util.get_node_ip_address())

    async def _link_call(self, method: str, args: list) -> Any:
        """A store client's call that came over its link: `submit` or `watch`."""
        if method == "submit":
            return await self.submit(*args)
        if method == "watch":
            return await self.watch(*args)
        raise ValueError(f"no such call over a link: {method!r}")

    def _step_wire(self, wire_messages: bytes | list) -> None:
        self._start()
        try:
            if isinstance(wire_messages, bytes):
                wire_messages = msgpack.unpackb(wire_messages, raw=False)
            for wire in wire_messages:
                self._member.step(Message.from_wire(wire))
        except Exception:  # a broken Raft invariant: restart from the WAL rather than go on
            log.exception("store replica %s: failed to step a message; exiting", self._id)
            os._exit(70)
        self._wake.set()

    async def watch(self, key: str, range_end: str, start_revision: int, timeout: float,
                    limit: int = 1000) -> tuple[list[dict], int] | dict:
        """Events >= start_revision as soon as any exist (or [] at `timeout`), and the revision
        through which the answer is complete; an error result dict (e.g. compacted) instead."""
        self._start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                events, revision = self._member.watch_events(key, range_end, start_revision,
                                                             limit)
            except StoreError as exc:
                return exc.to_result()
            remaining = deadline - loop.time()
            if events or remaining <= 0:
                return [event_to_dict(ev) for ev in events], revision
            # complete through `revision` with nothing in range: never rescan that history
            start_revision = max(start_revision, revision + 1)
            try:
                await asyncio.wait_for(self._applied.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def heap_top(self, limit: int = 30) -> list[str]:
        """Where this process's memory was allocated (`heap.top_allocations`; tracing on)."""
        return heap.top_allocations(limit)

    async def status(self) -> dict:
        """{"id","term","leader","state" ("leader"|"follower"|...),"commit","applied",
        "revision"} plus "last_index", "snapshot_index" (on disk) and "pid"."""
        self._start()
        status = self._member.status()
        status.update(state=self._member.raft.state.name.lower(),
                      last_index=self._member.raft.last_index,
                      snapshot_index=self._wal.snapshot_index, pid=os.getpid())
        return status

    # ---- the loops ----

    def _start(self) -> None:
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._applied = asyncio.Event()
        self._tasks = [loop.create_task(self._guard(self._ticker())),
                       loop.create_task(self._guard(self._ready_loop()))]

    async def _guard(self, loop_coro) -> None:
        try:
            await loop_coro
        except asyncio.CancelledError:
            raise
        except BaseException:
            log.exception("store replica %s: fatal error; exiting so Ray restarts it", self._id)
            os._exit(70)

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += self._tick_seconds
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            now = loop.time()
            if now - next_at > self._tick_seconds:
                next_at = now  # the loop stalled: tick once and carry on, never in a burst
            self._member.tick()
            self._wake.set()

    async def _ready_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                if self._snapshot_written is not None:
                    await self._adopt_snapshot()  # between two Readies: the WAL is ours
                if (rd := self._member.ready()) is None:
                    break
                if rd.snapshot is not None and self._snapshotting is not None:
                    await self._snapshotting  # one snapshot writer at a time
                    if self._snapshot_written is not None:
                        await self._adopt_snapshot()
                send_first = may_send_before_persisting(rd, self._wal.hard_state,
                                                        pending_fsync=self._wal.needs_fsync)
                if send_first:
                    self._send(rd)
                await self._persist(rd)
                if not send_first:
                    self._send(rd)
                self._complete(self._member.advance(rd))
                if rd.snapshot is not None:
                    self._offload_snapshot()  # a leader's, now in the WAL and applied
                if self._member.applied_index - self._frozen_at >= _GC_FREEZE_EVERY:
                    self._frozen_at = self._member.applied_index
                    gc.freeze()
                if self._snapshotting is None and (job := self._member.begin_snapshot()):
                    self._snapshotting = asyncio.get_running_loop().create_task(
                        self._guard(self._snapshot(job)))
                if rd.committed_entries or rd.snapshot is not None:
                    self._applied.set()  # wake every long-polling watch, then re-arm
                    self._applied = asyncio.Event()

    async def _persist(self, rd: Ready) -> None:
        """Append the Ready to the WAL; fsync in a worker thread unless the MustSync rule says
        the write alone will do (a commit-index-only change: written here, on the loop)."""
        if rd.hard_state is None and rd.snapshot is None and not rd.entries:
            return
        hs = rd.hard_state
        hard_state = None if hs is None else HardState(hs.term, hs.vote, hs.commit)
        entries, snapshot, wal = list(rd.entries), rd.snapshot, self._wal
        if snapshot is None:
            wal.save(hard_state, entries)
            if not wal.needs_fsync:
                wal.sync()  # a few bytes into the page cache: no thread hop
                return
            await asyncio.to_thread(wal.sync)
            return

        def write() -> None:
            wal.save_snapshot(snapshot)
            wal.save(hard_state, entries)
            wal.sync()

        await asyncio.to_thread(write)

    async def _snapshot(self, job: SnapshotJob) -> None:
        """Build our own snapshot and write its file off the loop; the ready loop adopts it."""
        try:
            data = await asyncio.to_thread(job.build, pause=_yield_gil)
            snapshot = self._member.finish_snapshot(job, data)  # compacts the in-memory log
            if snapshot is not None and snapshot.index > self._wal.snapshot_index:
                await asyncio.to_thread(self._wal.write_snapshot_file, snapshot)
                self._snapshot_written = snapshot
                self._wake.set()
        finally:
            self._snapshotting = None

    async def _adopt_snapshot(self) -> None:
        snapshot, self._snapshot_written = self._snapshot_written, None
        await asyncio.to_thread(self._wal.adopt_snapshot, snapshot)
        self._offload_snapshot()

    def _offload_snapshot(self) -> None:
        """Raft keeps the latest snapshot to ship to a follower that fell behind; once the WAL
        holds it, a reference to its file does (a leader reads it back then)."""
        snapshot = self._member.raft.snapshot()
        stored = None if snapshot is None else self._wal.snapshot_file(snapshot)
        if stored is not None:
            self._member.offload_snapshot(snapshot.index, stored)

    def _send(self, rd: Ready) -> None:
        by_peer: dict[int, list] = {}
        for msg in rd.messages:
            by_peer.setdefault(msg.to, []).append(msg.to_wire())
        now = asyncio.get_running_loop().time()
        for peer, batch in by_peer.items():
            handle = self._peer(peer)
            if handle is None:
                continue
            payload = msgpack.packb(batch, use_bin_type=True)
            if self._links.send(peer, payload):
                continue
            self._links.connect(peer, handle.link_address.remote)
            try:
                if now >= self._probe_at.get(peer, 0.0):
                    self._probe(peer, handle, handle.deliver.remote(payload))
                else:  # no reply wanted: Ray skips the return object (~10% less CPU per call)
                    self._deliver_method(peer, handle).remote(payload)
            except Exception:  # noqa: BLE001 - a lost message is Raft's everyday weather
                self._peers[peer] = None

    def _deliver_method(self, peer: int, handle: Any) -> Any:
        cached = self._deliver_methods.get(peer)
        if cached is None or cached[0] is not handle:
            cached = self._deliver_methods[peer] = (
                handle, handle.deliver.options(num_returns=0))
        return cached[1]

    def _probe(self, peer: int, handle: Any, ref: Any) -> None:
        """Now and then one send's outcome is watched: a peer actor that died for good (and may
        be re-created under its name) is looked up again. Never awaited by the ready loop."""
        loop = asyncio.get_running_loop()
        self._probe_at[peer] = loop.time() + _PROBE_GIVE_UP_SECONDS

        def probed(fut: asyncio.Future) -> None:
            self._probe_at[peer] = loop.time() + _PROBE_SECONDS
            if fut.cancelled():
                return
            if isinstance(fut.exception(), ActorDiedError) and self._peers.get(peer) is handle:
                self._peers[peer] = None

        asyncio.wrap_future(ref.future()).add_done_callback(probed)

    def _peer(self, peer: int) -> Any:
        handle = self._peers.get(peer)
        if handle is not None:
            return handle
        now = asyncio.get_running_loop().time()
        if now - self._peer_lookup_at.get(peer, -1e9) < _PEER_RESOLVE_SECONDS:
            return None
        self._peer_lookup_at[peer] = now
        try:
            handle = ray.get_actor(store_actor_name(peer), namespace=self._namespace)
        except ValueError:
            return None
        self._peers[peer] = handle
        return handle

    def _complete(self, completions: list[tuple[str, dict]]) -> None:
        for request_id, result in completions:
            for fut in self._waiters.pop(request_id, ()):
                if not fut.done():
                    fut.set_result(result)


def may_send_before_persisting(rd: Ready, durable: HardState | None, *,
                               pending_fsync: bool) -> bool:
    """Whether `rd`'s messages may leave before `rd` is persisted: only a leader's Ready that
    installs no snapshot and moves neither term nor vote past `durable` (the WAL's last hard
    state, fsync'd unless `pending_fsync`). See the module docstring for why this is safe."""
    if rd.soft_state.state != StateType.LEADER or rd.snapshot is not None or pending_fsync:
        return False
    hs = rd.hard_state
    return hs is None or (durable is not None and hs.term == durable.term
                          and hs.vote == durable.vote)


def start_replica(*, cluster: str, id: int, replicas: int, data_dir: str,
                  tick_seconds: float = 0.05, election_tick: int = 10,
                  ray_options: dict | None = None, **options: Any) -> Any:
    """Create replica `id` of `cluster` (named `store-{id}`); it recovers from its directory.
    The replica lives until `stop_store` (or this process) ends it. `ray_options` adds actor
    options (placement: a `scheduling_strategy`)."""
    ensure_ray()
    handle = _OWNED[cluster, id] = StoreReplica.options(
        name=store_actor_name(id), namespace=namespace(cluster), num_cpus=0, max_restarts=-1,
        max_task_retries=0, **(ray_options or {}),
    ).remote(id=id, peers=list(range(1, replicas + 1)), cluster=cluster, data_dir=str(data_dir),
             tick_seconds=tick_seconds, election_tick=election_tick, **options)
    return handle


async def start_store(*, cluster: str = "kubemu", replicas: int = 3, data_dir: str,
                      tick_seconds: float = 0.05, election_tick: int = 10,
                      timeout: float = 60.0, placement: Sequence[dict] | None = None,
                      **options: Any) -> list:
    """Start `replicas` store replicas and return their handles once a leader has committed.
    `placement[i]`: actor options of replica i+1 (actors/placement.py `store_group`)."""
    handles = [start_replica(cluster=cluster, id=i, replicas=replicas, data_dir=data_dir,
                             tick_seconds=tick_seconds, election_tick=election_tick,
                             ray_options=placement[i - 1] if placement else None, **options)
               for i in range(1, replicas + 1)]
    await wait_for_leader(handles, timeout=timeout)
    return handles


async def wait_for_leader(handles: list, *, timeout: float = 30.0) -> dict:
    """The status of a leader that has committed an entry of its term; TimeoutError if none."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: list = []
    while loop.time() < deadline:
        seen = await _statuses(handles, timeout=1.0)
        leaders = [s for s in seen if s["state"] == "leader" and s["applied"] >= 1]
        if leaders:
            return max(leaders, key=lambda s: s["term"])
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no store leader within {timeout}s; replicas said {seen}")


def stop_store(*, cluster: str = "kubemu", replicas: int = 3) -> None:
    """Kill every replica of `cluster` for good (their files stay on disk)."""
    for i in range(1, replicas + 1):
        _OWNED.pop((cluster, i), None)
        try:
            ray.kill(ray.get_actor(store_actor_name(i), namespace=namespace(cluster)),
                     no_restart=True)
        except ValueError:
            continue


def _yield_gil() -> None:
    """Let a waiting thread (the event loop's) take the GIL now rather than after the 5 ms
    switch interval: the snapshot builder runs between the loop's turns, not across them."""
    time.sleep(0)


async def _statuses(handles: list, *, timeout: float) -> list[dict]:
    refs = [h.status.remote() for h in handles]
    done, pending = await asyncio.wait([asyncio.ensure_future(r) for r in refs], timeout=timeout)
    for fut in pending:
        fut.cancel()
    return [f.result() for f in done if not f.cancelled() and f.exception() is None]
