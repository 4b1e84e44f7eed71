"""KubeProxy: Service and EndpointSlice changes through the real API reach the node's rules."""

from __future__ import annotations

import asyncio
import random

from kubemu.network.kubeproxy import KubeProxy
from kubemu.network.proxy import Drop, Route
from tests import vtime
from tests.kube import api, eventually


def service(ip: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": ip, "selector": {"app": "web"},
                     "ports": [{"port": 80, "targetPort": 8080}]}}


def endpoint_slice(ips: list[str]) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"port": 8080, "protocol": "TCP", "name": ""}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                           "nodeName": "n2"} for ip in ips]}


def test_service_and_slice_changes_program_the_rules() -> None:
    async def main() -> None:
        async with api() as kube:
            await kube.client.create({"apiVersion": "v1", "kind": "Node", "metadata": {
                "name": "n1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}})
            proxy = KubeProxy(kube.client, kube.timing, "n1", rng=random.Random(1))
            task = asyncio.create_task(proxy.run())
            await eventually(lambda: proxy.synced(0), what="informers synced")

            def route() -> Route | Drop | None:
                return proxy.rules.route("10.96.7.7", 80, src_ip="10.244.0.5",
                                         now=kube.timing.clock.now())

            assert route() is None  # not a Service address yet
            await kube.client.create(service("10.96.7.7"), namespace="default")
            got = await eventually(lambda: isinstance(route(), Drop) and route(),
                                   what="a Service without endpoints rejects")
            assert got.reason == "REJECT"
            version = proxy.rules.version
            await kube.client.create(endpoint_slice(["10.244.1.4"]), namespace="default")
            got = await eventually(lambda: isinstance(route(), Route) and route(),
                                   what="routed to the endpoint")
            assert (got.pod_ip, got.port, got.node_name) == ("10.244.1.4", 8080, "n2")
            assert proxy.programmed_at(version + 1) is not None
            await kube.client.delete("v1", "Service", "web", namespace="default")
            await eventually(lambda: route() is None, what="rules removed")
            await proxy.stop()
            await asyncio.wait_for(task, 10)

    vtime.run(main)
