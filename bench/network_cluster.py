"""The Ray parts of bench/network.py: traffic across node actors, and kube-proxy programming
latency on 100 nodes (see bench/network.py for what each measures and its reference).

Each part starts its own cluster with `bootstrap.up` on a fresh local Ray (worker niceness 0,
as the other benches), drives it through the API like any client, asks node actors for the
measurements (`load`, `wait_routable`), and shuts Ray down. Node actors are found through
each Node's `kubemu.io/actor` annotation in the cluster's Ray namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import ray
from kubemu.actors.bootstrap import ClusterInfo, down, up
from kubemu.actors.runtime import namespace as ray_namespace
from kubemu.cluster.client import ApiClient

from bench.api import _free_port
from bench.network import Row

__all__ = ["run_actors", "run_programming"]

NAMESPACE = "netbench"
ACTOR_ANNOTATION = "kubemu.io/actor"
SERVICE_PORT, POD_PORT = 8000, 80
PROGRAMMED_PORT = 80        # the programming part's Services
STATIC_IPS = "10.96.0.{}"   # the ClusterIP static band: chosen IPs, so waits start first


async def run_actors(args: argparse.Namespace) -> list[Row]:
    """3 nodes, 6 backends, the client node's actor sends the load: closed loop at each
    `--actor-concurrency` (capacity), then open loop at `--rate` (the target's test);
    reference: a Service with internalTrafficPolicy Local (same rules, no hop)."""
    async with _cluster("netbench-actors", args, nodes=3, nodes_per_actor=1,
                        time_scale=args.actor_time_scale) as (info, client):
        await _apply(client, _deployment("web", 6), _service("web"),
                     _service("web-local", internalTrafficPolicy="Local"), _client_pod())
        await _until(lambda: _ready_pods(client, "app=web", 6), 180, "6 backends Ready")
        pod = await _until(lambda: _running(client, "client"), 120, "the client pod Running")
        src, node = pod["status"]["podIP"], pod["spec"]["nodeName"]
        actor = await _node_actor(client, info, node)
        ips = {name: (await client.get("v1", "Service", name, namespace=NAMESPACE))
               ["spec"]["clusterIP"] for name in ("web", "web-local")}
        backends = await _ready_pods(client, "app=web", 6)
        local = sum(p["spec"]["nodeName"] == node for p in backends)

        async def all_routed() -> bool:
            probe = await actor.load.remote(src, ips["web"], SERVICE_PORT, 300, 16)
            return not probe["failed"] and len(probe["by_node"]) == 3
        await _until(all_routed, 120, "every backend node routed from the client")
        await actor.load.remote(src, ips["web"], SERVICE_PORT, 2000, 16)  # warm-up
        rows = []
        for concurrency in args.actor_concurrency:
            ref = await _load(actor, src, ips["web-local"], args.actor_connections,
                              concurrency, node, "reference: Service with "
                              "internalTrafficPolicy Local (no hop)")
            row = await _load(actor, src, ips["web"], args.actor_connections, concurrency,
                              node, "ClusterIP across node actors")
            row.reference = ref
            rows += [ref, row]
        paced = f"paced {args.rate:,.0f}/s"  # open loop: the target's test
        ref = await _load(actor, src, ips["web-local"], args.actor_connections,
                          args.rate_concurrency, node, "reference: Service with "
                          f"internalTrafficPolicy Local (no hop), {paced}", rate=args.rate)
        row = await _load(actor, src, ips["web"], args.actor_connections,
                          args.rate_concurrency, node, f"ClusterIP across node actors, {paced}",
                          rate=args.rate)
        row.reference = ref
        rows += [ref, row]
        rows[1].detail = (f"client pod on {node}, which hosts {local} of the 6 backends; "
                          f"the load runs inside {node}'s actor (`load`), time scale "
                          f"{args.actor_time_scale:g}")
        return rows


async def run_programming(args: argparse.Namespace) -> list[Row]:
    """`--changes` Service creates and Ready-pod relabels on `--nodes` nodes; per (node,
    change) the time from the write's answer until that node routes the ClusterIP."""
    async with _cluster("netbench-prog", args, nodes=args.nodes,
                        nodes_per_actor=args.nodes_per_actor, time_scale=1.0) as (info, client):
        pool = 2 * args.changes
        await _apply(client, _deployment("pool", pool))
        pods = await _until(lambda: _ready_pods(client, "app=pool", pool), 300,
                            f"{pool} pool pods Ready")
        nodes = (await client.list("v1", "Node"))["items"]
        names = {n["metadata"]["annotations"][ACTOR_ANNOTATION] for n in nodes}
        actors = [ray.get_actor(n, namespace=ray_namespace(info.name)) for n in names]
        seen: dict[str, float] = {}
        watcher = asyncio.get_running_loop().create_task(_watch_slices(client, seen))
        rows = {kind: Row("programming", title) for kind, title in (
            ("service", "Service created (selects a Ready pod)"),
            ("slice", "Ready pod labelled into a Service's selector (EndpointSlice change)"))}
        refs = {kind: Row("programming", f"reference: {kind} change seen by a watch in the "
                                         "driver") for kind in rows}
        try:
            for i in range(args.changes):
                svc, eps = f"s{i}", f"e{i}"
                first, second = pods[2 * i]["metadata"]["name"], pods[2 * i + 1]["metadata"][
                    "name"]
                await _label(client, first, svc)
                await client.create(_service(eps, selector={"prog": eps}, port=PROGRAMMED_PORT,
                                             clusterIP=STATIC_IPS.format(101 + 2 * i)),
                                    namespace=NAMESPACE)
                created = _service(svc, selector={"prog": svc}, port=PROGRAMMED_PORT,
                                   clusterIP=STATIC_IPS.format(100 + 2 * i))
                await _measure(actors, created["spec"]["clusterIP"], args, rows["service"],
                               refs["service"], seen, svc,
                               partial(client.create, created, namespace=NAMESPACE))
                await _measure(actors, STATIC_IPS.format(101 + 2 * i), args, rows["slice"],
                               refs["slice"], seen, eps, partial(_label, client, second, eps))
        finally:
            watcher.cancel()
        for kind, row in rows.items():
            row.reference = refs[kind]
        rows["slice"].detail = (
            f"{args.nodes} nodes in node-pool actors of {args.nodes_per_actor}, "
            f"{args.changes} changes of each kind, {len(actors)} pool actors polled every 5 ms "
            "(`wait_routable`); a sample is one (node, change) pair")
        return [refs["service"], rows["service"], refs["slice"], rows["slice"]]


async def _measure(actors: list[Any], ip: str, args: argparse.Namespace, row: Row, ref: Row,
                   seen: dict[str, float], service: str,
                   write: Callable[[], Awaitable[Any]]) -> None:
    """Start waiting on every actor, write, then one sample per node (and the reference)."""
    waits = [a.wait_routable.remote(ip, PROGRAMMED_PORT, args.routable_timeout) for a in actors]
    await write()
    answered = time.time()
    routed: dict[str, float] = {}
    for got in await asyncio.gather(*waits):
        routed.update(got)
    row.latencies += [t - answered for t in routed.values()]
    row.failed += args.nodes - len(routed)
    if service in seen:
        ref.latencies.append(seen[service] - answered)
    else:
        ref.failed += 1


class _cluster:
    """`async with _cluster(...) as (info, client)`: a fresh Ray and cluster, then down."""

    def __init__(self, name: str, args: argparse.Namespace, *, nodes: int,
                 nodes_per_actor: int, time_scale: float) -> None:
        self.name, self.args = name, args
        self.options = {"nodes": nodes, "nodes_per_actor": nodes_per_actor,
                        "time_scale": time_scale}
        self.home = Path(tempfile.mkdtemp(prefix="kubemu-netbench-"))
        self.info: ClusterInfo | None = None
        self.client: ApiClient | None = None

    async def __aenter__(self) -> tuple[ClusterInfo, ApiClient]:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        os.environ["RAY_worker_niceness"] = str(self.args.ray_worker_niceness)
        ray.init(namespace=ray_namespace(self.name), include_dashboard=False,
                 log_to_driver=False)
        began = time.monotonic()
        self.info = await up(name=self.name, home=self.home, api_port=_free_port(),
                             dns_port=0, apiservers=2, zones=3, **self.options)
        print(f"  cluster {self.name}: {self.options['nodes']} nodes up in "
              f"{time.monotonic() - began:.1f} s", flush=True)
        self.client = self.info.access.client(user_agent="kubemu-netbench")
        await self.client.create({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": NAMESPACE}})
        return self.info, self.client

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


async def _load(actor: Any, src: str, ip: str, count: int, concurrency: int, node: str,
                run: str, *, rate: float | None = None) -> Row:
    """One `load` on the client node's actor. Paced (`rate`): req/s is the achieved start
    rate (connections / first-to-last start, as vegeta's Rate), latency from the schedule."""
    got = await actor.load.remote(src, ip, SERVICE_PORT, count, concurrency, rate=rate)
    row = Row("actors", run, latencies=got["latencies"], elapsed=got["elapsed"],
              concurrency=concurrency, failed=got["failed"], rate=rate,
              crossed=sum(n for name, n in got["by_node"].items() if name != node))
    if rate is not None:
        row.elapsed = got["started_in"] or got["elapsed"]
        row.detail = (f"{got['late']:,} of {count:,} starts more than 1 ms behind schedule; "
                      f"{count / got['elapsed']:,.0f} completed/s until the last answer")
    return row


async def _watch_slices(client: ApiClient, seen: dict[str, float]) -> None:
    """The reference: when this process first sees a Ready endpoint in each Service's slice."""
    while True:
        listed = await client.list("discovery.k8s.io/v1", "EndpointSlice", namespace=NAMESPACE)
        try:
            async for event in client.watch(
                    "discovery.k8s.io/v1", "EndpointSlice", namespace=NAMESPACE,
                    resource_version=listed["metadata"]["resourceVersion"]):
                obj = event.get("object") or {}
                service = ((obj.get("metadata") or {}).get("labels") or {}).get(
                    "kubernetes.io/service-name")
                if service and service not in seen and any(
                        (e.get("conditions") or {}).get("ready")
                        for e in obj.get("endpoints") or ()):
                    seen[service] = time.time()
        except Exception as exc:  # noqa: BLE001 - a broken watch is listed and watched again
            print(f"  slice watch: {exc!r}", flush=True)


async def _until(check: Callable[[], Awaitable[Any]], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := await check():
            return got
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{what}: not within {timeout:g} s")


async def _ready_pods(client: ApiClient, selector: str, count: int) -> list[dict] | None:
    items = (await client.list("v1", "Pod", namespace=NAMESPACE,
                               label_selector=selector))["items"]
    ready = [p for p in items if p["status"].get("podIP") and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in p["status"].get("conditions") or ())]
    return sorted(ready, key=lambda p: p["metadata"]["name"]) if len(ready) >= count else None


async def _running(client: ApiClient, name: str) -> dict | None:
    pod = await client.get("v1", "Pod", name, namespace=NAMESPACE)
    return pod if pod["status"].get("phase") == "Running" and pod["status"].get("podIP") \
        else None


async def _node_actor(client: ApiClient, info: ClusterInfo, node: str) -> Any:
    obj = await client.get("v1", "Node", node)
    return ray.get_actor(obj["metadata"]["annotations"][ACTOR_ANNOTATION],
                         namespace=ray_namespace(info.name))


async def _label(client: ApiClient, pod: str, value: str) -> None:
    await client.patch("v1", "Pod", pod, {"metadata": {"labels": {"prog": value}}},
                       namespace=NAMESPACE)


async def _apply(client: ApiClient, *objects: dict) -> None:
    for obj in objects:
        await client.create(obj, namespace=NAMESPACE)


def _deployment(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                         {"name": "c", "image": "nginx",
                          "ports": [{"containerPort": POD_PORT}]}]}}}}


def _service(name: str, *, selector: dict | None = None, port: int = SERVICE_PORT,
             **spec: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector or {"app": "web"}, **spec,
                     "ports": [{"port": port, "targetPort": POD_PORT}]}}


def _client_pod() -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
            "spec": {"nodeSelector": {"topology.kubernetes.io/zone": "zone-a"},
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sleep", "infinity"]}]}}
