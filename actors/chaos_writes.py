"""Write invariants for chaos: no acknowledged write lost, no watch event missed.

- `AckedWrites`: a writer creates ConfigMaps `w-<n>` in its namespace at `rate` per second
  (open loop, at most `concurrency` in flight) while a reader gets recently written ones;
  every call and return is recorded with a global sequence number. `check()` lists the
  namespace and demands every create acknowledged before the list began be there with its
  data; acknowledged revisions must grow in real-time order; and, when the repository's
  linearizability checker (tests/sim/linearizability.py) is importable, the whole history
  (create = txn on version 0, reads and the final list = gets) must be linearizable. A
  create that failed with a 5xx or a broken connection is indeterminate: it may or may not
  have happened. 4xx answers changed nothing and are left out.
- `WatchComplete`: a watch on the writer's namespace, resumed from its last resourceVersion
  after every break as client-go's reflector does, must deliver an ADDED event for every
  acknowledged create and never need a relist (410 Gone).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from kubemu.actors.chaos_invariants import Verdict
from kubemu.cluster.api.errors import AlreadyExists, ApiError, Expired, Gone, NotFound

__all__ = ["AckedWrites", "WatchComplete"]


@dataclass
class _Op:
    kind: str  # "create" | "get"
    key: str
    call: int
    ret: int | None = None  # None: indeterminate
    value: bytes | None = None  # create: written; get: read (None: absent)
    revision: int = 0
    ok: bool = True  # create: acknowledged


@dataclass
class AckedWrites:
    client: Any
    namespace: str = "chaos-writes"
    rate: float = 200.0
    concurrency: int = 64
    name: str = "no acknowledged write lost"
    history: list[_Op] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # name -> resourceVersion
    failed: int = 0
    _seq: Any = field(default_factory=itertools.count)
    _recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=50))
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _rng: random.Random = field(default_factory=lambda: random.Random(7))

    async def start(self) -> None:
        try:
            await self.client.create({"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": self.namespace}})
        except AlreadyExists:
            pass
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._write()), loop.create_task(self._read())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def check(self) -> Verdict:
        call = next(self._seq)
        items = [i async for i in self.client.list_all("v1", "ConfigMap",
                                                       namespace=self.namespace)]
        ret = next(self._seq)
        listed = {i["metadata"]["name"]: i for i in items}
        before = [o.key for o in self.history  # acknowledged before the list began
                  if o.kind == "create" and o.ret is not None and o.ret < call]
        lost = [n for n in before if n not in listed]
        wrong = [n for n in before if n in listed
                 and (listed[n].get("data") or {}).get("n") != str(int(n[2:]))]
        problems = []
        if lost:
            problems.append(f"{len(lost)} acknowledged creates missing ({', '.join(lost[:5])})")
        if wrong:
            problems.append(f"{len(wrong)} with other data ({', '.join(wrong[:5])})")
        problems += _revision_order(self.history)
        finals = [_Op("get", key, call, ret, listed[key]["data"]["n"].encode()
                      if key in listed else None) for key in {o.key for o in self.history}]
        problems += _linearizable(self.history + finals)
        summary = (f"{len(before)} acked, {self.failed} failed or indeterminate, "
                   f"{len(listed)} listed")
        return Verdict(self.name, not problems, "; ".join([summary, *problems]))

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(self.concurrency)
        began = loop.time()
        running: set[asyncio.Task] = set()
        for i in itertools.count():
            if (ahead := began + i / self.rate - loop.time()) > 0:
                await asyncio.sleep(ahead)  # pacing the open loop, not a synchronisation
            await gate.acquire()
            task = loop.create_task(self._create(i))
            running.add(task)
            task.add_done_callback(lambda t: (running.discard(t), gate.release()))

    async def _create(self, i: int) -> None:
        name = f"w-{i:07d}"
        op = _Op("create", name, next(self._seq), value=str(i).encode())
        self.history.append(op)
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": self.namespace}, "data": {"n": str(i)}}
        try:
            created = await self.client.create(obj, namespace=self.namespace)
        except ApiError as err:
            self.failed += 1
            if err.code < 500:
                self.history.remove(op)  # refused: nothing happened
            return
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - connection broken: it may or may not have happened
            self.failed += 1
            return
        op.ret, op.revision = next(self._seq), int(created["metadata"]["resourceVersion"])
        self.acked[name] = op.revision
        self._recent.append(name)

    async def _read(self) -> None:
        while True:
            names = list(self._recent)
            if not names:
                await asyncio.sleep(0.05)  # nothing written yet: the reader's pace
                continue
            key = self._rng.choice(names)
            op = _Op("get", key, next(self._seq))
            try:
                obj = await self.client.get("v1", "ConfigMap", key, namespace=self.namespace)
                op.value = (obj.get("data") or {}).get("n", "").encode()
            except NotFound:
                pass
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - an indeterminate read constrains nothing
                await asyncio.sleep(0.05)
                continue
            op.ret = next(self._seq)
            self.history.append(op)
            await asyncio.sleep(0.01)  # the reader's pace


@dataclass
class WatchComplete:
    writes: AckedWrites
    name: str = "watch misses no event"
    seen: set[str] = field(default_factory=set)
    breaks: int = 0
    relists: int = 0
    resource_version: str = ""
    _task: asyncio.Task | None = None

    async def start(self) -> None:
        listed = await self.writes.client.list("v1", "ConfigMap",
                                               namespace=self.writes.namespace)
        self.seen |= {i["metadata"]["name"] for i in listed.get("items") or ()}
        self.resource_version = listed["metadata"]["resourceVersion"]
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check(self) -> Verdict:
        target = max(self.writes.acked.values(), default=0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while int(self.resource_version or 0) < target and loop.time() < deadline:
            await asyncio.sleep(0.1)  # the watch catching up with the last acked write
        missed = [n for n in self.writes.acked if n not in self.seen]
        ok = not missed and not self.relists
        detail = (f"{len(self.seen)} ADDED events, {self.breaks} breaks resumed, "
                  f"{self.relists} relists" + (f"; missed {len(missed)} "
                                               f"({', '.join(missed[:5])})" if missed else ""))
        return Verdict(self.name, ok, detail)

    async def _watch(self) -> None:
        client, ns = self.writes.client, self.writes.namespace
        while True:
            try:
                async for event in client.watch("v1", "ConfigMap", namespace=ns,
                                                resource_version=self.resource_version,
                                                timeout_seconds=60):
                    meta = event["object"].get("metadata") or {}
                    self.resource_version = meta.get("resourceVersion", self.resource_version)
                    if event["type"] == "ADDED":
                        self.seen.add(meta.get("name", ""))
            except asyncio.CancelledError:
                raise
            except (Gone, Expired):
                self.relists += 1
                listed = await client.list("v1", "ConfigMap", namespace=ns)
                self.seen |= {i["metadata"]["name"] for i in listed.get("items") or ()}
                self.resource_version = listed["metadata"]["resourceVersion"]
            except Exception:  # noqa: BLE001 - broken: resume from the last resourceVersion
                self.breaks += 1
                await asyncio.sleep(0.1)


def _revision_order(history: list[_Op]) -> list[str]:
    """Acknowledged creates: one completed before another began has a smaller revision."""
    done = sorted((o for o in history if o.kind == "create" and o.ret is not None),
                  key=lambda o: o.call)
    by_ret = sorted(done, key=lambda o: o.ret)
    best, j, out = 0, 0, []
    for op in done:
        while j < len(by_ret) and by_ret[j].ret < op.call:
            best = max(best, by_ret[j].revision)
            j += 1
        if op.revision <= best:
            out.append(f"{op.key} acknowledged at revision {op.revision}, after a create "
                       f"acknowledged at {best} had completed")
            break
    return out


def _linearizable(history: list[_Op]) -> list[str]:
    """The linearizability checker's verdict, when the repository's checker is importable."""
    try:
        from tests.sim.linearizability import HistoryOp, check_history
    except ImportError:
        return []
    ops = [HistoryOp(client=0, kind="txn" if o.kind == "create" else "get", key=o.key,
                     call=o.call, ret=o.ret, value=o.value,
                     compare=("version", 0) if o.kind == "create" else None,
                     output=(True if o.kind == "create"
                             else (None if o.value is None else (o.value, 1))),
                     revision=o.revision)
           for o in history]
    result = check_history(ops)
    if result.ok:
        return []
    return [f"history not linearizable at {result.key}: {result.report.splitlines()[0]}"]
