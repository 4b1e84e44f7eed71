"""The short demo behind `kubemu demo`: a local cluster whose store loses its leader, and nothing
a client was told is lost, while its Deployment's pods run on emulated nodes.

It starts a cluster on local Ray (a Raft-replicated store and an API server over HTTPS, as
`kubemu up` does, on a free port and in a private directory), creates a Namespace, a
Deployment, a Service and ConfigMaps through the Kubernetes API while a watch follows them,
kills the store leader's process (SIGKILL; Ray restarts it from its WAL), keeps creating, and checks
that every acknowledged object reads back and that the watch saw each creation exactly once,
in order. With kubectl on the PATH it also shows `kubectl get` against the cluster.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import ray
from rich.console import Console
from rich.table import Table

from kubemu.actors.bootstrap import ClusterInfo, down, up
from kubemu.actors.http_transport import HttpTransport
from kubemu.actors.runtime import namespace, store_actor_name
from kubemu.actors.store_client import StoreClient
from kubemu.cluster.client import ApiClient

_CLUSTER = "demo"
_NS = "demo"


async def run_store_demo(console: Console, *, replicas: int, writes: int, data_dir: str) -> bool:
    """Run the demo in a fresh local Ray instance (data and kubeconfig under `data_dir`)."""
    ray.init(namespace=namespace(_CLUSTER), include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        console.print(f"starting a cluster: {replicas}-replica store, an API server, the "
                      f"scheduler, the controller manager and 3 nodes in 3 zones on local Ray "
                      f"(data in {data_dir})")
        info = await up(name=_CLUSTER, store_replicas=replicas, api_port=_free_port(),
                        home=data_dir, data_dir=Path(data_dir) / "store", nodes=3, zones=3)
        try:
            return await _demo(console, info, writes=writes)
        finally:
            await down(info)
    finally:
        ray.shutdown()


async def _demo(console: Console, info: ClusterInfo, *, writes: int) -> bool:
    ca_file = info.directory / "ca.crt"
    ca_file.write_bytes(info.ca_pem)
    client = ApiClient(HttpTransport(info.server, token=info.token, ca=str(ca_file)))
    store = await StoreClient.connect(cluster=_CLUSTER, replicas=info.store_replicas)
    try:
        console.print(f"API server: {info.server} (kubeconfig: {info.kubeconfig})")
        await client.create({"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": _NS}})
        await client.create(_deployment(), namespace=_NS)
        await client.create(_service(), namespace=_NS)
        listed = await client.list("v1", "ConfigMap", namespace=_NS)
        seen: list[dict] = []
        watcher = asyncio.create_task(_follow(client, listed["metadata"]["resourceVersion"],
                                              seen))
        acked: dict[str, str] = {}
        await _create(client, acked, 0, writes)
        leader = await store.leader()
        console.print(f"created {writes} ConfigMaps; killing the store leader store-{leader}")
        handle = ray.get_actor(store_actor_name(leader), namespace=namespace(_CLUSTER))
        pid = (await handle.status.remote())["pid"]
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)  # a crash: gone now; Ray restarts it from its WAL
        await _create(client, acked, writes, writes + 1)
        failover = time.monotonic() - killed_at
        await _create(client, acked, writes + 1, 2 * writes)
        new_leader = await store.leader()

        current = {c["metadata"]["name"]: (c.get("data") or {}).get("value")
                   async for c in client.list_all("v1", "ConfigMap", namespace=_NS)}
        missing = [name for name, value in acked.items() if current.get(name) != value]
        await _wait_for(lambda: len(seen) >= len(acked), seconds=30)
        watcher.cancel()
        revisions = [int(e["object"]["metadata"]["resourceVersion"]) for e in seen]
        names = [e["object"]["metadata"]["name"] for e in seen]
        in_order = (revisions == sorted(set(revisions)) and len(seen) == len(acked)
                    and set(names) == set(acked))

        available = await _deployment_available(client, replicas=3, seconds=60)

        table = Table(title="kubemu demo")
        table.add_column("check")
        table.add_column("result")
        table.add_row("acknowledged writes", str(len(acked)))
        table.add_row("missing or wrong after failover", str(len(missing)))
        table.add_row("new leader", f"store-{new_leader}")
        table.add_row("leader kill -> next committed write", f"{failover * 1000:.0f} ms")
        table.add_row("watch events (in order, no gaps)",
                      f"{len(seen)} ({'yes' if in_order else 'NO'})")
        table.add_row("Deployment web available replicas", f"{available}/3")
        console.print(table)
        _show_kubectl(console, info)
        ok = not missing and in_order and available == 3
        console.print("[green]ok[/green]" if ok else "[red]FAILED[/red]")
        return ok
    finally:
        await store.close()
        await client.close()


async def _create(client: ApiClient, acked: dict[str, str], lo: int, hi: int) -> None:
    async def one(i: int) -> None:
        name, value = f"setting-{i:05d}", f"value {i}"
        await client.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": name}, "data": {"value": value}},
                            namespace=_NS)
        acked[name] = value

    for base in range(lo, hi, 16):
        await asyncio.gather(*(one(i) for i in range(base, min(base + 16, hi))))


async def _follow(client: ApiClient, resource_version: str, seen: list[dict]) -> None:
    async for event in client.watch("v1", "ConfigMap", namespace=_NS,
                                    resource_version=resource_version):
        if event["type"] == "ADDED" and event["object"]["metadata"]["name"].startswith(
                "setting-"):  # not kube-root-ca.crt, which every namespace gets
            seen.append(event)


def _show_kubectl(console: Console, info: ClusterInfo) -> None:
    if shutil.which("kubectl") is None:
        return
    done = subprocess.run(["kubectl", "--kubeconfig", str(info.kubeconfig), "get",
                           "deploy,svc,pods", "-n", _NS, "-o", "wide"],
                          capture_output=True, text=True, timeout=60)
    console.print(f"$ kubectl get deploy,svc,pods -n {_NS} -o wide")
    console.print(done.stdout.rstrip() or done.stderr.rstrip(), markup=False)


def _deployment() -> dict:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": labels},
            "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                           "ports": [{"containerPort": 80}]}]}}}}


def _service() -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _deployment_available(client: ApiClient, *, replicas: int, seconds: float) -> int:
    """The web Deployment's available replicas once they reach `replicas` (or at the
    deadline)."""
    deadline = time.monotonic() + seconds
    while True:
        dep = await client.get("apps/v1", "Deployment", "web", namespace=_NS)
        available = (dep.get("status") or {}).get("availableReplicas", 0)
        if available >= replicas or time.monotonic() > deadline:
            return available
        await asyncio.sleep(0.2)


async def _wait_for(predicate, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)
