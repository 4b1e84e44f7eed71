"""StoreClient: the etcd-style client of the store replicas on Ray (what clientv3 is to etcd).

Every request gets a request id (this client's uuid4 hex and a count: no system call per
request) once and keeps it across retries, so a write that is retried after a leader change, a
timeout or a dead actor is applied exactly once (the replicas de-duplicate by id). Requests go
to the leader (writes through Raft, reads through ReadIndex); requests issued in the same
event-loop turn to the same replica travel in ONE `submit` call (`store_batch`).
The leader is learnt from not_leader hints or, failing those, from every replica's status (one
shared discovery at a time). Retriable trouble (not_leader, timeout, an actor dead or
restarting) is retried until the request's deadline, then TimeoutError; any other error result
raises its `kubemu.cluster.store.errors` type.

Submits and watch polls travel over a replica's TCP link (`store_link`) once it is up, and by
Ray until then or when it breaks; a broken link counts as a dead actor for the request
(retried under its id).

`watch` long-polls any live replica from the next revision it has not yet yielded and moves to
another replica on failure, so its events stay in revision order without gaps or duplicates
across failover; `progress` is the same call answered at once (how far a range is quiet).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import ray
from ray.exceptions import RayActorError

from kubemu.actors.runtime import ensure_ray, namespace, store_actor_name
from kubemu.actors.store_batch import Batcher
from kubemu.actors.store_link import ReplicaLink
from kubemu.cluster.store.errors import error_from_result

__all__ = ["StoreClient"]

log = logging.getLogger(__name__)

_ATTEMPT_SECONDS = 8.0  # one submit call; the replica itself answers "timeout" after 5 s
_RECHECK_SECONDS = 0.1  # a try unanswered this long makes the client check who leads
_MAX_BACKOFF = 0.2
_LINK_RETRY_SECONDS = 1.0  # at most one attempt per replica this often to open its link
_LOST = (RayActorError, ConnectionError)  # the replica is gone (or its link broke): retry


class StoreClient:
    def __init__(self, *, cluster: str, replicas: int, timeout: float = 30.0) -> None:
        self._namespace = namespace(cluster)
        self._ids = list(range(1, replicas + 1))
        self._timeout = timeout
        self._handles: dict[int, Any] = {}
        self._batchers: dict[int, Batcher] = {}
        self._links: dict[int, ReplicaLink] = {}
        self._linking: dict[int, asyncio.Task] = {}
        self._link_tried: dict[int, float] = {}
        self._leader: int | None = None
        self._discovery: asyncio.Task | None = None
        self._tries: dict[int, dict[asyncio.Future, float]] = {}  # unanswered, by replica
        self._monitor: asyncio.Task | None = None
        self._next_watch_replica = 0
        self._id_prefix = uuid.uuid4().hex + "-"  # unique per client; a count per request
        self._request_numbers = itertools.count()
        self._closed = False
        self.stats = {"requests": 0, "submit_calls": 0, "link_calls": 0}
        """Counters: requests started, `submit` calls made (batching shows as fewer calls),
        and calls (submits and watch polls) that went over a link rather than by Ray."""

    @classmethod
    async def connect(cls, *, cluster: str = "kubemu", replicas: int = 3,
                      timeout: float = 30.0) -> StoreClient:
        """A client of `cluster`'s store (`timeout`: each request's overall deadline)."""
        ensure_ray()
        client = cls(cluster=cluster, replicas=replicas, timeout=timeout)
        for replica in client._ids:
            client._handle(replica)
        return client

    async def request(self, command: dict, *, request_id: str | None = None,
                      timeout: float | None = None) -> dict:
        """Run `command` on the leader, retrying with the same request id until it answers."""
        request_id = request_id or f"{self._id_prefix}{next(self._request_numbers):x}"
        self.stats["requests"] += 1
        timeout = self._timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        backoff = 0.01
        problem = "no leader found"
        while (remaining := deadline - loop.time()) > 0:
            target = self._leader
            if target is None:
                target = await self._discover_leader(remaining)
            batcher = self._batcher(target) if target is not None else None
            if batcher is None:
                await asyncio.sleep(min(backoff, max(0.0, deadline - loop.time())))
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            try:
                result = await self._attempt(batcher.call(request_id, command), target, deadline)
            except _LOST as exc:
                problem = f"replica {target}: {type(exc).__name__}"
                self._forget(target)
                continue
            if result is None:
                problem = f"replica {target} was slow to answer and may have lost leadership"
                continue
            error = result.get("error")
            if error is None:
                return result
            code = error.get("code")
            if code == "not_leader":
                hint = error.get("leader") or None
                problem = f"replica {target} is not the leader (hint {hint})"
                self._leader = hint if hint != target else None
                if self._leader is None:
                    await asyncio.sleep(min(backoff, max(0.0, deadline - loop.time())))
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            if code == "timeout":
                problem = f"replica {target}: {error.get('message', 'timeout')}"
                continue
            raise error_from_result(result)
        raise TimeoutError(f"store request {command.get('op')!r} (request id {request_id}) "
                           f"got no answer within {timeout}s; last problem: {problem}")

    async def put(self, key: str, value: bytes, *, lease: int = 0,
                  prev_kv: bool = False) -> dict:
        return await self.request(_command("put", key=key, value=value,
                                           optional={"lease": lease, "prev_kv": prev_kv}))

    async def get(self, key: str) -> dict | None:
        """The key's kv dict (linearizable read) or None."""
        kvs = (await self.request({"op": "range", "key": key}))["kvs"]
        return kvs[0] if kvs else None

    async def range(self, key: str, range_end: str = "", *, revision: int = 0,
                    limit: int = 0) -> dict:
        return await self.request(_command("range", key=key, range_end=range_end,
                                           optional={"revision": revision, "limit": limit}))

    async def delete(self, key: str, range_end: str = "") -> dict:
        return await self.request({"op": "delete_range", "key": key, "range_end": range_end})

    async def txn(self, compares: list, success: list, failure: list) -> dict:
        return await self.request({"op": "txn", "compares": compares, "success": success,
                                   "failure": failure})

    async def compact(self, revision: int) -> dict:
        return await self.request({"op": "compact", "revision": revision})

    async def lease_grant(self, ttl: int) -> int:
        return (await self.request({"op": "lease_grant", "id": 0, "ttl": ttl}))["id"]

    async def lease_revoke(self, lease_id: int) -> dict:
        return await self.request({"op": "lease_revoke", "id": lease_id})

    async def lease_keepalive(self, lease_id: int) -> int:
        return (await self.request({"op": "lease_keepalive", "id": lease_id}))["ttl"]

    async def watch(self, key: str, range_end: str = "", *, start_revision: int,
                    progress: bool = False, poll_seconds: float = 5.0) -> AsyncIterator[dict]:
        """Event dicts {"type","kv","prev_kv"} for the range from `start_revision` (<= 0: from
        now) in revision order, gap-free across replica failures; CompactedError once no
        replica holds the history from the next revision any more (a replica restored from a
        snapshot may hold less than its peers, so one replica's word is not enough)."""
        next_revision = start_revision
        if next_revision <= 0:
            now = await self.request({"op": "range", "key": key, "range_end": range_end,
                                      "count_only": True})
            next_revision = now["revision"] + 1
        replica = self._ids[self._next_watch_replica % len(self._ids)]
        self._next_watch_replica += 1
        backoff = 0.01
        compacted: dict | None = None  # a replica's "compacted" answer since the last progress
        tried: set[int] = set()  # replicas tried since the last progress
        while not self._closed:
            handle = self._handle(replica)
            answer = None
            if handle is not None:
                try:
                    answer = await asyncio.wait_for(
                        self._watch_call(replica, handle, key, range_end, next_revision,
                                         poll_seconds),
                        poll_seconds + _ATTEMPT_SECONDS)
                except (*_LOST, asyncio.TimeoutError):
                    self._forget(replica)
            if isinstance(answer, tuple | list):
                compacted, tried, backoff = None, set(), 0.01
                events, complete_through = answer
                for event in events:
                    yield event
                next_revision = max(next_revision, complete_through + 1)
                if progress:
                    yield {"type": "PROGRESS", "revision": complete_through}
                await asyncio.sleep(0)  # a busy stream still lets others run
                continue
            tried.add(replica)
            if isinstance(answer, dict):
                if answer["error"].get("code") != "compacted":
                    raise error_from_result(answer)
                compacted = answer
            if compacted is not None and tried >= set(self._ids):
                raise error_from_result(compacted)  # no reachable replica holds the history
            replica = self._ids[(self._ids.index(replica) + 1) % len(self._ids)]
            if answer is None:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)

    async def progress(self, key: str, range_end: str, start_revision: int) -> int | None:
        """The revision through which the range has no event at or after `start_revision`,
        as one replica (the leader when known) has applied it -- a progress notify on demand,
        which the API server's watch cache asks for before a consistent read; None when no
        replica answered."""
        replica = self._leader or self._ids[self._next_watch_replica % len(self._ids)]
        handle = self._handle(replica)
        if handle is None:
            return None
        try:
            answer = await asyncio.wait_for(
                self._watch_call(replica, handle, key, range_end, start_revision, 0.0, 1),
                _ATTEMPT_SECONDS)
        except (*_LOST, asyncio.TimeoutError):
            self._forget(replica)
            return None
        if isinstance(answer, dict):
            raise error_from_result(answer)
        events, complete_through = answer
        return events[0]["kv"]["mod_revision"] - 1 if events else complete_through

    async def leader(self) -> int:
        """The current leader's id (discovered afresh)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        self._leader = None
        while (remaining := deadline - loop.time()) > 0:
            leader = await self._discover_leader(remaining)
            if leader is not None:
                return leader
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no store leader found within {self._timeout}s")

    async def status(self) -> dict[int, dict]:
        """Each reachable replica's status, by id."""
        return {s["id"]: s for s in await self._statuses(timeout=2.0)}

    async def close(self) -> None:
        self._closed = True
        for task in (self._discovery, self._monitor, *self._linking.values()):
            if task is not None:
                task.cancel()
        for batcher in self._batchers.values():
            await batcher.drain()
        for link in self._links.values():
            link.close()

    # ---- helpers ----

    def _handle(self, replica: int) -> Any:
        handle = self._handles.get(replica)
        if handle is None:
            try:
                handle = ray.get_actor(store_actor_name(replica), namespace=self._namespace)
            except ValueError:
                return None
            self._handles[replica] = handle
        return handle

    def _batcher(self, replica: int) -> Batcher | None:
        batcher = self._batchers.get(replica)
        if batcher is None:
            handle = self._handle(replica)
            if handle is None:
                return None
            batcher = self._batchers[replica] = Batcher(handle, self.stats,
                                                         lambda: self._link(replica))
        return batcher

    def _watch_call(self, replica: int, handle: Any, *args: Any) -> Any:
        link = self._link(replica)
        if link is None:
            return _await(handle.watch.remote(*args))
        self.stats["link_calls"] += 1
        return link.call("watch", *args)

    def _link(self, replica: int) -> ReplicaLink | None:
        """The replica's link if it is up; if not, one attempt to open it starts in the
        background (at most one per `_LINK_RETRY_SECONDS`) and the caller uses Ray."""
        link = self._links.get(replica)
        if link is not None and link.up:
            return link
        self._links.pop(replica, None)
        loop = asyncio.get_running_loop()
        if (replica not in self._linking and not self._closed
                and loop.time() >= self._link_tried.get(replica, 0.0) + _LINK_RETRY_SECONDS):
            self._link_tried[replica] = loop.time()
            task = loop.create_task(self._open_link(replica))
            self._linking[replica] = task
            task.add_done_callback(lambda _t: self._linking.pop(replica, None))
        return None

    async def _open_link(self, replica: int) -> None:
        handle = self._handle(replica)
        if handle is None:
            return
        try:
            address = await asyncio.wait_for(_await(handle.client_address.remote()),
                                             _ATTEMPT_SECONDS)
            self._links[replica] = await ReplicaLink.open(tuple(address))
        except Exception as exc:  # noqa: BLE001 - no link: Ray carries the calls
            log.debug("link to store replica %s: %s", replica, exc)

    async def _attempt(self, answer: asyncio.Future, target: int, deadline: float
                       ) -> dict | None:
        """The result of one try, or None to try again: the try is abandoned when it outlives
        its deadline or `_ATTEMPT_SECONDS`, or when `_check_slow_tries` finds that another
        replica leads (the target died or was deposed), so the request goes there under the
        same id without waiting for Ray to report the old actor's death."""
        loop = asyncio.get_running_loop()
        limit = min(deadline, loop.time() + _ATTEMPT_SECONDS)
        self._track(target, answer)
        await asyncio.wait({answer}, timeout=max(0.0, limit - loop.time()))
        if answer.cancelled():
            return None
        if answer.done():
            return answer.result()
        answer.cancel()
        self._forget(target)
        return None

    def _track(self, target: int, answer: asyncio.Future) -> None:
        tries = self._tries.setdefault(target, {})
        tries[answer] = asyncio.get_running_loop().time()
        answer.add_done_callback(tries.pop)
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.ensure_future(self._check_slow_tries())

    async def _check_slow_tries(self) -> None:
        """While tries are unanswered: every `_RECHECK_SECONDS` that one of them has waited
        longer than that, ask who leads, and abandon the tries sent to any other replica.
        One check serves every waiting request (a check per request was most of the API
        server's store-client time when writes queued behind a busy leader)."""
        loop = asyncio.get_running_loop()
        while not self._closed and any(self._tries.values()):
            await asyncio.sleep(_RECHECK_SECONDS)
            now = loop.time()
            if not any(now - next(iter(tries.values())) >= _RECHECK_SECONDS
                       for tries in self._tries.values() if tries):
                continue
            leader = await self._discover_leader(1.0)
            if leader is None:
                continue
            for target, tries in self._tries.items():
                if target != leader:
                    for answer in list(tries):
                        answer.cancel()

    def _forget(self, replica: int) -> None:
        """After a failure: drop the leader guess and look the actor up again next time."""
        if self._leader == replica:
            self._leader = None
        self._handles.pop(replica, None)
        self._batchers.pop(replica, None)
        link = self._links.pop(replica, None)
        if link is not None:
            link.close()

    async def _discover_leader(self, within: float) -> int | None:
        if self._discovery is None or self._discovery.done():
            self._discovery = asyncio.ensure_future(self._find_leader(min(within, 1.0)))
        try:
            return await asyncio.wait_for(asyncio.shield(self._discovery), within)
        except asyncio.TimeoutError:
            return None

    async def _find_leader(self, timeout: float) -> int | None:
        majority = len(self._ids) // 2 + 1

        def enough(answers: list[dict]) -> bool:  # a dead replica must not delay the answer
            return len(answers) >= majority

        statuses = await self._statuses(timeout=timeout, enough=enough)
        leaders = [s for s in statuses if s["state"] == "leader"]
        if leaders:
            self._leader = max(leaders, key=lambda s: s["term"])["id"]
        else:
            hinted = [s for s in statuses if s["leader"]]
            self._leader = max(hinted, key=lambda s: s["term"])["leader"] if hinted else None
        return self._leader

    async def _statuses(self, *, timeout: float,
                        enough: Callable[[list[dict]], bool] = lambda answers: False
                        ) -> list[dict]:
        """The replicas' statuses that arrive within `timeout` (or once `enough` of them)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        calls = {}
        for replica in self._ids:
            handle = self._handle(replica)
            if handle is not None:
                calls[asyncio.ensure_future(_await(handle.status.remote()))] = replica
        out: list[dict] = []
        pending = set(calls)
        while pending and (remaining := deadline - loop.time()) > 0:
            done, pending = await asyncio.wait(pending, timeout=remaining,
                                               return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                if fut.exception() is None:
                    out.append(fut.result())
                else:
                    self._forget(calls[fut])
            if enough(out):
                break
        for fut in pending:
            fut.cancel()
        return out


async def _await(ref: Any) -> Any:
    return await ref


def _command(op: str, *, optional: dict, **args) -> dict:
    """A store command with `args`, plus the `optional` ones that are set (not 0/False)."""
    return {"op": op, **args, **{k: v for k, v in optional.items() if v}}
