"""NodeIpamController: distinct pod CIDRs per node, rebuilt after restarts, released on delete;
CidrSet's round-robin allocation."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable

import pytest
from kubemu.cluster.controllers.nodeipam import (CidrExhausted, CidrSet, NodeIpamController,
                                               cluster_cidr_for)
from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.nodekit import events


async def _node(kube: Kube, name: str, cidr: str | None = None) -> None:
    node: dict = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    if cidr:
        node["spec"] = {"podCIDR": cidr, "podCIDRs": [cidr]}
    await kube.client.create(node)


async def _cidrs(kube: Kube, *names: str) -> dict[str, str] | None:
    """Each node's podCIDR once all have one (podCIDRs agreeing), else None."""
    found = {}
    for name in names:
        spec = (await kube.client.get("v1", "Node", name)).get("spec") or {}
        if not spec.get("podCIDR"):
            return None
        assert spec["podCIDRs"] == [spec["podCIDR"]]
        found[name] = spec["podCIDR"]
    return found


Make = Callable[[], NodeIpamController]


def _run(body: Callable[[Kube, Make], Awaitable[None]], *,
         cluster_cidr: str = "10.244.0.0/16") -> None:
    async def main() -> None:
        async with api() as kube:
            await body(kube, lambda: NodeIpamController(kube.client, kube.timing,
                                                        cluster_cidr=cluster_cidr))

    vtime.run(main)


async def _running(ctl: NodeIpamController) -> asyncio.Task:
    return asyncio.create_task(ctl.run())


def test_nodes_get_distinct_24s_from_the_cluster_cidr() -> None:
    async def body(kube: Kube, make: Make) -> None:
        ctl = make()
        task = await _running(ctl)
        for name in ("n0", "n1", "n2"):
            await _node(kube, name)
        got = await eventually(lambda: _cidrs(kube, "n0", "n1", "n2"), timeout=10)
        assert sorted(got.values()) == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
        await ctl.stop()
        await task

    _run(body)


def test_restarted_controller_never_reuses_blocks_nodes_hold() -> None:
    async def body(kube: Kube, make: Make) -> None:
        await _node(kube, "old-a", "10.244.0.0/24")
        await _node(kube, "old-b", "10.244.1.0/24")
        await _node(kube, "new")
        ctl = make()
        task = await _running(ctl)
        got = await eventually(lambda: _cidrs(kube, "new"), timeout=10)
        assert got == {"new": "10.244.2.0/24"}
        await ctl.stop()
        await task

    _run(body)


def test_exhausted_range_waits_and_reuses_the_block_of_a_deleted_node() -> None:
    async def body(kube: Kube, make: Make) -> None:
        ctl = make()
        task = await _running(ctl)
        await _node(kube, "a")
        await _node(kube, "b")
        got = await eventually(lambda: _cidrs(kube, "a", "b"), timeout=10)
        await _node(kube, "c")
        found = await eventually(lambda: events(kube, "c", "CIDRNotAvailable"), timeout=10)
        assert found[0]["message"] == "Node c status is now: CIDRNotAvailable"
        assert await _cidrs(kube, "c") is None
        await kube.client.delete("v1", "Node", "a")
        assert await eventually(lambda: _cidrs(kube, "c"), timeout=10) == {"c": got["a"]}
        await ctl.stop()
        await task

    _run(body, cluster_cidr="10.244.0.0/23")


@pytest.mark.parametrize("cluster,mask,first", [
    pytest.param("10.244.0.0/16", 24, ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"],
                 id="default"),
    pytest.param("10.0.0.0/8", 20, ["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"],
                 id="slash-20"),
])
def test_cidr_set_allocates_in_order(cluster: str, mask: int, first: list[str]) -> None:
    cidrs = CidrSet(cluster, mask)
    assert [cidrs.allocate_next() for _ in first] == first


def test_cidr_set_round_robin_occupy_release_and_exhaustion() -> None:
    cidrs = CidrSet("10.244.0.0/22", 24)
    cidrs.occupy("10.244.1.0/24")
    assert cidrs.allocate_next() == "10.244.0.0/24"
    assert cidrs.allocate_next() == "10.244.2.0/24"
    cidrs.release("10.244.0.0/24")
    assert cidrs.allocate_next() == "10.244.3.0/24"  # round robin: the freed one comes later
    assert cidrs.allocate_next() == "10.244.0.0/24"
    with pytest.raises(CidrExhausted):
        cidrs.allocate_next()
    with pytest.raises(ValueError):
        cidrs.occupy("10.245.0.0/24")


@pytest.mark.parametrize("cluster,mask", [
    pytest.param("10.244.0.0/16", 15, id="node-mask-wider-than-cluster"),
    pytest.param("10.0.0.0/8", 26, id="too-many-blocks"),
])
def test_cidr_set_rejects_bad_masks(cluster: str, mask: int) -> None:
    with pytest.raises(ValueError):
        CidrSet(cluster, mask)


@pytest.mark.parametrize(("nodes", "cidr"), [
    pytest.param(6, "10.244.0.0/16", id="kubeadm-default"),
    pytest.param(256, "10.244.0.0/16", id="a-24-each-still-fits"),
    pytest.param(257, "10.240.0.0/12", id="wider"),
    pytest.param(1000, "10.240.0.0/12", id="thousand"),
])
def test_a_cluster_gets_a_cluster_cidr_with_a_24_for_every_node(nodes: int, cidr: str) -> None:
    assert cluster_cidr_for(nodes) == cidr
    blocks = CidrSet(cidr, 24)
    given = {blocks.allocate_next() for _ in range(nodes)}
    assert len(given) == nodes
    services = ipaddress.ip_network("10.96.0.0/12")
    assert not ipaddress.ip_network(cidr).overlaps(services)
