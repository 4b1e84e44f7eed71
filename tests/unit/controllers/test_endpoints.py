"""EndpointsController (legacy v1 Endpoints) against the in-process API server in virtual
time, plus its pure subset packing and truncation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.endpoints import (
    EndpointsController, repack_subsets, truncate_subsets)
from kubemu.cluster.controllers.events import EventRecorder
from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.endpointkit import (
    NS, endpoints_object, node, pod, service, set_pod)

SEL = {"app": "web"}


@asynccontextmanager
async def running(kube: Kube) -> AsyncIterator[EndpointsController]:
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="endpoint-controller")
    ctl = EndpointsController(kube.client, kube.timing, factory=factory, recorder=recorder)
    tasks = [asyncio.create_task(ctl.run()), asyncio.create_task(recorder.run())]
    factory.start()
    try:
        yield ctl
    finally:
        await ctl.stop()
        await factory.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def when(kube: Kube, check, name: str = "web"):
    async def probe():
        ep = await endpoints_object(kube, name)
        return ep if ep is not None and check(ep) else None
    return eventually(probe, what=f"endpoints {name}")


def ips(ep: dict, field: str = "addresses") -> list[str]:
    return [a["ip"] for s in ep.get("subsets") or () for a in s.get(field) or ()]


def test_endpoints_subsets_split_ready_and_not_ready_addresses() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1")
            await service(kube, selector=SEL,
                          ports=[{"name": "http", "port": 80, "targetPort": "http"}])
            await pod(kube, "p1", "10.244.0.1")
            await pod(kube, "p2", "10.244.0.2", ready=False)
            ep = await when(kube, lambda e: len(ips(e)) + len(ips(e, "notReadyAddresses")) == 2)
            p1 = await kube.client.get("v1", "Pod", "p1", namespace=NS)
            assert ep["subsets"] == [{
                "addresses": [{"ip": "10.244.0.1", "nodeName": "n1", "targetRef": {
                    "kind": "Pod", "namespace": NS, "name": "p1",
                    "uid": p1["metadata"]["uid"]}}],
                "notReadyAddresses": [{"ip": "10.244.0.2", "nodeName": "n1", "targetRef": {
                    "kind": "Pod", "namespace": NS, "name": "p2",
                    "uid": ep["subsets"][0]["notReadyAddresses"][0]["targetRef"]["uid"]}}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
            assert ep["metadata"]["labels"] == {
                "endpointslice.kubernetes.io/skip-mirror": "true"}
            await set_pod(kube, "p2", ready=True)
            await when(kube, lambda e: ips(e) == ["10.244.0.1", "10.244.0.2"])
            await kube.client.delete("v1", "Pod", "p1", namespace=NS, grace_period_seconds=30)
            await when(kube, lambda e: ips(e) == ["10.244.0.2"])  # terminating leaves
            await kube.client.delete("v1", "Service", "web", namespace=NS)

            async def gone() -> bool:
                return await endpoints_object(kube) is None
            await eventually(gone, what="endpoints deleted with the service")

    vtime.run(main)


def test_selectorless_service_endpoints_are_left_to_the_user() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await service(kube, "ext")
            user = await kube.client.create({
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "ext", "namespace": NS},
                "subsets": [{"addresses": [{"ip": "192.168.1.1"}],
                             "ports": [{"port": 80, "protocol": "TCP"}]}]})
            await service(kube, "web", selector=SEL)
            await when(kube, lambda e: True)
            assert await endpoints_object(kube, "ext") == user

    vtime.run(main)


def addr(ip: str) -> dict:
    return {"ip": ip, "targetRef": {"kind": "Pod", "name": ip, "uid": ip}}


@pytest.mark.parametrize("ready,not_ready,kept_ready,kept_not_ready", [
    pytest.param(600, 600, 600, 400, id="not-ready-cut-first"),
    pytest.param(1200, 10, 1000, 0, id="ready-cut-and-not-ready-dropped"),
    pytest.param(500, 500, 500, 500, id="at-capacity-untouched"),
])
def test_truncation_keeps_ready_addresses_first(ready: int, not_ready: int, kept_ready: int,
                                                 kept_not_ready: int) -> None:
    port = [{"port": 80, "protocol": "TCP"}]
    subsets = [{"addresses": [addr(f"10.0.{i // 250}.{i % 250}") for i in range(ready)],
                "notReadyAddresses": [addr(f"10.1.{i // 250}.{i % 250}")
                                      for i in range(not_ready)],
                "ports": port}]
    cut = truncate_subsets(subsets)
    assert cut == (ready + not_ready > 1000)
    assert sum(len(s.get("addresses") or ()) for s in subsets) == kept_ready
    assert sum(len(s.get("notReadyAddresses") or ()) for s in subsets) == kept_not_ready


def test_repack_merges_equal_port_sets_and_ready_wins() -> None:
    port = [{"name": "http", "port": 80, "protocol": "TCP"}]
    other = [{"name": "http", "port": 81, "protocol": "TCP"}]
    subsets = repack_subsets([
        {"addresses": [addr("10.0.0.2")], "ports": port},
        {"notReadyAddresses": [addr("10.0.0.2")], "ports": port},
        {"notReadyAddresses": [addr("10.0.0.1")], "ports": port},
        {"addresses": [addr("10.0.0.3")], "ports": other}])
    assert subsets == [
        {"addresses": [addr("10.0.0.2")], "notReadyAddresses": [addr("10.0.0.1")],
         "ports": port},
        {"addresses": [addr("10.0.0.3")], "ports": other}]
