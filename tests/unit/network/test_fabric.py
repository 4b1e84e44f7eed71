"""The in-process overlay: connections through kube-proxy rules, NetworkPolicy and link
faults to the pod that answers, which the reply names."""

from __future__ import annotations

import asyncio
import collections
import random

import pytest

from kubemu.network.fabric import (ConnectionRefused, ConnectionTimeout, Fabric, NodeNet,
                                   PodEndpoint)
from kubemu.network.links import LinkFaults
from kubemu.network.policy import PolicyEngine
from kubemu.network.proxy import ProxyRules
from tests import vtime
from tests.unit.network.proxykit import CLUSTER_IP, endpoint, endpoint_slice, service

ZONES = {"n1": "a", "n2": "b", "n3": "c"}
BACKENDS = {"10.244.1.2": "n1", "10.244.2.2": "n2", "10.244.3.2": "n3"}
CLIENT_IP = "10.244.1.9"


def cluster(*, policy: PolicyEngine | None = None, links: LinkFaults | None = None,
            endpoints: dict[str, str] = BACKENDS) -> Fabric:
    fabric = Fabric(policy=policy, links=links, rng=random.Random(5))
    for name, zone in ZONES.items():
        rules = ProxyRules(name, zone, rng=random.Random(name))
        rules.update_service(service())
        rules.update_slice(endpoint_slice(endpoints=[
            endpoint(ip, node, ZONES[node], pod=f"web-{node}")
            for ip, node in endpoints.items()]))
        fabric.add_node(NodeNet(name=name, zone=zone, rules=rules))
    for ip, node in BACKENDS.items():
        fabric.add_pod(node, PodEndpoint(ip=ip, namespace="default", name=f"web-{node}",
                                         ports=frozenset({8080})))
    fabric.add_pod("n1", PodEndpoint(ip=CLIENT_IP, namespace="default", name="client",
                                     listening=False))
    return fabric


def connect(fabric: Fabric, dst_ip: str = CLUSTER_IP, port: int = 80):
    return fabric.connect(src_node="n1", src_ip=CLIENT_IP, dst_ip=dst_ip, port=port)


def test_a_cluster_ip_reaches_every_backend_and_the_reply_names_it() -> None:
    async def main() -> collections.Counter:
        fabric = cluster()
        replies = [await connect(fabric) for _ in range(300)]
        assert {r.service for r in replies} == {"default/web"}
        assert {r.port for r in replies} == {8080}
        return collections.Counter(r.pod for r in replies)

    served = vtime.run(main)
    assert set(served) == {"web-n1", "web-n2", "web-n3"}
    assert min(served.values()) > 60  # roughly even: random per connection


@pytest.mark.parametrize("dst_ip, port, error", [
    pytest.param("10.244.2.2", 9999, ConnectionRefused, id="pod-port-not-listening"),
    pytest.param(CLIENT_IP, 80, ConnectionRefused, id="pod-that-is-no-server"),
    pytest.param("10.244.7.7", 80, ConnectionTimeout, id="unknown-ip"),
])
def test_failures_look_like_tcp_failures(dst_ip, port, error) -> None:
    async def main() -> None:
        with pytest.raises(error):
            await connect(cluster(), dst_ip, port)

    vtime.run(main)


def test_a_service_without_endpoints_refuses() -> None:
    async def main() -> None:
        with pytest.raises(ConnectionRefused, match="has no endpoints"):
            await connect(cluster(endpoints={}))

    vtime.run(main)


def test_a_partition_and_latency_between_zones() -> None:
    async def main() -> None:
        links = LinkFaults()
        fabric = cluster(links=links)
        direct = lambda ip: fabric.connect(src_node="n1", src_ip=CLIENT_IP,  # noqa: E731
                                           dst_ip=ip, port=8080)
        links.latency("a", "b", 0.05)
        loop = asyncio.get_running_loop()
        start = loop.time()
        reply = await direct("10.244.2.2")
        assert reply.node == "n2" and loop.time() - start == pytest.approx(0.1)
        links.partition("a", "c")
        with pytest.raises(ConnectionTimeout, match="partition"):
            await direct("10.244.3.2")
        assert (await direct("10.244.1.2")).node == "n1"  # same node: no link
        links.heal()
        assert (await direct("10.244.3.2")).node == "n3"

    vtime.run(main)


def test_network_policy_default_deny_then_allow_by_label() -> None:
    async def main() -> None:
        policy = PolicyEngine()
        for ip, node in [*BACKENDS.items(), (CLIENT_IP, "n1")]:
            name = "client" if ip == CLIENT_IP else f"web-{node}"
            policy.update_pod({"metadata": {"name": name, "namespace": "default",
                                            "labels": {"app": name.split("-")[0]}},
                               "spec": {"nodeName": node}, "status": {"podIP": ip}})
        fabric = cluster(policy=policy)
        policy.update_policy({"metadata": {"name": "deny", "namespace": "default"},
                              "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                                       "policyTypes": ["Ingress"]}})
        with pytest.raises(ConnectionTimeout, match="network policy"):
            await connect(fabric)
        policy.update_policy({"metadata": {"name": "allow", "namespace": "default"},
                              "spec": {"podSelector": {"matchLabels": {"app": "web"}},
                                       "ingress": [{"from": [{"podSelector": {
                                           "matchLabels": {"app": "client"}}}]}]}})
        assert (await connect(fabric)).service == "default/web"

    vtime.run(main)


def test_link_faults_are_active_only_while_a_fault_is_set() -> None:
    faults = LinkFaults()
    assert not faults.active
    for set_fault in (lambda: faults.partition("zone-a", "zone-b"),
                      lambda: faults.latency("zone-a", "zone-b", 0.05),
                      lambda: faults.loss("zone-a", "zone-b", 0.1)):
        set_fault()
        assert faults.active
        faults.heal()
        assert not faults.active
