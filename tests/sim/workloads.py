"""Deterministic simulation of the workload control plane: scheduler + controller manager +
kubelets in one process, in virtual time, with churn and node failures.

Everything real runs: the API server over a LocalStore, the ControllerManager with every
controller, the Scheduler, and one Kubelet per node, all talking through in-process API
clients. Time is the virtual loop's (tests/vtime.py), so minutes of node grace periods,
toleration timeouts and backoffs pass in milliseconds, and a seed fixes every choice the
scenario makes (which Deployment to scale, which node to stop). Checkers:
- no node over-committed: at every check, the requests of the pods Running on a node fit its
  allocatable (cpu, memory, pods);
- no pod bound twice: a pod's nodeName never changes once set (watched);
- no StatefulSet ordinal runs twice: no pod name of the StatefulSet `db` has live containers
  on two kubelets at once (a stopped kubelet's pods count as still running: a partitioned
  node's containers do);
- PodDisruptionBudgets hold under voluntary evictions: the eviction API only allows evicting
  a `guarded` pod (PDB minAvailable 2 of 3) while at least 3 of them are ready;
- convergence: after the churn ends and stopped nodes come back, every Deployment reaches
  its replicas as updated, available pods, and the StatefulSet its ready replicas, within a
  deadline.
A failure names the seed; `python -m tests.sim.workloads --seed N` reproduces it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field

from kubemu.cluster.api.errors import ApiError
from kubemu.cluster.api.quantity import milli_value, parse_quantity
from kubemu.cluster.clock import derive_rng
from kubemu.cluster.controllers.manager import ControllerManager
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.kubelet import Kubelet
from kubemu.cluster.scheduler.scheduler import Scheduler
from tests import vtime
from tests.kube import api, eventually

__all__ = ["SimResult", "run"]

NODE_CPU, NODE_MEMORY = "2", "4Gi"


@dataclass
class SimResult:
    seed: int
    ok: bool = True
    failure: str = ""
    steps: list[str] = field(default_factory=list)

    @property
    def reproduce(self) -> str:
        return f"python -m tests.sim.workloads --seed {self.seed}"


def run(seed: int, *, nodes: int = 5, deployments: int = 4, steps: int = 16) -> SimResult:
    """One seeded scenario; never raises for a broken invariant (it is in the result)."""
    result = SimResult(seed)
    try:
        vtime.run(lambda: _scenario(seed, result, nodes=nodes, deployments=deployments,
                                    steps=steps))
    except AssertionError as exc:
        result.ok, result.failure = False, str(exc)
    return result


async def _scenario(seed: int, result: SimResult, *, nodes: int, deployments: int,
                    steps: int) -> None:
    rng = derive_rng(seed, "scenario")
    async with api(seed=seed) as kube:
        timing = kube.timing
        kcm = ControllerManager(kube.new_client(), timing, rng=derive_rng(seed, "kcm"))
        sched = Scheduler(kube.new_client(), timing, rng=derive_rng(seed, "scheduler"))
        tasks = [asyncio.create_task(kcm.run()), asyncio.create_task(sched.run())]
        kubelets: dict[str, Kubelet] = {}

        def start_node(i: int) -> None:
            cfg = NodeConfig(name=f"node-{i}", zone=f"zone-{'abc'[i % 3]}", cpu=NODE_CPU,
                             memory=NODE_MEMORY, address=f"127.1.0.{i + 1}")
            kubelet = Kubelet(kube.new_client(), timing, cfg, rng=derive_rng(seed, "node", i))
            kubelets[cfg.name] = kubelet
            tasks.append(asyncio.create_task(kubelet.run()))

        for i in range(nodes):
            start_node(i)
        bindings: dict[str, str] = {}
        watcher = asyncio.create_task(_watch_bindings(kube.new_client(), bindings))
        client = kube.client
        replicas = {f"d{i}": rng.randint(1, 4) for i in range(deployments)}
        for name, count in replicas.items():
            await client.create(_deployment(name, count, image="nginx:1"), namespace="default")
        await client.create(_deployment("guarded", 3, image="nginx:1"), namespace="default")
        await client.create(_pdb("guarded", min_available=2), namespace="default")
        await client.create(_statefulset("db", 3), namespace="default")
        stopped: list[str] = []
        evictions = {"allowed": 0, "refused": 0}
        for step in range(steps):
            await asyncio.sleep(rng.uniform(5, 60))
            action = rng.choice(["scale", "scale", "image", "stop", "restart", "delete-pod",
                                 "evict", "evict"])
            name = rng.choice(sorted(replicas))
            if action == "scale":
                replicas[name] = rng.randint(0, 5)
                await client.patch("apps/v1", "Deployment", name,
                                   {"spec": {"replicas": replicas[name]}}, namespace="default")
            elif action == "image":
                image = f"nginx:{rng.randint(2, 9)}"
                await client.patch("apps/v1", "Deployment", name, {"spec": {"template": {
                    "spec": {"containers": [{"name": "c", "image": image}]}}}},
                    namespace="default", patch_type="strategic")
            elif action == "stop" and len(stopped) < nodes - 3:
                victim = rng.choice(sorted(set(kubelets) - set(stopped)))
                await kubelets[victim].stop()
                stopped.append(victim)
            elif action == "restart" and stopped:
                back = stopped.pop(rng.randrange(len(stopped)))
                start_node(int(back.split("-")[1]))
            elif action == "delete-pod":
                pods = (await client.list("v1", "Pod", namespace="default"))["items"]
                if pods:
                    victim_pod = rng.choice(sorted(p["metadata"]["name"] for p in pods))
                    await client.delete("v1", "Pod", victim_pod, namespace="default")
            elif action == "evict":  # a burst: the second must wait for the first's replacement
                name = "; ".join([await _evict_one(client, rng, evictions) for _ in range(2)])
            result.steps.append(f"t={asyncio.get_running_loop().time():.0f} {action} {name}")
            await _check_not_overcommitted(client)
            _check_ordinals_run_once(kubelets)
        for back in stopped:  # nodes come back: their kubelets finish what was deleted
            start_node(int(back.split("-")[1]))
        replicas["guarded"] = 3
        await eventually(lambda: _converged(client, replicas), timeout=1200, step=5,
                         what=f"every Deployment and the StatefulSet converged (seed {seed})")
        await _check_not_overcommitted(client)
        _check_ordinals_run_once(kubelets)
        double = {uid: n for uid, n in bindings.items() if n == "<rebound>"}
        assert not double, f"pods bound twice: {sorted(double)}"
        watcher.cancel()
        for kubelet in kubelets.values():
            await kubelet.stop()
        await sched.stop()
        await kcm.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, watcher, return_exceptions=True)


def _pdb(name: str, *, min_available: int) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"minAvailable": min_available,
                     "selector": {"matchLabels": {"app": name}}}}


def _statefulset(name: str, replicas: int) -> dict:
    spec = _deployment(name, replicas, image="postgres:16")["spec"]
    spec.pop("strategy")
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {**spec, "serviceName": name}}


async def _evict_one(client, rng, counts: dict[str, int]) -> str:
    """Evict a random `guarded` pod; the PDB (minAvailable 2) must refuse unless 3 are
    ready (nothing else makes them unready between the list and the eviction)."""
    pods = [p for p in (await client.list("v1", "Pod", namespace="default",
                                          label_selector="app=guarded"))["items"]
            if not p["metadata"].get("deletionTimestamp")]
    if not pods:
        return "nothing"
    ready = sum(1 for p in pods if _ready(p))
    victim = rng.choice(sorted(p["metadata"]["name"] for p in pods))
    try:
        await client.create({"apiVersion": "policy/v1", "kind": "Eviction",
                             "metadata": {"name": victim, "namespace": "default"}},
                            namespace="default", subresource="eviction")
    except ApiError as exc:
        if exc.code != 429:
            raise
        counts["refused"] += 1
        return f"{victim} refused with {ready} ready"
    counts["allowed"] += 1
    victim_ready = _ready(next(p for p in pods if p["metadata"]["name"] == victim))
    assert ready >= 3 or not victim_ready, \
        f"eviction of ready {victim} allowed with only {ready} guarded pods ready (PDB 2)"
    return f"{victim} allowed with {ready} ready"


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _check_ordinals_run_once(kubelets: dict) -> None:
    running: dict[str, list[str]] = {}
    for node, kubelet in kubelets.items():
        for driver in kubelet.pods.values():
            worker = driver.worker
            name = (driver.pod.get("metadata") or {}).get("name", "")
            if worker is None or worker.finished or not name.startswith("db-"):
                continue
            if worker.status().get("phase") in ("Succeeded", "Failed"):
                continue
            running.setdefault(name, []).append(node)
    twice = {name: nodes for name, nodes in running.items() if len(nodes) > 1}
    assert not twice, f"StatefulSet pods running on two nodes at once: {twice}"


def _deployment(name: str, replicas: int, *, image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {
                         "terminationGracePeriodSeconds": 5,
                         "tolerations": [{"key": "node.kubernetes.io/unreachable",
                                          "operator": "Exists", "effect": "NoExecute",
                                          "tolerationSeconds": 20}],
                         "containers": [{"name": "c", "image": image, "resources": {
                             "requests": {"cpu": "300m", "memory": "256Mi"}}}]}}}}


async def _watch_bindings(client, bindings: dict[str, str]) -> None:
    while True:
        try:
            async for event in client.watch("v1", "Pod", timeout_seconds=300):
                pod = event.get("object") or {}
                uid = (pod.get("metadata") or {}).get("uid")
                node = (pod.get("spec") or {}).get("nodeName")
                if uid and node:
                    if bindings.get(uid, node) != node:
                        bindings[uid] = "<rebound>"
                    else:
                        bindings.setdefault(uid, node)
        except asyncio.CancelledError:
            raise
        except Exception:  # a watch that ends: start another
            await asyncio.sleep(1)


async def _check_not_overcommitted(client) -> None:
    nodes = (await client.list("v1", "Node"))["items"]
    pods = (await client.list("v1", "Pod"))["items"]
    for node in nodes:
        name = node["metadata"]["name"]
        alloc = node["status"].get("allocatable") or {}
        running = [p for p in pods if p["spec"].get("nodeName") == name
                   and p["status"].get("phase") == "Running"]
        cpu = sum(milli_value(c.get("resources", {}).get("requests", {}).get("cpu", "0"))
                  for p in running for c in p["spec"]["containers"])
        mem = sum(parse_quantity(c.get("resources", {}).get("requests", {}).get("memory", "0"))
                  for p in running for c in p["spec"]["containers"])
        assert cpu <= milli_value(alloc.get("cpu", "0")), \
            f"{name} over-committed: cpu {cpu}m > {alloc.get('cpu')}"
        assert mem <= parse_quantity(alloc.get("memory", "0")), \
            f"{name} over-committed: memory {mem} > {alloc.get('memory')}"
        assert len(running) <= int(alloc.get("pods", "110")), f"{name}: too many pods"


async def _converged(client, replicas: dict[str, int]) -> bool:
    deps = {d["metadata"]["name"]: d
            for d in (await client.list("apps/v1", "Deployment", namespace="default"))["items"]}
    pods = (await client.list("v1", "Pod", namespace="default"))["items"]
    for name, want in replicas.items():
        dep = deps.get(name)
        if dep is None:
            return False
        status = dep.get("status") or {}
        if (status.get("observedGeneration") != dep["metadata"].get("generation")
                or status.get("updatedReplicas", 0) != want
                or status.get("availableReplicas", 0) != want
                or status.get("replicas", 0) != want):
            return False
        live = [p for p in pods if p["metadata"]["labels"].get("app") == name
                and not p["metadata"].get("deletionTimestamp")
                and p["status"].get("phase") == "Running"]
        if len(live) != want:
            return False
    sts = await client.get("apps/v1", "StatefulSet", "db", namespace="default")
    return (sts.get("status") or {}).get("readyReplicas", 0) == 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.sim.workloads")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args(argv)
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds))
    failed = 0
    for seed in seeds:
        res = run(seed)
        print(f"seed {seed}: {'ok' if res.ok else 'FAILED: ' + res.failure}")
        if not res.ok:
            failed += 1
            print("\n".join(res.steps))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
