"""Kubelet with the real node controllers: IPAM gives the pod CIDR, the lifecycle controller
reads the Lease (a stopped kubelet is a dead node)."""

from __future__ import annotations

import asyncio
import ipaddress

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.controllers.manager import ControllerManager
from kubemu.cluster.node.config import NodeConfig
from tests import vtime
from tests.kube import api, eventually
from tests.unit.node.kubelet_fixtures import kubelet_running, pod


def test_pod_gets_ip_from_ipam_cidr_and_stopped_node_goes_unknown() -> None:
    async def main() -> None:
        async with api() as kube:
            kcm = ControllerManager(kube.client, kube.timing,
                                    controllers=["nodeipam", "nodelifecycle"])
            kcm_task = asyncio.create_task(kcm.run())
            async with kubelet_running(kube, NodeConfig("n1")):
                await kube.client.create(pod("web"))

                async def ip() -> str:
                    try:
                        p = await kube.client.get("v1", "Pod", "web", namespace="default")
                    except NotFound:
                        return ""
                    return (p.get("status") or {}).get("podIP", "")

                address = await eventually(ip, what="pod IP")
                node = await kube.client.get("v1", "Node", "n1")
                cidr = node["spec"]["podCIDR"]
                assert ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
                await asyncio.sleep(120)  # a live kubelet stays Ready
                assert _ready(await kube.client.get("v1", "Node", "n1")) == "True"

            async def unknown() -> bool:
                return _ready(await kube.client.get("v1", "Node", "n1")) == "Unknown"

            await eventually(unknown, timeout=90, what="Ready Unknown after the kubelet stopped")
            await kcm.stop()
            await asyncio.gather(kcm_task, return_exceptions=True)

    vtime.run(main)


def _ready(node: dict) -> str:
    return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")
