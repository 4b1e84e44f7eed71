"""What bench/scale.py watches while the load runs: node flaps, Lease renewal gaps, API
latency, pods Running over time, and the memory of the Ray session's processes.

- `Follow` is a reflector in miniature: a paged list, then a watch from its resourceVersion
  that resumes from the last resourceVersion seen when it ends and relists on 410; every
  object goes to `handle(type, obj, now)` (a list's items as ADDED). `start()` returns once
  the list is in, so nothing created afterwards is missed.
- `NodeFlaps`: a flap is a Node that was seen Ready and is then seen with Ready != True.
- `LeaseGaps`: per node Lease (kube-node-lease), the longest time between two renewals, as
  the node lifecycle controller sees them (this driver's loop clock when a changed renewTime
  arrives), and as the kubelet wrote them (`spec.renewTime` differences). The gap still open
  when the run ends counts too, so a node that stopped renewing shows.
- `ApiProber`: every `period` s, GET one Node, then LIST one namespace's pods with limit=50;
  each latency is kept with the phase it fell in (idle, load, churn, ...).
- `Sampler`: every second, pods created and Running (fed by the load's progress callback)
  and the session's memory, for the plot.
- `session_memory`: Pss (from /proc/<pid>/smaps_rollup) and RSS of every descendant of this
  process (the Ray session: gcs_server, raylet, workers, actors; kubectl and this driver
  left out), by process group. Pss shares pages among the processes that map them, so the
  sum is the memory the session really holds; RSS sums count shared libraries once per
  process. Without smaps_rollup the figure is VmRSS from /proc/<pid>/status.
All times are `loop.time()` of the driver's loop, the clock the load reports in.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from kubemu.cluster.api.errors import Expired, Gone
from kubemu.cluster.client import ApiClient

from bench import descendants

__all__ = [
    "ApiProber",
    "Follow",
    "LeaseGaps",
    "Memory",
    "NodeFlaps",
    "Sampler",
    "node_ready",
    "session_memory",
]

Handle = Callable[[str, dict, float], None]


class Follow:
    """List then watch one kind into `handle(type, obj, now)` until `stop()`."""

    def __init__(self, client: ApiClient, api_version: str, kind: str, handle: Handle, *,
                 namespace: str | None = None, label_selector: str | None = None) -> None:
        self.client, self.api_version, self.kind = client, api_version, kind
        self.handle, self.namespace, self.label_selector = handle, namespace, label_selector
        self.rv = ""
        self.restarts = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._list()
        self._task = asyncio.create_task(self._watch(), name=f"scale-follow-{self.kind}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _list(self) -> None:
        loop, token, rv = asyncio.get_running_loop(), None, ""
        while True:
            page = await self.client.list(self.api_version, self.kind, namespace=self.namespace,
                                          label_selector=self.label_selector, limit=500,
                                          continue_=token)
            meta = page.get("metadata") or {}
            rv = rv or meta.get("resourceVersion", "")
            for obj in page.get("items") or ():
                self.handle("ADDED", obj, loop.time())
            if not (token := meta.get("continue")):
                break
        self.rv = rv

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                async for event in self.client.watch(
                        self.api_version, self.kind, namespace=self.namespace,
                        label_selector=self.label_selector, resource_version=self.rv,
                        timeout_seconds=300):
                    obj = event.get("object") or {}
                    self.rv = (obj.get("metadata") or {}).get("resourceVersion") or self.rv
                    if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                        self.handle(event["type"], obj, loop.time())
            except (Gone, Expired):
                await self._relist()
            except Exception:  # noqa: BLE001 - a broken watch resumes from rv
                self.restarts += 1
                await asyncio.sleep(0.5)

    async def _relist(self) -> None:
        while True:
            try:
                await self._list()
                return
            except Exception:  # noqa: BLE001 - the API may be busy: try again
                await asyncio.sleep(0.5)


def node_ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


class NodeFlaps:
    """Nodes that were Ready and then were not."""

    def __init__(self) -> None:
        self.ready: dict[str, bool] = {}
        self.flaps = 0
        self.flapped: dict[str, float] = {}   # node -> when it was first seen not Ready

    def __call__(self, type_: str, node: dict, now: float) -> None:
        if type_ == "DELETED":
            return
        name, ready = node["metadata"]["name"], node_ready(node)
        if self.ready.get(name) and not ready:
            self.flaps += 1
            self.flapped.setdefault(name, now)
        self.ready[name] = ready

    @property
    def not_ready(self) -> int:
        return sum(not r for r in self.ready.values())


class LeaseGaps:
    """Longest renewal gap per node Lease, observed and as written."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, float]] = {}  # node -> (renewTime, when seen)
        self.observed: dict[str, float] = {}          # node -> longest gap seen here, s
        self.written: dict[str, float] = {}           # node -> longest renewTime step, s
        self.duration = 40.0
        self.renewals = 0

    def __call__(self, type_: str, lease: dict, now: float) -> None:
        spec = lease.get("spec") or {}
        name, renew = lease["metadata"]["name"], spec.get("renewTime") or ""
        if type_ == "DELETED" or not renew:
            return
        self.duration = float(spec.get("leaseDurationSeconds") or self.duration)
        before = self.seen.get(name)
        if before is not None and before[0] == renew:
            return
        self.seen[name] = (renew, now)
        if before is None:
            return
        self.renewals += 1
        self.observed[name] = max(self.observed.get(name, 0.0), now - before[1])
        step = _micro(renew) - _micro(before[0])
        self.written[name] = max(self.written.get(name, 0.0), step)

    def close(self, now: float) -> None:
        """Count the gap each Lease has had since its last renewal."""
        for name, (_renew, when) in self.seen.items():
            self.observed[name] = max(self.observed.get(name, 0.0), now - when)

    def max_observed(self) -> float:
        return max(self.observed.values(), default=0.0)

    def max_written(self) -> float:
        return max(self.written.values(), default=0.0)

    def over_duration(self) -> int:
        return sum(gap > self.duration for gap in self.observed.values())


@dataclass
class Probe:
    at: float
    phase: str
    op: str            # "get node" or "list pods"
    seconds: float
    ok: bool


class ApiProber:
    """GET one Node and LIST one namespace's pods (limit=50) every `period` seconds."""

    def __init__(self, client: ApiClient, node: str, namespace: str, *,
                 period: float = 0.5) -> None:
        self.client, self.node, self.namespace, self.period = client, node, namespace, period
        self.phase = "idle"
        self.probes: list[Probe] = []

    def latencies(self, op: str, phase: str | None = None) -> list[float]:
        return [p.seconds for p in self.probes
                if p.op == op and p.ok and (phase is None or p.phase == phase)]

    def failures(self, phase: str | None = None) -> int:
        return sum(not p.ok for p in self.probes if phase is None or p.phase == phase)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            await self._one("get node", lambda: self.client.get("v1", "Node", self.node))
            await self._one("list pods", lambda: self.client.list(
                "v1", "Pod", namespace=self.namespace, limit=50))
            due += self.period
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            else:
                due = loop.time()  # late: the next probe starts now, no burst to catch up

    async def _one(self, op: str, call: Callable) -> None:
        loop = asyncio.get_running_loop()
        began, phase, ok = loop.time(), self.phase, True
        try:
            async with asyncio.timeout(30):
                await call()
        except Exception:  # noqa: BLE001 - a failed probe is counted, not fatal
            ok = False
        self.probes.append(Probe(began, phase, op, loop.time() - began, ok))


@dataclass
class Memory:
    pss: int                         # bytes, summed over the processes (VmRSS without Pss)
    rss: int                         # bytes, summed
    groups: dict[str, int] = field(default_factory=dict)   # group -> pss bytes
    processes: int = 0

    @property
    def how(self) -> str:
        return "Pss (smaps_rollup)" if _HAS_ROLLUP else "RSS (VmRSS)"


class Sampler:
    """Pods created/Running (set by the load's progress callback) every second, memory every
    `memory_period` (the sample in between repeats the last reading): reading smaps_rollup
    walks a process's page tables in the kernel, and once the processes hold ~9 GB, reading
    them all every second took ~18 % of a core from the machine under test."""

    def __init__(self, groups: Callable[[], dict[int, str]], *, period: float = 1.0,
                 memory_period: float = 5.0) -> None:
        self.groups, self.period, self.memory_period = groups, period, memory_period
        self.created = self.running = 0
        self.samples: list[tuple[float, int, int, int]] = []  # (t, created, running, pss)
        self.peak: Memory | None = None

    def progress(self, step: str, done: int, total: int) -> None:
        if step == "created":
            self.created = done
        elif step == "running":
            self.running = done

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        read_at, pss = -math.inf, 0
        while True:
            if loop.time() - read_at >= self.memory_period:
                read_at = loop.time()
                memory = await asyncio.to_thread(session_memory, self.groups())
                pss = memory.pss
                if self.peak is None or memory.pss > self.peak.pss:
                    self.peak = memory
            self.samples.append((loop.time(), self.created, self.running, pss))
            await asyncio.sleep(self.period)


def session_memory(known: dict[int, str]) -> Memory:
    """Memory of every descendant of this process but kubectl, grouped: `known` names some
    pids (component actors); other processes are grouped by what their command line says."""
    memory = Memory(0, 0)
    for pid in descendants():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if "kubectl" in cmd:
            continue
        pss, rss = _pss_rss(pid)
        if not rss:
            continue
        group = known.get(pid) or _group(cmd)
        memory.pss += pss
        memory.rss += rss
        memory.groups[group] = memory.groups.get(group, 0) + pss
        memory.processes += 1
    return memory


_HAS_ROLLUP = os.access(f"/proc/{os.getpid()}/smaps_rollup", os.R_OK)
_GROUPS = (("ApiServerActor", "api"), ("StoreReplica", "store"), ("DnsActor", "dns"),
           ("raylet", "raylet"), ("gcs_server", "gcs"))


def _group(cmd: str) -> str:
    return next((g for text, g in _GROUPS if text in cmd), "ray other")


def _pss_rss(pid: int) -> tuple[int, int]:
    """(Pss, Rss) in bytes; (VmRSS, VmRSS) without smaps_rollup; (0, 0) when gone."""
    try:
        if _HAS_ROLLUP:
            values = {}
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
                key, _, rest = line.partition(":")
                if key in ("Pss", "Rss"):
                    values[key] = int(rest.split()[0]) * 1024
            return values.get("Pss", 0), values.get("Rss", 0)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
                return rss, rss
    except (OSError, ValueError):
        pass
    return 0, 0


def _micro(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
