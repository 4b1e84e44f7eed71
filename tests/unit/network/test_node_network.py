"""Node networks against the real in-process API server: a pool of three nodes (shared
informers, a kube-proxy each) routes a ClusterIP to pods on every node, applies link faults
to the nodes' links (never within one node), and echoes a TCP payload."""

from __future__ import annotations

import asyncio
import collections
import random
from typing import Any

import pytest

from kubemu.cluster.node.config import NodeConfig
from kubemu.network.fabric import ConnectionRefused, ConnectionTimeout, Reply
from kubemu.network.node import Dialed, EmulatedNodePool
from tests import vtime
from tests.kube import api, eventually

NODES = [NodeConfig(name=f"n{i}", zone=f"zone-{'abc'[i - 1]}", address=f"127.1.0.{i}",
                    pod_cidr=f"10.244.{i}.0/24") for i in (1, 2, 3)]


def backend(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"web-{i}", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": f"n{i}", "containers": [
                {"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}}


def service_and_slice(pods: list[dict]) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web",
                                                             "namespace": "default"},
         "spec": {"clusterIP": "10.96.0.50", "selector": {"app": "web"},
                  "ports": [{"port": 8000, "targetPort": 80}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-1", "namespace": "default",
                      "labels": {"kubernetes.io/service-name": "web"}},
         "addressType": "IPv4", "ports": [{"port": 80, "protocol": "TCP", "name": ""}],
         "endpoints": [{"addresses": [p["status"]["podIP"]], "conditions": {"ready": True},
                        "nodeName": p["spec"]["nodeName"]} for p in pods]}]


def run_pool(check) -> None:
    async def main() -> None:
        async with api() as kube:
            pool = EmulatedNodePool(kube.client, kube.timing, NODES, rng=random.Random(3))
            task = asyncio.create_task(pool.run())
            try:
                for i in (1, 2, 3):
                    await kube.client.create(backend(i), namespace="default")

                async def running() -> list[dict] | None:
                    pods = (await kube.client.list("v1", "Pod", namespace="default"))["items"]
                    ok = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
                    return ok if len(ok) == 3 else None

                pods = await eventually(running, what="three backends running")
                for obj in service_and_slice(pods):
                    await kube.client.create(obj, namespace="default")
                await eventually(lambda: all(n.routes("10.96.0.50", 8000)
                                             for n in pool.networks.values()),
                                 what="every node's kube-proxy programmed")
                await check(pool, pods, kube.client)
            finally:
                await pool.stop()
                await asyncio.wait_for(task, 10)

    vtime.run(main)


async def local_hop(pool: EmulatedNodePool, dialed: Dialed, payload: str | None) -> Reply:
    """The hop inside one pool: straight to the owning node's accept."""
    return pool.networks[dialed.node].accept(dialed.ip, dialed.port, service=dialed.service,
                                             payload=payload)


async def dial_from_n1(pool: EmulatedNodePool, ip: str, port: int = 80) -> Reply:
    """A connection from an address of node n1 to `ip`:`port` (80: the pods listen there)."""
    return await pool.networks["n1"].connect("10.244.1.99", ip, port,
                                             hop=lambda d, p: local_hop(pool, d, p))


def test_a_pool_routes_a_cluster_ip_to_pods_on_every_node() -> None:
    async def check(pool: EmulatedNodePool, pods: list[dict], client: Any) -> None:
        source = pool.networks["n1"]
        served = collections.Counter()
        for _ in range(60):
            reply = await source.connect("10.244.1.99", "10.96.0.50", 8000,
                                         hop=lambda d, p: local_hop(pool, d, p))
            served[(reply.pod, reply.node, reply.zone)] += 1
            assert (reply.service, reply.port) == ("default/web", 80)
        assert {key for key in served} == {("web-1", "n1", "zone-a"),
                                           ("web-2", "n2", "zone-b"),
                                           ("web-3", "n3", "zone-c")}
        echoed = await source.connect("10.244.1.99", "10.96.0.50", 8000, payload="hello",
                                      hop=lambda d, p: local_hop(pool, d, p))
        assert echoed.echo == "hello" and echoed.body()["echo"] == "hello"
        with pytest.raises(ConnectionRefused):  # the pod listens on 80 only
            await source.connect("10.244.1.99", pods[1]["status"]["podIP"], 9999,
                                 hop=lambda d, p: local_hop(pool, d, p))

    run_pool(check)


def test_a_pool_keeps_each_endpoint_slice_parsed_not_whole() -> None:
    """Every pool holds every EndpointSlice of the cluster: its informer keeps what the rules
    read (the parsed slice), not the decoded object, and a slice's change still routes."""
    async def check(pool: EmulatedNodePool, pods: list[dict], client: Any) -> None:
        [informer] = [i for i in pool.factory.informers if i.kind == "EndpointSlice"]
        [cached] = informer.lister.list()
        assert "endpoints" not in cached and cached["metadata"]["name"] == "web-1"
        slc = await client.get("discovery.k8s.io/v1", "EndpointSlice", "web-1",
                               namespace="default")
        slc["endpoints"] = [e for e in slc["endpoints"] if e["nodeName"] == "n2"]
        await client.update(slc)
        source = pool.networks["n1"]

        async def only_n2() -> bool:
            replies = [await source.connect("10.244.1.99", "10.96.0.50", 8000,
                                            hop=lambda d, p: local_hop(pool, d, p))
                       for _ in range(10)]
            return {r.pod for r in replies} == {"web-2"}

        await eventually(only_n2, what="the Service routed to the one endpoint left")

    run_pool(check)


def test_link_faults_cut_links_between_nodes_but_not_within_one() -> None:
    async def check(pool: EmulatedNodePool, pods: list[dict], client: Any) -> None:
        ip = {p["spec"]["nodeName"]: p["status"]["podIP"] for p in pods}

        def dial(node: str):
            return dial_from_n1(pool, ip[node])

        pool.pods.links.partition("zone-a", "zone-b")
        with pytest.raises(ConnectionTimeout, match="partition"):
            await dial("n2")
        assert (await dial("n3")).node == "n3"
        assert (await dial("n1")).node == "n1"  # within the node: no link to cut
        pool.pods.links.heal()
        pool.pods.links.latency("zone-a", "zone-c", 0.25)
        loop = asyncio.get_running_loop()
        began = loop.time()
        assert (await dial("n3")).node == "n3"
        assert loop.time() - began == pytest.approx(0.5)  # there and back
        pool.pods.links.heal()
        assert (await dial("n2")).node == "n2"

    run_pool(check)


def test_other_nodes_pods_are_watched_only_once_a_network_policy_exists() -> None:
    async def check(pool: EmulatedNodePool, pods: list[dict], client: Any) -> None:
        ip = {p["metadata"]["name"]: p["status"]["podIP"] for p in pods}

        def dial(name: str):
            return dial_from_n1(pool, ip[name])

        assert (await dial("web-2")).pod == "web-2"
        assert not pool.pods.watching_pods and pool.pods.policy.pod("default", "web-2") is None
        await client.create({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "deny-web-2", "namespace": "default"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                     "policyTypes": ["Ingress"]}}, namespace="default")

        async def denied() -> bool:
            try:
                await dial("web-2")
            except ConnectionTimeout as exc:
                return "network policy" in str(exc)
            return False

        await eventually(denied, what="ingress to web-2 denied by the new policy")
        assert pool.pods.watching_pods
        assert pool.pods.policy.pod("default", "web-3") is not None
        with pytest.raises(ConnectionTimeout, match="network policy"):
            await dial("web-3")
        assert (await dial("web-1")).pod == "web-1"  # from its own node: always allowed

    run_pool(check)
