"""LoadBalancerController: ingress IPs from 127.2.0.0/16, distinct, kept across restarts,
freed on delete and type change; IPPool's round robin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from kubemu.cluster.controllers.loadbalancer import (
    IPPool,
    LoadBalancerController,
    PoolExhausted,
)

from tests import vtime
from tests.kube import Kube, api, eventually
from tests.unit.controllers.nodekit import events


def _svc(name: str, stype: str = "LoadBalancer", **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": stype, "selector": {"app": name}, "ports": [{"port": 80}],
                     **spec}}


async def _ingress(kube: Kube, name: str) -> list[dict]:
    svc = await kube.client.get("v1", "Service", name, namespace="default")
    return ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []


async def _ips(kube: Kube, *names: str) -> dict[str, str] | None:
    found = {}
    for name in names:
        ingress = await _ingress(kube, name)
        if not ingress:
            return None
        found[name] = ingress[0]["ip"]
    return found


Make = Callable[[], LoadBalancerController]


def _run(body: Callable[[Kube, Make], Awaitable[None]], *, pool: str = "127.2.0.0/16") -> None:
    async def main() -> None:
        async with api() as kube:
            await body(kube, lambda: LoadBalancerController(kube.client, kube.timing,
                                                            pool=pool))

    vtime.run(main)


def test_load_balancers_get_distinct_vip_ingress_ips_and_events() -> None:
    async def body(kube: Kube, make: Make) -> None:
        ctl = make()
        task = asyncio.create_task(ctl.run())
        for name in ("a", "b", "c"):
            await kube.client.create(_svc(name))
        await kube.client.create(_svc("plain", "ClusterIP"))
        got = await eventually(lambda: _ips(kube, "a", "b", "c"), timeout=10)
        assert sorted(got.values()) == ["127.2.0.1", "127.2.0.2", "127.2.0.3"]
        assert (await _ingress(kube, "a"))[0]["ipMode"] == "VIP"
        assert await eventually(lambda: events(kube, "a", "EnsuredLoadBalancer"), timeout=10)
        assert await events(kube, "a", "EnsuringLoadBalancer")
        assert await _ingress(kube, "plain") == []
        await ctl.stop()
        await task

    _run(body)


def test_delete_and_type_change_free_the_address() -> None:
    async def body(kube: Kube, make: Make) -> None:
        ctl = make()
        task = asyncio.create_task(ctl.run())
        await kube.client.create(_svc("a"))
        await kube.client.create(_svc("b"))
        await eventually(lambda: _ips(kube, "a", "b"), timeout=10)
        await kube.client.patch("v1", "Service", "a", {"spec": {"type": "ClusterIP"}},
                                namespace="default")

        async def cleared() -> bool:
            return await _ingress(kube, "a") == []
        await eventually(cleared, timeout=10, what="ingress cleared on type change")
        await kube.client.delete("v1", "Service", "b", namespace="default")
        await eventually(lambda: ctl.pool.used == 0, timeout=10, what="addresses freed")
        await ctl.stop()
        await task

    _run(body)


def test_restarted_controller_keeps_addresses_services_hold() -> None:
    async def body(kube: Kube, make: Make) -> None:
        first = make()
        task = asyncio.create_task(first.run())
        await kube.client.create(_svc("a"))
        await kube.client.create(_svc("b"))
        before = await eventually(lambda: _ips(kube, "a", "b"), timeout=10)
        await first.stop()
        await task
        second = make()
        task = asyncio.create_task(second.run())
        await kube.client.create(_svc("c"))
        after = await eventually(lambda: _ips(kube, "a", "b", "c"), timeout=10)
        assert {k: after[k] for k in ("a", "b")} == before
        assert after["c"] not in before.values()
        await second.stop()
        await task

    _run(body)


def test_requested_load_balancer_ip_is_honoured_and_classes_are_skipped() -> None:
    async def body(kube: Kube, make: Make) -> None:
        ctl = make()
        task = asyncio.create_task(ctl.run())
        await kube.client.create(_svc("a", loadBalancerIP="127.2.9.9"))
        await kube.client.create(_svc("other", loadBalancerClass="example.com/lb"))
        assert await eventually(lambda: _ips(kube, "a"), timeout=10) == {"a": "127.2.9.9"}
        await asyncio.sleep(5)
        assert await _ingress(kube, "other") == []
        await ctl.stop()
        await task

    _run(body)


@pytest.mark.parametrize("cidr, taken, want", [
    pytest.param("127.2.0.0/30", [], ["127.2.0.1", "127.2.0.2"], id="skips-network-broadcast"),
    pytest.param("127.2.0.0/29", ["127.2.0.2"], ["127.2.0.1", "127.2.0.3"],
                 id="skips-occupied"),
])
def test_ip_pool_round_robin(cidr: str, taken: list[str], want: list[str]) -> None:
    pool = IPPool(cidr)
    for ip in taken:
        assert pool.occupy(ip)
    assert [pool.allocate_next() for _ in want] == want


def test_ip_pool_exhausted_and_release_wraps() -> None:
    pool = IPPool("127.2.0.0/30")
    a, b = pool.allocate_next(), pool.allocate_next()
    with pytest.raises(PoolExhausted):
        pool.allocate_next()
    pool.release(a)
    assert pool.allocate_next() == a and not pool.occupy(b) and not pool.occupy("10.0.0.1")
