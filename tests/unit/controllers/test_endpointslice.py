"""EndpointSliceController against the real in-process API server, in virtual time.

No kubelet or scheduler runs: tests create Nodes (zone label, allocatable CPU, Ready) and
pods bound to them with a podIP and a Ready condition by hand (tests/.../endpointkit.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.endpointslice import EndpointSliceController
from kubemu.cluster.controllers.events import EventRecorder
from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.endpointkit import (
    NS, endpoints_of, node, pod, service, set_pod, slices)

SEL = {"app": "web"}


@asynccontextmanager
async def running(kube: Kube, **options: int) -> AsyncIterator[EndpointSliceController]:
    factory = InformerFactory(kube.client, kube.timing)
    recorder = EventRecorder(kube.client, kube.timing, component="endpoint-slice-controller")
    ctl = EndpointSliceController(kube.client, kube.timing, factory=factory,
                                  recorder=recorder, **options)
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
        items = await slices(kube, name)
        return items if check(items) else None
    return eventually(probe, what=f"slices of {name}")


def test_slice_follows_ready_unready_and_terminating_pods() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            svc = await service(kube, selector=SEL)
            await pod(kube, "p1", "10.244.0.1")
            await pod(kube, "p2", "10.244.0.2", ready=False)
            items = await when(kube, lambda s: len(endpoints_of(s)) == 2)
            assert len(items) == 1
            s = items[0]
            md = s["metadata"]
            assert md["generateName"] == "web-"
            assert md["labels"] == {"kubernetes.io/service-name": "web",
                                    "endpointslice.kubernetes.io/managed-by":
                                        "endpointslice-controller.k8s.io"}
            assert md["ownerReferences"] == [{
                "apiVersion": "v1", "kind": "Service", "name": "web",
                "uid": svc["metadata"]["uid"], "controller": True,
                "blockOwnerDeletion": True}]
            assert s["addressType"] == "IPv4"
            assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
            eps = endpoints_of(items)
            p1 = await kube.client.get("v1", "Pod", "p1", namespace=NS)
            assert eps["p1"] == {
                "addresses": ["10.244.0.1"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": "n1", "zone": "a",
                "targetRef": {"kind": "Pod", "namespace": NS, "name": "p1",
                              "uid": p1["metadata"]["uid"]}}
            assert eps["p2"]["conditions"] == {"ready": False, "serving": False,
                                               "terminating": False}
            name = s["metadata"]["name"]
            await set_pod(kube, "p2", ready=True)
            await when(kube, lambda s: endpoints_of(s)["p2"]["conditions"]["ready"])
            await kube.client.delete("v1", "Pod", "p1", namespace=NS, grace_period_seconds=30)
            items = await when(kube, lambda s: endpoints_of(s)["p1"]["conditions"][
                "terminating"])
            assert endpoints_of(items)["p1"]["conditions"] == {
                "ready": False, "serving": True, "terminating": True}
            await set_pod(kube, "p2", ready=True, phase="Succeeded")
            items = await when(kube, lambda s: "p2" not in endpoints_of(s))
            assert [s["metadata"]["name"] for s in items] == [name]  # updated in place

    vtime.run(main)


def test_named_target_port_resolves_per_pod_and_groups_slices_by_port_set() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            await service(kube, selector=SEL,
                          ports=[{"name": "web", "port": 80, "targetPort": "http"}])
            await pod(kube, "p1", "10.244.0.1", ports=[{"name": "http", "containerPort": 8080}])
            await pod(kube, "p2", "10.244.0.2", ports=[{"name": "http", "containerPort": 9090}])
            await pod(kube, "p3", "10.244.0.3", ports=[{"name": "http", "containerPort": 8080}])
            items = await when(kube, lambda s: len(endpoints_of(s)) == 3)
            by_port = {s["ports"][0]["port"]: sorted(endpoints_of([s])) for s in items}
            assert by_port == {8080: ["p1", "p3"], 9090: ["p2"]}
            assert all(s["ports"][0]["name"] == "web" for s in items)

    vtime.run(main)


def test_250_endpoints_make_three_slices_of_at_most_100() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            await service(kube, selector=SEL)
            for i in range(250):
                await pod(kube, f"p{i:03}", f"10.244.{i // 200}.{i % 200 + 1}")
            items = await when(kube, lambda s: len(endpoints_of(s)) == 250)
            assert sorted(len(s["endpoints"]) for s in items) == [50, 100, 100]
            names = {s["metadata"]["name"] for s in items}
            for i in range(240, 250):  # removing pods updates slices in place
                await kube.client.delete("v1", "Pod", f"p{i:03}", namespace=NS,
                                         grace_period_seconds=0)
            items = await when(kube, lambda s: len(endpoints_of(s)) == 240)
            assert {s["metadata"]["name"] for s in items} == names

    vtime.run(main)


def test_max_endpoints_per_slice_is_an_option() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, max_endpoints_per_slice=2):
            await node(kube, "n1", zone="a")
            await service(kube, selector=SEL)
            for i in range(5):
                await pod(kube, f"p{i}", f"10.244.0.{i + 1}")
            items = await when(kube, lambda s: len(endpoints_of(s)) == 5)
            assert sorted(len(s["endpoints"]) for s in items) == [1, 2, 2]

    vtime.run(main)


def test_publish_not_ready_addresses_marks_unready_pods_ready() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            await service(kube, selector=SEL, publishNotReadyAddresses=True)
            await pod(kube, "p1", "10.244.0.1", ready=False)
            items = await when(kube, lambda s: "p1" in endpoints_of(s))
            assert endpoints_of(items)["p1"]["conditions"] == {
                "ready": True, "serving": False, "terminating": False}

    vtime.run(main)


def test_hostname_is_set_for_pods_whose_subdomain_is_the_service() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            await service(kube, selector=SEL, clusterIP="None")
            await pod(kube, "p1", "10.244.0.1", hostname="db-0", subdomain="web")
            await pod(kube, "p2", "10.244.0.2", hostname="db-1", subdomain="other")
            items = await when(kube, lambda s: len(endpoints_of(s)) == 2)
            eps = endpoints_of(items)
            assert eps["p1"]["hostname"] == "db-0" and "hostname" not in eps["p2"]
            assert items[0]["metadata"]["labels"]["service.kubernetes.io/headless"] == ""

    vtime.run(main)


def test_selectorless_service_keeps_user_managed_slices_and_gets_none() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            await service(kube, "ext")
            await pod(kube, "p1", "10.244.0.1")
            user = await kube.client.create({
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "ext-1", "namespace": NS,
                             "labels": {"kubernetes.io/service-name": "ext"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["192.168.1.1"]}],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]})
            await service(kube, "web", selector=SEL)  # a marker that the controller ran
            await when(kube, lambda s: len(endpoints_of(s)) == 1)
            assert await slices(kube, "ext") == [user]

    vtime.run(main)


def test_service_without_pods_gets_one_placeholder_slice_reused_for_endpoints() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await node(kube, "n1", zone="a")
            await service(kube, selector=SEL)
            items = await when(kube, lambda s: len(s) == 1)
            assert items[0]["endpoints"] in (None, []) and items[0]["ports"] in (None, [])
            name = items[0]["metadata"]["name"]
            await pod(kube, "p1", "10.244.0.1")
            items = await when(kube, lambda s: len(endpoints_of(s)) == 1)
            assert [s["metadata"]["name"] for s in items] == [name]

    vtime.run(main)


AUTO = {"service.kubernetes.io/topology-mode": "Auto"}


def hinted_zones(items: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ep in endpoints_of(items).values():
        for zone in (ep.get("hints") or {}).get("forZones") or ():
            counts[zone["name"]] = counts.get(zone["name"], 0) + 1
    return counts


async def three_zones(kube: Kube) -> None:
    await node(kube, "na", zone="a", cpu="4")
    await node(kube, "nb", zone="b", cpu="4")
    await node(kube, "nc", zone="c", cpu="8")


async def _reasons(kube: Kube, reason: str) -> list[str]:
    items = (await kube.client.list("v1", "Event", namespace=NS))["items"]
    return [e["message"] for e in items if e["reason"] == reason]


async def _has(kube: Kube, reason: str, message: str) -> bool:
    return message in await _reasons(kube, reason)


def test_auto_hints_allocate_endpoints_to_zones_by_cpu_share() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await three_zones(kube)
            await service(kube, selector=SEL, annotations=AUTO)
            placement = ["na"] * 3 + ["nb"] * 3 + ["nc"] * 2
            for i, where in enumerate(placement):
                await pod(kube, f"p{i}", f"10.244.0.{i + 1}", node_name=where)
            items = await when(kube, lambda s: sum(hinted_zones(s).values()) == 8)
            # shares 1/4, 1/4, 1/2 of 8 endpoints: zone c receives one from a and one from b
            assert hinted_zones(items) == {"a": 2, "b": 2, "c": 4}
            eps = endpoints_of(items)
            assert all(len(ep["hints"]["forZones"]) == 1 for ep in eps.values())
            assert sum(ep["hints"]["forZones"][0]["name"] != ep["zone"]
                       for ep in eps.values()) == 2
            enabled = await eventually(
                lambda: _reasons(kube, "TopologyAwareHintsEnabled"), what="enabled event")
            assert enabled == ["Topology Aware Hints has been enabled, addressType: IPv4"]
            # unsafe: a pod gone below the minimum count per zone -> hints removed
            for i in range(8):
                if i > 1:
                    await kube.client.delete("v1", "Pod", f"p{i}", namespace=NS,
                                             grace_period_seconds=0)
            items = await when(kube, lambda s: len(endpoints_of(s)) == 2)
            assert hinted_zones(items) == {}
            expected = ("Insufficient number of endpoints (2 endpoints, 3 zones), "
                        "addressType: IPv4")
            await eventually(lambda: _has(kube, "TopologyAwareHintsDisabled", expected),
                             what="disabled event")

    vtime.run(main)


def test_auto_hints_are_not_set_when_a_node_lacks_a_zone() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await three_zones(kube)
            await node(kube, "nx", cpu="4")
            await service(kube, selector=SEL, annotations=AUTO)
            for i, where in enumerate(["na", "nb", "nc", "nc"]):
                await pod(kube, f"p{i}", f"10.244.0.{i + 1}", node_name=where)
            items = await when(kube, lambda s: len(endpoints_of(s)) == 4)
            assert hinted_zones(items) == {}
            await kube.client.delete("v1", "Node", "nx")  # now enough node information
            items = await when(kube, lambda s: sum(hinted_zones(s).values()) == 4)
            assert hinted_zones(items) == {"a": 1, "b": 1, "c": 2}

    vtime.run(main)


def test_prefer_close_hints_each_ready_endpoint_for_its_own_zone() -> None:
    async def main() -> None:
        async with api() as kube, running(kube):
            await three_zones(kube)
            await service(kube, selector=SEL, trafficDistribution="PreferClose")
            await pod(kube, "p0", "10.244.0.1", node_name="na")
            await pod(kube, "p1", "10.244.0.2", node_name="nc")
            await pod(kube, "p2", "10.244.0.3", node_name="nc", ready=False)
            items = await when(kube, lambda s: len(endpoints_of(s)) == 3)
            eps = endpoints_of(items)
            assert eps["p0"]["hints"] == {"forZones": [{"name": "a"}]}
            assert eps["p1"]["hints"] == {"forZones": [{"name": "c"}]}
            assert "hints" not in eps["p2"]
            svc = await kube.client.get("v1", "Service", "web", namespace=NS)
            del svc["spec"]["trafficDistribution"]
            await kube.client.update(svc)
            items = await when(kube, lambda s: not hinted_zones(s))
            assert len(endpoints_of(items)) == 3

    vtime.run(main)
