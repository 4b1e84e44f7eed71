"""The placement planner: store replicas spread over Ray nodes, node actors round-robin or one
zone per host (actors/placement.py). Pure: host ids and counts in, an assignment out."""

from __future__ import annotations

import pytest

from kubemu.actors import placement
from kubemu.actors.placement import plan, pools_by_zone, spread, store_strategy, zone_hosts


@pytest.mark.parametrize("replicas, hosts, strategy", [
    pytest.param(3, 1, "", id="one-host-no-group"),
    pytest.param(3, 2, "SPREAD", id="fewer-hosts-than-replicas"),
    pytest.param(3, 3, "STRICT_SPREAD", id="a-host-per-replica"),
    pytest.param(5, 7, "STRICT_SPREAD", id="more-hosts-than-replicas"),
    pytest.param(5, 3, "SPREAD", id="five-on-three"),
    pytest.param(1, 3, "", id="one-replica"),
])
def test_store_replicas_spread_over_distinct_hosts_when_there_are_enough(replicas, hosts,
                                                                         strategy):
    assert store_strategy(replicas, hosts) == strategy


def test_node_actors_are_dealt_round_robin():
    assert spread(5, ["a", "b"]) == ["a", "b", "a", "b", "a"]


@pytest.mark.parametrize("zones, hosts, expected", [
    pytest.param(["zone-a", "zone-b", "zone-c"], ["h1", "h2", "h3"],
                 {"zone-a": "h1", "zone-b": "h2", "zone-c": "h3"}, id="one-zone-per-host"),
    pytest.param(["zone-a", "zone-b", "zone-c"], ["h1", "h2"],
                 {"zone-a": "h1", "zone-b": "h2", "zone-c": "h1"}, id="more-zones-wrap"),
    pytest.param(["zone-b", "zone-a"], ["h1", "h2", "h3"],
                 {"zone-a": "h1", "zone-b": "h2"}, id="zones-in-sorted-order"),
])
def test_zone_i_goes_to_host_i_mod_hosts(zones, hosts, expected):
    assert zone_hosts(zones, hosts) == expected


def test_zone_per_host_puts_every_node_of_a_zone_on_its_host():
    zones = ["zone-a", "zone-b", "zone-c"] * 4
    placed = plan(["h1", "h2", "h3"], store_replicas=3, actor_zones=zones,
                  zone_per_host=True)
    assert placed.store == "STRICT_SPREAD"
    assert {(z, h) for z, h in zip(zones, placed.actors)} == {
        ("zone-a", "h1"), ("zone-b", "h2"), ("zone-c", "h3")}


def test_without_zone_per_host_nodes_spread_evenly():
    placed = plan(["h1", "h2"], store_replicas=3, actor_zones=["zone-a"] * 4)
    assert placed.actors == ["h1", "h2", "h1", "h2"]
    assert placed.store == "SPREAD"


def test_a_plan_needs_a_host():
    with pytest.raises(ValueError, match="no Ray node"):
        plan([], store_replicas=3, actor_zones=[])


def test_pools_never_straddle_zones():
    nodes = [{"name": f"n{i}", "zone": f"zone-{'abc'[i % 3]}"} for i in range(7)]
    pools = pools_by_zone(nodes, 2)
    assert [[n["name"] for n in p] for p in pools] == [
        ["n0", "n3"], ["n6"], ["n1", "n4"], ["n2", "n5"]]
    assert all(len({n["zone"] for n in p}) == 1 for p in pools)


@pytest.mark.parametrize(("nodes", "hosts", "size", "actors"), [
    pytest.param(6, 1, 1, 6, id="small-cluster-one-actor-per-node"),
    pytest.param(20, 1, 1, 20, id="twenty-still-one-each"),
    pytest.param(21, 1, 11, 2, id="pools-start-at-21-two-per-host"),
    pytest.param(100, 1, 50, 2, id="hundred-on-one-host-two-pools"),
    pytest.param(100, 4, 13, 8, id="hundred-on-four-hosts-two-pools-each"),
    pytest.param(1000, 1, 100, 10, id="thousand-in-pools-of-100"),
    pytest.param(1000, 10, 50, 20, id="thousand-on-ten-hosts"),
])
def test_automatic_pool_size(nodes, hosts, size, actors):
    assert placement.pool_size(nodes, hosts) == size
    assert -(-nodes // size) == actors
