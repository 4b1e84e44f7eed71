"""StoreReplica: one etcd-like store member (Raft + MVCC) as a Ray actor, and `start_store`.

The actor drives a sans-I/O `StoreMember`. A ticker task calls `tick()` every `tick_seconds`
(wall clock); `deliver` steps peers' Raft messages in and `submit` hands requests over; each of
them wakes the ready loop, which takes one Ready, appends it to the WAL and fsyncs it ONCE in a
worker thread while the event loop keeps accepting requests (group commit: whatever arrives
meanwhile lands in the next Ready), then sends its messages fire-and-forget (one `deliver` call
per peer per Ready, never awaiting the reply), applies it and completes waiting `submit` calls.
`watch` long-polls the applied history. Peers are found by name; now and then one send's outcome
is watched from the side, and a peer found dead for good is looked up again (it may have been
re-created under its name).

Invariants: nothing is sent or acknowledged before the Ready that produced it is fsync'd; the
ready loop is the WAL's only user; Ready n+1 is taken only after Ready n is advanced. Any failure
in the loop (an fsync error above all) ends the process: Ray restarts the actor, which recovers
from `data_dir/store-{id}` and rejoins, exactly as after `ray.kill`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorDiedError

from kubemu.actors.runtime import ensure_ray, namespace, store_actor_name
from kubemu.cluster.clock import WallClock, derive_rng
from kubemu.cluster.raft.messages import HardState, Message, Ready
from kubemu.cluster.store.errors import StoreError
from kubemu.cluster.store.member import StoreMember
from kubemu.cluster.store.mvcc import event_to_dict
from kubemu.cluster.store.wal import WAL

__all__ = ["StoreReplica", "start_store", "start_replica", "stop_store", "wait_for_leader"]

log = logging.getLogger("kubemu.store")

_PEER_RESOLVE_SECONDS = 0.5  # at most one name lookup per missing peer per this interval
_PROBE_SECONDS = 0.5  # how often one send to a peer has its outcome checked (dead actor?)
_PROBE_GIVE_UP_SECONDS = 10.0  # a probe unanswered this long no longer blocks the next one
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
            history_events=history_events, recovered=recovered)
        self._waiters: dict[str, list[asyncio.Future]] = {}
        self._peers: dict[int, Any] = {}
        self._peer_lookup_at: dict[int, float] = {}
        self._probe_at: dict[int, float] = {}
        self._wake: asyncio.Event | None = None
        self._applied: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
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

    async def submit(self, batch: list[tuple[str, dict]]) -> list[dict]:
        """Run requests (write through Raft, read via ReadIndex); results in order."""
        self._start()
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

    async def deliver(self, wire_messages: list) -> None:
        """Step peers' Raft messages (sent fire-and-forget; nobody awaits this)."""
        self._start()
        try:
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
            try:
                await asyncio.wait_for(self._applied.wait(), remaining)
            except asyncio.TimeoutError:
                pass

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
            while (rd := self._member.ready()) is not None:
                await self._persist(rd)
                self._send(rd)
                self._complete(self._member.advance(rd))
                snapshot = self._member.pop_snapshot()  # this member's own compaction
                if snapshot is not None and snapshot.index > self._wal.snapshot_index:
                    await asyncio.to_thread(self._wal.save_snapshot, snapshot)
                if rd.committed_entries or rd.snapshot is not None:
                    self._applied.set()  # wake every long-polling watch, then re-arm
                    self._applied = asyncio.Event()

    async def _persist(self, rd: Ready) -> None:
        if rd.hard_state is None and rd.snapshot is None and not rd.entries:
            return
        hs = rd.hard_state
        hard_state = None if hs is None else HardState(hs.term, hs.vote, hs.commit)
        entries, snapshot, wal = list(rd.entries), rd.snapshot, self._wal

        def write() -> None:
            if snapshot is not None:
                wal.save_snapshot(snapshot)
            wal.save(hard_state, entries)
            wal.sync()

        await asyncio.to_thread(write)

    def _send(self, rd: Ready) -> None:
        by_peer: dict[int, list] = {}
        for msg in rd.messages:
            by_peer.setdefault(msg.to, []).append(msg.to_wire())
        for peer, batch in by_peer.items():
            handle = self._peer(peer)
            if handle is None:
                continue
            try:
                ref = handle.deliver.remote(batch)
            except Exception:  # noqa: BLE001 - a lost message is Raft's everyday weather
                self._peers[peer] = None
                continue
            self._maybe_probe(peer, handle, ref)

    def _maybe_probe(self, peer: int, handle: Any, ref: Any) -> None:
        """Now and then watch one send's outcome: a peer actor that died for good (and may be
        re-created under its name) is looked up again. Never awaited by the ready loop."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now < self._probe_at.get(peer, 0.0):
            return
        self._probe_at[peer] = now + _PROBE_GIVE_UP_SECONDS

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


def start_replica(*, cluster: str, id: int, replicas: int, data_dir: str,
                  tick_seconds: float = 0.05, election_tick: int = 10,
                  **options: Any) -> Any:
    """Create replica `id` of `cluster` (named `store-{id}`); it recovers from its directory.
    The replica lives until `stop_store` (or this process) ends it."""
    ensure_ray()
    handle = _OWNED[cluster, id] = StoreReplica.options(
        name=store_actor_name(id), namespace=namespace(cluster), num_cpus=0, max_restarts=-1,
        max_task_retries=0,
    ).remote(id=id, peers=list(range(1, replicas + 1)), cluster=cluster, data_dir=str(data_dir),
             tick_seconds=tick_seconds, election_tick=election_tick, **options)
    return handle


async def start_store(*, cluster: str = "kubemu", replicas: int = 3, data_dir: str,
                      tick_seconds: float = 0.05, election_tick: int = 10,
                      timeout: float = 60.0, **options: Any) -> list:
    """Start `replicas` store replicas and return their handles once a leader has committed."""
    handles = [start_replica(cluster=cluster, id=i, replicas=replicas, data_dir=data_dir,
                             tick_seconds=tick_seconds, election_tick=election_tick, **options)
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


async def _statuses(handles: list, *, timeout: float) -> list[dict]:
    refs = [h.status.remote() for h in handles]
    done, pending = await asyncio.wait([asyncio.ensure_future(r) for r in refs], timeout=timeout)
    for fut in pending:
        fut.cancel()
    return [f.result() for f in done if not f.cancelled() and f.exception() is None]
