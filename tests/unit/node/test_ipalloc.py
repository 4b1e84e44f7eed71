"""Pod IPs from the node's podCIDR: skip network, gateway and broadcast; reuse freed last."""

from __future__ import annotations

import pytest

from kubemu.cluster.node.ipalloc import IPExhausted, PodIPAllocator


def test_first_addresses_skip_network_and_gateway() -> None:
    alloc = PodIPAllocator("10.244.3.0/24")
    assert [alloc.allocate(f"u{i}") for i in range(3)] == [
        "10.244.3.2", "10.244.3.3", "10.244.3.4"]
    assert alloc.gateway == "10.244.3.1"
    assert alloc.size == 253


def test_same_uid_keeps_its_address() -> None:
    alloc = PodIPAllocator("10.244.0.0/24")
    first = alloc.allocate("a")
    alloc.allocate("b")
    assert alloc.allocate("a") == first
    assert alloc.ip_of("a") == first
    assert len(alloc) == 2


def test_freed_addresses_are_reused_only_after_fresh_ones() -> None:
    alloc = PodIPAllocator("10.0.0.0/29")  # hosts .2 .. .6
    ips = [alloc.allocate(f"u{i}") for i in range(3)]  # .2 .3 .4
    alloc.release("u0")
    assert alloc.allocate("x") == "10.0.0.5"
    assert alloc.allocate("y") == "10.0.0.6"
    assert alloc.allocate("z") == ips[0]  # the freed one, last


def test_exhausted_cidr_raises_and_never_hands_out_broadcast() -> None:
    alloc = PodIPAllocator("10.0.0.0/30")  # .0 network, .1 gateway, .3 broadcast
    assert alloc.allocate("a") == "10.0.0.2"
    with pytest.raises(IPExhausted, match="no IP addresses available"):
        alloc.allocate("b")


@pytest.mark.parametrize("ip, ok", [
    pytest.param("10.244.1.7", True, id="inside"),
    pytest.param("10.244.2.7", False, id="other-cidr"),
    pytest.param("10.244.1.1", False, id="gateway"),
    pytest.param("10.244.1.255", False, id="broadcast"),
    pytest.param("not-an-ip", False, id="garbage"),
])
def test_reserve_accepts_only_pod_addresses_of_the_cidr(ip: str, ok: bool) -> None:
    alloc = PodIPAllocator("10.244.1.0/24")
    assert alloc.reserve("u", ip) is ok


def test_reserved_address_is_skipped_by_fresh_allocation() -> None:
    alloc = PodIPAllocator("10.244.1.0/24")
    assert alloc.reserve("old", "10.244.1.3")
    assert not alloc.reserve("other", "10.244.1.3")
    assert [alloc.allocate("a"), alloc.allocate("b")] == ["10.244.1.2", "10.244.1.4"]
    alloc.release("old")
    alloc.release("old")  # twice is harmless
    assert alloc.ip_of("old") is None
