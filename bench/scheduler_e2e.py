"""Scheduler benchmark, end to end: pods created through the API until Running and ready.

Two systems run the same two phases, one after the other, in this process:
- "ray": `actors.bootstrap.up` on a fresh local Ray (worker niceness 0, as the other benches):
  3 store replicas, `--e2e-apiservers` API servers over HTTPS, the controller manager, the
  scheduler and `--e2e-nodes` emulated nodes in 3 zones hosted by node-pool actors of
  `--nodes-per-actor` nodes. The driver speaks HTTPS like any client.
- "in-process" (the reference): the same components in this event loop, no Ray, no HTTP: the
  ApiServer over a LocalStore, ControllerManager, Scheduler and one NodePool, each with its
  own ApiClient over RouterTransport, `Timing.real(1.0)`.

Phases, each in a fresh namespace, each pod a server (image nginx, requests cpu 10m memory
16Mi), with a pod watch opened before the first create (from the list's resourceVersion) that
records when each pod is first seen Running with every container ready:
- throughput: `--e2e-pods` creates, at most `--e2e-concurrency` in flight; pods/s = pods
  Running / (last Running - first create sent);
- latency: creates paced at `--e2e-rate`/s by the loop clock (open loop: a late answer never
  delays the next create) for `--e2e-seconds`; latency = Running seen - create sent.
A pod not Running `--e2e-deadline` s after the last create counts as never-running. The pod
watch also counts each pod's writes (every MODIFIED is one: binding, status patches) and an
Event watch counts Events created and bumped per pod. CPU seconds per process group come
from /proc (bench/__init__.py), component actors found by the pid their `ping` answers.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
import uvloop
from kubemu.actors.bootstrap import ClusterInfo, down, node_configs, up
from kubemu.actors.runtime import namespace as ray_namespace
from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.client import ApiClient, RouterTransport
from kubemu.cluster.clock import derive_rng
from kubemu.cluster.controllers.manager import ControllerManager
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.pool import NodePool
from kubemu.cluster.scheduler.scheduler import Scheduler
from kubemu.cluster.store.local import LocalStore
from kubemu.cluster.timing import Timing

from bench import descendants, percentile
from bench.api import CpuMeter, _free_port

__all__ = ["CPU_GROUPS", "IN_PROCESS", "RAY", "E2ePhase", "run_phases", "run_systems"]

RAY, IN_PROCESS = "ray", "in-process"
CPU_GROUPS = ("api", "store", "scheduler", "kcm", "nodes", "driver", "ray", "others")
_READY_TIMEOUT = 120.0


@dataclass
class E2ePhase:
    name: str                 # "throughput" or "latency 30/s"
    system: str               # RAY or IN_PROCESS
    pods: int                 # creates acknowledged
    seconds: float = 0.0      # first create sent -> last pod Running
    latencies: list[float] = field(default_factory=list)   # create sent -> Running seen
    never_running: int = 0
    errors: list[str] = field(default_factory=list)
    pod_writes: float = 0.0   # watch events per pod (ADDED + MODIFIED): create, bind, status
    events: Counter = field(default_factory=Counter)  # Events created, by reason
    event_bumps: int = 0      # Events whose count was patched
    cpu: dict[str, float] = field(default_factory=dict)
    create_lag: float = 0.0   # latency phase: worst create sent after its due time, seconds
    wall: float = 0.0         # the whole phase (CPU is measured over it), seconds

    @property
    def running(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.running / self.seconds if self.seconds else 0.0


def run_systems(systems: list[str], args: Any, log: Any) -> list[E2ePhase]:
    """Each system in its own uvloop event loop, one after the other."""
    phases: list[E2ePhase] = []
    for system in systems:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            phases += runner.run(run_phases(system, args, log))
    return phases


async def run_phases(system: str, args: Any, log: Any) -> list[E2ePhase]:
    """Start `system`, run the throughput then the latency phase on it, stop it."""
    cluster = RayCluster(args) if system == RAY else InProcessCluster(args)
    try:
        log(f"{system}: starting {args.e2e_nodes} nodes")
        started = time.monotonic()
        await cluster.start()
        await _wait_nodes_ready(cluster.client("kubemu-bench-ready"), args.e2e_nodes)
        log(f"{system}: {args.e2e_nodes} nodes Ready with pod CIDRs in "
            f"{time.monotonic() - started:.1f} s")
        phases = []
        shapes = [(f"idle {args.e2e_idle_seconds:g} s", _idle)] * (args.e2e_idle_seconds > 0)
        for name, run in [*shapes, ("throughput", _throughput),
                          (f"latency {args.e2e_rate:g}/s", _latency)]:
            phase = E2ePhase(name, system, 0)
            meter, began = CpuMeter(cluster.pids()), time.monotonic()
            await run(cluster, f"bench-{name.split()[0]}-{secrets.token_hex(3)}", args, phase)
            phase.cpu, phase.wall = meter.stop(), time.monotonic() - began
            log(f"  {system:<10} {name:<13} {phase.running:5,} Running  "
                f"{phase.per_second:7.1f} pods/s  p50 {percentile(phase.latencies, 50):.3f} s "
                f" p99 {percentile(phase.latencies, 99):.3f} s  never-running "
                f"{phase.never_running}  errors {len(phase.errors)}"
                + (f"  first error: {phase.errors[0]}" if phase.errors else ""))
            phases.append(phase)
        return phases
    finally:
        await cluster.stop()


def bench_pod(name: str, ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": "schedbench"}},
            "spec": {"containers": [{"name": "web", "image": "nginx",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "10m",
                                                                "memory": "16Mi"}}}]}}


def running_and_ready(pod: dict) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    ready = [c for c in status.get("containerStatuses") or () if c.get("ready")]
    return len(ready) == len((pod.get("spec") or {}).get("containers") or ())


class RayCluster:
    """`bootstrap.up` on a Ray this process starts (and shuts down)."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.home = Path(tempfile.mkdtemp(prefix="kubemu-schedbench-"))
        self.info: ClusterInfo | None = None
        self.components: dict[str, list[int]] = {}

    async def start(self) -> None:
        a = self.args
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ["RAY_worker_niceness"] = str(a.ray_worker_niceness)
        ray.init(namespace=ray_namespace("schedbench"), include_dashboard=False,
                 log_to_driver=False)
        self.info = await up(name="schedbench", home=self.home, api_port=_free_port(),
                             dns_port=0, apiservers=a.e2e_apiservers, nodes=a.e2e_nodes, zones=3,
                             nodes_per_actor=a.nodes_per_actor, time_scale=1.0)
        for ping in await asyncio.gather(*(h.ping.remote()
                                           for h in self.info.component_handles)):
            self.components.setdefault(ping["kind"], []).append(ping["pid"])

    def client(self, user_agent: str) -> ApiClient:
        assert self.info is not None
        return self.info.access.client(user_agent=user_agent)

    def pids(self) -> dict[str, list[int]]:
        c = self.components
        return {"api": descendants("ApiServerActor"), "store": descendants("StoreReplica"),
                "scheduler": c.get("scheduler", []), "kcm": c.get("controller-manager", []),
                "nodes": c.get("node-pool", []) + c.get("node", [])}

    async def stop(self) -> None:
        try:
            if self.info is not None:
                await down(self.info)
        finally:
            if ray.is_initialized():
                ray.shutdown()
            shutil.rmtree(self.home, ignore_errors=True)


class InProcessCluster:
    """The same components in this event loop over the in-process router."""

    TOKEN = "schedbench-token"

    def __init__(self, args: Any) -> None:
        self.args = args
        self.timing = Timing.real(1.0)
        self.store = LocalStore(clock=self.timing.clock)
        self.server = ApiServer(self.store, token=self.TOKEN, wall_clock=self.timing.wall,
                                rng=random.Random(args.seed), finalize_namespaces=False)
        self.components: list[Any] = []
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.server.start()
        seed, timing = self.args.seed, self.timing
        configs = [NodeConfig(**cfg) for cfg in node_configs(self.args.e2e_nodes, zones=3)]
        self.components = [
            ControllerManager(self.client("kcm"), timing, rng=derive_rng(seed, "kcm")),
            Scheduler(self.client("scheduler"), timing, rng=derive_rng(seed, "scheduler")),
            NodePool(self.client("nodes"), timing, configs, rng=derive_rng(seed, "nodes"))]
        self.tasks = [asyncio.create_task(c.run()) for c in self.components]

    def client(self, user_agent: str) -> ApiClient:
        return ApiClient(RouterTransport(self.server.router, token=self.TOKEN),
                         user_agent=user_agent)

    def pids(self) -> dict[str, list[int]]:
        return {}  # everything runs in the driver

    async def stop(self) -> None:
        for component in reversed(self.components):
            try:
                async with asyncio.timeout(10):
                    await component.stop()
            except Exception as exc:  # noqa: BLE001 - stopping must not fail
                print(f"  {type(component).__name__} stop: {exc!r}")
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.stop()
        await self.store.close()


class _Watches:
    """A pod watch (first Running-and-ready time per pod, writes per pod) and an Event watch
    of one namespace, both from the list's resourceVersion, re-opened if they end."""

    def __init__(self, client: ApiClient, ns: str) -> None:
        self.client, self.ns = client, ns
        self.running: dict[str, float] = {}
        self.pod_events: Counter = Counter()       # pod name -> ADDED + MODIFIED seen
        self.events: Counter = Counter()           # Event reason -> created
        self.event_bumps = 0
        self.last_event = 0.0
        self.changed = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        for kind, handle in (("Pod", self._pod), ("Event", self._event)):
            listed = await self.client.list("v1", kind, namespace=self.ns)
            rv = listed["metadata"]["resourceVersion"]
            self.tasks.append(asyncio.create_task(self._follow(kind, rv, handle)))

    async def quiet(self, seconds: float, *, limit: float) -> None:
        """Until no Event arrived for `seconds` (at most `limit` seconds)."""
        end = time.monotonic() + limit
        while time.monotonic() < end and time.monotonic() - self.last_event < seconds:
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _follow(self, kind: str, rv: str, handle: Any) -> None:
        while True:
            try:
                async for event in self.client.watch("v1", kind, namespace=self.ns,
                                                     resource_version=rv,
                                                     timeout_seconds=3600):
                    obj = event.get("object") or {}
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if event["type"] in ("ADDED", "MODIFIED"):
                        handle(event["type"], obj)
            except Exception as exc:  # noqa: BLE001 - a broken watch resumes from rv
                print(f"  {kind} watch of {self.ns} restarts after {exc!r}"[:300])
                await asyncio.sleep(0.1)

    def _pod(self, type_: str, pod: dict) -> None:
        name = pod["metadata"]["name"]
        self.pod_events[name] += 1
        if name not in self.running and running_and_ready(pod):
            self.running[name] = time.monotonic()
            self.changed.set()

    def _event(self, type_: str, event: dict) -> None:
        self.last_event = time.monotonic()
        if type_ == "ADDED":
            self.events[event.get("reason", "?")] += 1
        else:
            self.event_bumps += 1


async def _idle(cluster: Any, ns: str, args: Any, phase: E2ePhase) -> None:
    """Nothing: what the idle cluster costs (Leases, node status)."""
    await asyncio.sleep(args.e2e_idle_seconds)


async def _throughput(cluster: Any, ns: str, args: Any, phase: E2ePhase) -> None:
    client = cluster.client("kubemu-bench")
    sent: dict[str, float] = {}
    names = iter(f"tp-{i:05d}" for i in range(args.e2e_pods))

    async def creator() -> None:
        for name in names:
            sent[name] = time.monotonic()
            try:
                await client.create(bench_pod(name, ns), namespace=ns)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                del sent[name]
                phase.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    await _with_watches(cluster, client, ns, args, phase, sent, lambda: asyncio.gather(
        *(creator() for _ in range(args.e2e_concurrency))))


async def _latency(cluster: Any, ns: str, args: Any, phase: E2ePhase) -> None:
    client = cluster.client("kubemu-bench")
    sent: dict[str, float] = {}

    async def create(name: str) -> None:
        try:
            await client.create(bench_pod(name, ns), namespace=ns)
        except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
            del sent[name]
            phase.errors.append(f"{type(exc).__name__}: {exc}"[:300])

    async def paced() -> None:
        count = int(args.e2e_rate * args.e2e_seconds)
        start = time.monotonic() + 0.05
        tasks = []
        for i in range(count):
            due = start + i / args.e2e_rate
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            name = f"lat-{i:05d}"
            sent[name] = now = time.monotonic()
            phase.create_lag = max(phase.create_lag, now - due)
            tasks.append(asyncio.create_task(create(name)))
        await asyncio.gather(*tasks)

    await _with_watches(cluster, client, ns, args, phase, sent, paced)


async def _with_watches(cluster: Any, client: ApiClient, ns: str, args: Any,
                        phase: E2ePhase, sent: dict[str, float], creates: Any) -> None:
    """Create `ns`, open the watches, run `creates()`, wait for every pod to run (or the
    deadline), and fill `phase` in."""
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    watch_client = cluster.client("kubemu-bench-watch")
    watches = _Watches(watch_client, ns)
    await watches.start()
    try:
        await creates()
        deadline = time.monotonic() + args.e2e_deadline
        while True:
            watches.changed.clear()
            if set(sent) <= watches.running.keys() or time.monotonic() > deadline:
                break
            try:
                await asyncio.wait_for(watches.changed.wait(), 1.0)
            except TimeoutError:
                pass
        await watches.quiet(1.0, limit=10.0)  # Events written after the last pod ran
    finally:
        await watches.stop()
        await watch_client.close()
        await client.close()
    done = [name for name in sent if name in watches.running]
    phase.pods = len(sent)
    phase.latencies = [watches.running[n] - sent[n] for n in done]
    phase.never_running = len(sent) - len(done)
    if done:
        phase.seconds = max(watches.running[n] for n in done) - min(sent.values())
    phase.pod_writes = sum(watches.pod_events[n] for n in sent) / max(1, len(sent))
    phase.events = watches.events
    phase.event_bumps = watches.event_bumps


async def _wait_nodes_ready(client: ApiClient, count: int) -> None:
    """Until `count` Nodes are Ready with a spec.podCIDR (the kubelets start pods only then)."""
    deadline = time.monotonic() + _READY_TIMEOUT
    try:
        while True:
            items = (await client.list("v1", "Node"))["items"]
            ready = [n for n in items if (n.get("spec") or {}).get("podCIDR") and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or ())]
            if len(ready) >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(ready)} of {count} nodes Ready within "
                                   f"{_READY_TIMEOUT:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await client.close()
