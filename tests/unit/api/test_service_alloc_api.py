"""Service ClusterIP and NodePort allocation through the API: picks, user choices, conflicts,
headless and ExternalName, type changes, release on delete, markers surviving restarts."""

from __future__ import annotations

import asyncio
import ipaddress
import random

import orjson
import pytest
from kubemu.cluster.api.errors import Invalid
from kubemu.cluster.api.ipalloc import IP_PREFIX, PORT_PREFIX, ServiceAllocator, Taken
from kubemu.cluster.api.server import ApiServer
from kubemu.cluster.store import prefix_end

from .conftest import TOKEN

SVCS = "/api/v1/namespaces/default/services"


def svc(name: str = "web", **spec) -> dict:
    body = {"selector": {"app": name}, "ports": [{"port": 80}], **spec}
    return {"metadata": {"name": name}, "spec": body}


async def create(api, body: dict, expect: int = 201) -> dict:
    return await api.json("POST", SVCS, body, expect=expect)


async def markers(store) -> tuple[set[str], set[int]]:
    out = []
    for prefix in (IP_PREFIX, PORT_PREFIX):
        kvs = (await store.request({"op": "range", "key": prefix,
                                    "range_end": prefix_end(prefix)}))["kvs"]
        out.append({kv["key"][len(prefix):] for kv in kvs})
    return out[0], {int(p) for p in out[1]}


def in_cidr(ip: str) -> bool:
    return ipaddress.IPv4Address(ip) in ipaddress.IPv4Network("10.96.0.0/12")


async def test_kubernetes_service_holds_the_first_ip_through_the_allocator(api):
    got = await api.json("GET", f"{SVCS}/kubernetes")
    assert got["spec"]["clusterIP"] == "10.96.0.1"
    ips, _ = await markers(api.store)
    assert ips == {"10.96.0.1"}


async def test_services_get_distinct_ips_from_the_service_cidr_and_mirrored_fields(api):
    seen = set()
    for i in range(20):
        spec = (await create(api, svc(f"s{i}")))["spec"]
        ip = spec["clusterIP"]
        assert in_cidr(ip) and ip not in ("10.96.0.0", "10.111.255.255", "10.96.0.10")
        assert (spec["clusterIPs"], spec["ipFamilies"], spec["ipFamilyPolicy"]) == (
            [ip], ["IPv4"], "SingleStack")
        seen.add(ip)
    assert len(seen) == 20
    ips, _ = await markers(api.store)
    assert ips == seen | {"10.96.0.1"}


@pytest.mark.parametrize("ip, message", [
    pytest.param("10.96.0.1", 'spec.clusterIPs: Invalid value: ["10.96.0.1"]: failed to '
                 "allocate IP 10.96.0.1: provided IP is already allocated", id="taken"),
    pytest.param("10.200.0.5", 'spec.clusterIPs: Invalid value: ["10.200.0.5"]: failed to '
                 "allocate IP 10.200.0.5: the provided IP (10.200.0.5) is not in the valid "
                 "range. The range of valid IPs is 10.96.0.0/12", id="out-of-range"),
    pytest.param("10.111.255.255", "is not in the valid range", id="broadcast"),
])
async def test_unavailable_user_chosen_ip_is_422(api, ip, message):
    status = await create(api, svc(clusterIP=ip), expect=422)
    assert status["reason"] == "Invalid" and message in status["message"]
    assert (await api.call("GET", f"{SVCS}/web")).status == 404


async def test_user_chosen_ip_is_honoured_and_freed_on_delete(api):
    assert (await create(api, svc(clusterIP="10.96.0.10")))["spec"]["clusterIP"] == \
        "10.96.0.10"
    await create(api, svc("other", clusterIP="10.96.0.10"), expect=422)
    await api.json("DELETE", f"{SVCS}/web")
    assert "10.96.0.10" not in (await markers(api.store))[0]
    assert (await create(api, svc("other", clusterIP="10.96.0.10")))["spec"]["clusterIP"] \
        == "10.96.0.10"


@pytest.mark.parametrize("body", [
    pytest.param(svc(clusterIP="None"), id="headless"),
    pytest.param({"metadata": {"name": "web"},
                  "spec": {"type": "ExternalName", "externalName": "example.com"}},
                 id="external-name"),
])
async def test_headless_and_external_name_services_allocate_nothing(api, body):
    before = await markers(api.store)
    await create(api, body)
    assert await markers(api.store) == before


async def test_node_ports_per_port_user_chosen_honoured_and_conflicts_422(api):
    ports = [{"name": "a", "port": 80, "nodePort": 30080}, {"name": "b", "port": 81}]
    spec = (await create(api, svc(type="NodePort", ports=ports)))["spec"]
    got = [p["nodePort"] for p in spec["ports"]]
    assert got[0] == 30080 and 30000 <= got[1] <= 32767 and got[1] != 30080
    assert (await markers(api.store))[1] == set(got)
    status = await create(api, svc("other", type="NodePort",
                                   ports=[{"port": 80, "nodePort": 30080}]), expect=422)
    assert "spec.ports[0].nodePort: Invalid value: 30080: provided port is already " \
        "allocated" in status["message"]


async def test_load_balancer_local_gets_health_check_node_port(api):
    spec = (await create(api, svc(type="LoadBalancer",
                                  externalTrafficPolicy="Local")))["spec"]
    health = spec["healthCheckNodePort"]
    assert 30000 <= health <= 32767 and health != spec["ports"][0]["nodePort"]
    assert (await markers(api.store))[1] == {health, spec["ports"][0]["nodePort"]}


async def test_type_changes_allocate_and_release(api):
    created = await create(api, svc())
    ip = created["spec"]["clusterIP"]
    np = await api.json("PATCH", f"{SVCS}/web", {"spec": {"type": "NodePort"}},
                        headers={"content-type": "application/merge-patch+json"})
    port = np["spec"]["ports"][0]["nodePort"]
    assert np["spec"]["clusterIP"] == ip and (await markers(api.store))[1] == {port}
    back = await api.json("PATCH", f"{SVCS}/web", {"spec": {"type": "ClusterIP"}},
                          headers={"content-type": "application/merge-patch+json"})
    assert "nodePort" not in back["spec"]["ports"][0]
    assert (await markers(api.store))[1] == set()
    ext = await api.json("PATCH", f"{SVCS}/web", {"spec": {
        "type": "ExternalName", "externalName": "example.com", "selector": None}},
        headers={"content-type": "application/merge-patch+json"})
    assert "clusterIP" not in ext["spec"]
    assert ip not in (await markers(api.store))[0]


async def test_put_without_allocated_values_keeps_them(api):
    created = await create(api, svc(type="NodePort"))
    body = svc(type="NodePort")
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    updated = await api.json("PUT", f"{SVCS}/web", body)
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]
    assert updated["spec"]["ports"][0]["nodePort"] == created["spec"]["ports"][0]["nodePort"]


async def test_changing_a_node_port_releases_the_old_one(api):
    created = await create(api, svc(type="NodePort", ports=[{"port": 80, "nodePort": 30001}]))
    created["spec"]["ports"][0]["nodePort"] = 30002
    await api.json("PUT", f"{SVCS}/web", created)
    assert (await markers(api.store))[1] == {30002}


async def test_dry_run_allocates_nothing(api):
    got = await api.json("POST", SVCS, svc(type="NodePort"), query={"dryRun": "All"},
                         expect=201)
    assert in_cidr(got["spec"]["clusterIP"])
    assert await markers(api.store) == ({"10.96.0.1"}, set())


async def test_restarted_server_sees_allocations_and_repairs_markers(api):
    await create(api, svc(clusterIP="10.96.0.50"))
    # a stale marker (its Service gone) and a missing one (a Service without its marker)
    await api.store.request({"op": "put", "key": IP_PREFIX + "10.96.0.77", "value": b"{}"})
    await api.store.request({"op": "delete_range", "key": IP_PREFIX + "10.96.0.50"})
    server = ApiServer(api.store, token=TOKEN, wall_clock=lambda: api.now,
                       rng=random.Random(7))
    await server.start()
    try:
        api.server = server
        assert (await markers(api.store))[0] == {"10.96.0.1", "10.96.0.50"}
        await create(api, svc("again", clusterIP="10.96.0.50"), expect=422)
        assert (await create(api, svc("freed", clusterIP="10.96.0.77")))["spec"][
            "clusterIP"] == "10.96.0.77"
    finally:
        await server.stop()


@pytest.mark.parametrize("have, band, want", [
    pytest.param(set(), True, False, id="random-picks-avoid-the-static-band"),
    pytest.param({f"{p}" for p in range(30086, 32768)}, True, True,
                 id="band-used-once-the-rest-is-full"),
])
def test_node_port_picks_prefer_the_upper_range(have, band, want):
    alloc = ServiceAllocator(rng=random.Random(1))
    taken = Taken(ports={int(p) for p in have})
    for _ in range(20):
        body = svc(type="NodePort")
        plan = alloc.plan(body, None, Taken(ips={"10.96.0.1"}, ports=set(taken.ports)))
        port = body["spec"]["ports"][0]["nodePort"]
        assert plan.claim_ports == [port]
        assert (port < 30086) == want


def test_whole_range_taken_is_422_range_full():
    alloc = ServiceAllocator(service_cidr="10.0.0.0/29", rng=random.Random(1))
    used = {f"10.0.0.{i}" for i in range(1, 7)}
    with pytest.raises(Invalid, match="range is full"):
        alloc.plan(svc(), None, Taken(ips=used))
    assert orjson.dumps(alloc.first_ip) == b'"10.0.0.1"'


async def test_concurrent_creates_fill_a_small_port_range_without_duplicates(api):
    server = ApiServer(api.store, token=TOKEN, wall_clock=lambda: api.now,
                       rng=random.Random(3), node_port_range=(30000, 30019))
    await server.start()
    try:
        api.server = server
        made = await asyncio.gather(*(create(api, svc(f"s{i}", type="NodePort"))
                                      for i in range(20)))
        ports = {m["spec"]["ports"][0]["nodePort"] for m in made}
        assert ports == set(range(30000, 30020))
        status = await create(api, svc("full", type="NodePort"), expect=422)
        assert "range is full" in status["message"]
    finally:
        await server.stop()
