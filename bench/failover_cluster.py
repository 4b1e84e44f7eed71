"""The cluster parts of bench/failover.py: store failover, scheduler takeover and node loss on
one `bootstrap.up` cluster (see bench/failover.py for what each measures and its target).

One fresh local Ray and one cluster serve every scenario, in the order store, scheduler, node
(node kills are for good, so they come last). Faults go through `kubemu.actors.chaos.Chaos`:
`kill("store", leader=True)` and `kill(<scheduler actor>)` SIGKILL the process (Ray restarts
it), `kill_node(name)` is `ray.kill(no_restart=True)`. The scheduler leader is read from the
Lease here, not with `Chaos.leader`: a restarted scheduler's identity carries a suffix
(`scheduler-1_1a2b3c4d`), which `Chaos.leader` does not map back to its actor. Every trial
starts from a settled cluster (all replicas back and caught up, one leader, the Deployment
ready) and that wait is never timed; durations are `time.monotonic()` in this driver.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import ray
from kubemu.actors.bootstrap import ClusterInfo, down, up
from kubemu.actors.chaos import Chaos
from kubemu.actors.chaos_invariants import DeploymentsReady
from kubemu.actors.runtime import namespace as ray_namespace
from kubemu.actors.store_client import StoreClient
from kubemu.cluster.api.errors import ApiError
from kubemu.cluster.client import ApiClient

from bench.api import _free_port
from bench.store import KubemuSystem, failover_trial

__all__ = ["Cluster", "Figure", "node_loss", "scheduler_takeover", "store_failover"]

NAMESPACE = "failover"
NODE_GRACE, TOLERATION = 40.0, 300.0  # node-monitor-grace-period, DefaultTolerationSeconds
POLL = 0.02  # seconds between two looks at the API while timing a recovery


@dataclass
class Figure:
    """One row of the results: a duration per trial."""
    scenario: str
    run: str
    times: list[float] = field(default_factory=list)
    failed: int = 0
    target: float | None = None  # seconds; None: informative
    detail: str = ""


class Cluster:
    """`async with Cluster(args) as c`: a fresh Ray and cluster (2 schedulers), then down."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name = f"failover-{os.getpid()}"
        self.home = Path(tempfile.mkdtemp(prefix="kubemu-failover-"))
        self.info: ClusterInfo | None = None
        self.client: ApiClient | None = None
        self.chaos: Chaos | None = None

    async def __aenter__(self) -> Self:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ["RAY_worker_niceness"] = str(self.args.ray_worker_niceness)
        ray.init(namespace=ray_namespace(self.name), include_dashboard=False,
                 log_to_driver=False)
        began = time.monotonic()
        self.info = await up(name=self.name, home=self.home, api_port=_free_port(),
                             dns_port=0, nodes=self.args.nodes, zones=2, apiservers=1,
                             schedulers=2, time_scale=self.args.time_scale)
        print(f"  cluster {self.name}: {self.args.nodes} nodes, 2 schedulers, time scale "
              f"{self.args.time_scale:g}, up in {time.monotonic() - began:.1f} s", flush=True)
        self.client = self.info.access.client(user_agent="kubemu-failover-bench")
        self.chaos = Chaos(self.name, self.client)
        await self.client.create({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": NAMESPACE}})
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.client is not None:
                await self.client.close()
            if self.info is not None:
                await down(self.info)
        finally:
            if ray.is_initialized():
                ray.shutdown()
            shutil.rmtree(self.home, ignore_errors=True)


# -- store failover ---------------------------------------------------------------------------

async def store_failover(c: Cluster, trials: int, *, direct: bool) -> list[Figure]:
    """bench/store.py's `failover_trial` (a write every 10 ms; kill -> first ack of a write
    issued after the kill) with writes through the API server, and (`direct`) store puts."""
    store = _ChaosStore(c, Path(c.home))
    figures = [Figure("store failover", "kubemu: ConfigMap create through the API server",
                      target=1.0)]
    if direct:
        figures.append(Figure("store failover", "kubemu: put through the store client "
                              "(no API server)", target=1.0))
    store.client = await StoreClient.connect(cluster=c.name, replicas=3)
    try:
        for trial in range(trials):
            for figure in figures:
                store.via_api = figure is figures[0]
                took = await failover_trial(store)
                _note(figure, took, f"store {'API' if store.via_api else 'direct'} "
                                    f"{trial + 1}/{trials}, killed {store.killed}")
    finally:
        await store.client.close()
    figures[0].detail = ("one ConfigMap create issued every 10 ms (not waiting for the "
                         "previous one); the leader found and SIGKILLed by "
                         "Chaos.kill('store', leader=True); Ray restarts it")
    return figures


class _ChaosStore(KubemuSystem):
    """bench/store.py's kubemu store, killed through Chaos, probed through the API or not."""

    def __init__(self, c: Cluster, data_dir: Path) -> None:
        super().__init__(data_dir, cluster=c.name, tick_seconds=0.05, election_tick=10,
                         worker_niceness=c.args.ray_worker_niceness)
        self.cluster, self.via_api, self.killed, self._n = c, True, "", 0

    async def probe(self, key: str, value: bytes) -> None:
        if not self.via_api:
            await self.client.put(key, value)
            return
        self._n += 1
        await self.cluster.client.create(
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": f"probe-{self._n}"}, "data": {"v": value[:32].hex()}},
            namespace=NAMESPACE)

    async def kill_leader(self) -> float:
        await self.wait_stable()
        killed = await self.cluster.chaos.kill("store", leader=True)
        self.killed = killed.actor
        return time.monotonic()


# -- scheduler takeover -----------------------------------------------------------------------

async def scheduler_takeover(c: Cluster, trials: int) -> list[Figure]:
    """Kill -9 the leading scheduler, create a pod at once; time the Lease's new holder and
    the pod's binding."""
    lease = 15.0 / c.args.time_scale
    took = Figure("scheduler takeover", "Lease kube-system/kube-scheduler taken by another "
                  "holder")
    bound = Figure("scheduler takeover", "pod created right after the kill bound", target=2.0)
    holders = []
    for trial in range(trials):
        leader, holder = await _until(lambda: _settled_schedulers(c), 120,
                                      "both schedulers running, one leading")
        await c.chaos.kill(leader)
        killed_at = time.monotonic()
        pod = f"after-kill-{trial}"
        await c.client.create(_pod(pod), namespace=NAMESPACE)
        new_holder, lease_at, bound_at = "", None, None
        while (lease_at is None or bound_at is None) and time.monotonic() - killed_at < 60:
            now = time.monotonic()
            if lease_at is None:
                new_holder = await _holder(c.client)
                if new_holder and new_holder != holder:
                    lease_at = now
            if bound_at is None and (await c.client.get(
                    "v1", "Pod", pod, namespace=NAMESPACE))["spec"].get("nodeName"):
                bound_at = now
            await asyncio.sleep(POLL)
        holders.append(f"{holder} -> {new_holder}")
        _note(took, lease_at and lease_at - killed_at, f"scheduler {trial + 1}/{trials}: "
                                                        f"{holder} -> {new_holder}, lease")
        _note(bound, bound_at and bound_at - killed_at, f"scheduler {trial + 1}/{trials}: bound")
    took.detail = (f"2 schedulers, time scale {c.args.time_scale:g}: leaseDuration 15 s -> "
                   f"{lease:g} s, retryPeriod 2 s -> {2 / c.args.time_scale:g} s; the leader "
                   f"SIGKILLed (Chaos.kill); holders: {'; '.join(holders)}")
    return [took, bound]


async def _settled_schedulers(c: Cluster) -> tuple[str, str] | None:
    """(leader actor, Lease holder) once both replicas run, exactly one leads and holds."""
    pings = await asyncio.gather(*(_ping(c, f"scheduler-{i}") for i in (1, 2)))
    if not all(p and p["running"] for p in pings):
        return None
    leading = [f"scheduler-{i}" for i, p in zip((1, 2), pings, strict=True) if p["leading"]]
    holder = await _holder(c.client)
    if len(leading) != 1 or re.sub(r"_[0-9a-f]+$", "", holder) != leading[0]:
        return None
    return leading[0], holder


async def _ping(c: Cluster, actor: str) -> dict | None:
    try:
        handle = ray.get_actor(actor, namespace=ray_namespace(c.name))
        return await asyncio.wait_for(asyncio.wrap_future(handle.ping.remote().future()), 2.0)
    except Exception:  # noqa: BLE001 - dead, restarting or slow: not settled yet
        return None


async def _holder(client: ApiClient) -> str:
    try:
        lease = await client.get("coordination.k8s.io/v1", "Lease", "kube-scheduler",
                                 namespace="kube-system")
    except ApiError:
        return ""
    return (lease.get("spec") or {}).get("holderIdentity") or ""


# -- node loss --------------------------------------------------------------------------------

async def node_loss(c: Cluster, trials: int, *, replicas: int) -> list[Figure]:
    """Kill a node hosting a Deployment pod for good; time until the Deployment has its
    replicas ready again, all on live nodes. The dead Node is deleted after each trial (as a
    cloud's node controller does for a vanished instance) so dead nodes never add up to a
    partial zone disruption, which stops tainting in small clusters."""
    scale = c.args.time_scale
    bound = (NODE_GRACE + TOLERATION) / scale + 2.0
    unknown = Figure("node loss", "Node Ready condition Unknown")
    restored = Figure("node loss", f"Deployment of {replicas} back to {replicas} ready "
                      "replicas on live nodes", target=bound)
    await c.client.create(_deployment("web", replicas), namespace=NAMESPACE)
    dead: set[str] = set()
    victims = []
    for trial in range(trials):
        pods = await _until(lambda: _restored(c.client, replicas, dead), 300,
                            f"{replicas} ready pods on live nodes")
        victim = min(pods, key=lambda p: p["metadata"]["name"])["spec"]["nodeName"]
        on_victim = sum(p["spec"]["nodeName"] == victim for p in pods)
        await c.chaos.kill_node(victim)
        killed_at = time.monotonic()
        dead.add(victim)
        unknown_at = restored_at = None
        while restored_at is None and time.monotonic() - killed_at < bound + 120:
            now = time.monotonic()
            if unknown_at is None and _ready_status(
                    await c.client.get("v1", "Node", victim)) == "Unknown":
                unknown_at = now
            if await _restored(c.client, replicas, dead):
                restored_at = now
            await asyncio.sleep(0.1)
        victims.append(f"{victim} ({on_victim} pod{'s' * (on_victim > 1)})")
        _note(unknown, unknown_at and unknown_at - killed_at,
              f"node {trial + 1}/{trials}: {victim} Unknown")
        _note(restored, restored_at and restored_at - killed_at,
              f"node {trial + 1}/{trials}: replicas restored (bound {bound:.1f} s)")
        await c.client.delete("v1", "Node", victim)
    unknown.detail = f"node-monitor grace 40 s -> {NODE_GRACE / scale:g} s at time scale {scale:g}"
    restored.detail = (f"{c.args.nodes} nodes in 2 zones, time scale {scale:g}; pods carry the "
                       f"default 300 s not-ready/unreachable tolerations; bound = (grace 40 s "
                       f"+ toleration 300 s) / {scale:g} + 2 s = {bound:.1f} s; node actor "
                       f"killed for good (Chaos.kill_node): {', '.join(victims)}")
    return [unknown, restored]


async def _restored(client: ApiClient, replicas: int, dead: set[str]) -> list[dict] | None:
    """The live pods, once `replicas` of them are Ready on live nodes and the Deployment says
    so (chaos_invariants.DeploymentsReady)."""
    items = (await client.list("v1", "Pod", namespace=NAMESPACE,
                               label_selector="app=web"))["items"]
    live = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    if len(live) != replicas or not all(
            p["spec"].get("nodeName") and p["spec"]["nodeName"] not in dead
            and _ready_status(p) == "True" for p in live):
        return None
    return live if (await DeploymentsReady(client, namespace=NAMESPACE).check()).ok else None


def _ready_status(obj: dict) -> str:
    return next((c["status"] for c in (obj.get("status") or {}).get("conditions") or ()
                 if c["type"] == "Ready"), "")


# -- helpers ----------------------------------------------------------------------------------

def _note(figure: Figure, took: float | None, what: str) -> None:
    if took is None:
        figure.failed += 1
        print(f"  {what}: not within the deadline", flush=True)
    else:
        figure.times.append(took)
        print(f"  {what}: {took:.2f} s", flush=True)


async def _until(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if got := await check():
                return got
        except ApiError:
            pass  # an API server restarting or a store electing: look again
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what}: not within {timeout:g} s")


def _pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "command": ["sleep", "infinity"]}]}}


def _deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "topologySpreadConstraints": [{
                             "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                             "whenUnsatisfiable": "ScheduleAnyway",
                             "labelSelector": {"matchLabels": labels}}],
                         "containers": [{"name": "c", "image": "nginx"}]}}}}
