"""StubResolver against the real DnsServer on 127.0.0.1 (Records + Resolver, forwarding off):
the pod's search list picks the first candidate with records, headless answers truncate over
UDP and come whole over TCP, ExternalName chains come CNAME first, and a silent server is a
StubTimeout."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest
from kubemu.dns.records import Records
from kubemu.dns.resolvconf import pod_resolv_conf
from kubemu.dns.resolver import Resolver
from kubemu.dns.server import DnsServer
from kubemu.dns.stub import NotResolved, StubResolver, StubTimeout, split_address

from tests.unit.dns.test_server import records, run


def table() -> Records:
    table = records()  # default/web 10.96.0.5, default/ext -> a.example, default/big: 100 IPs
    table.update_service({"metadata": {"name": "web", "namespace": "other"},
                          "spec": {"clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7"],
                                   "ports": [{"port": 80, "protocol": "TCP"}]}})
    table.update_service({"metadata": {"name": "alias", "namespace": "default"},
                          "spec": {"type": "ExternalName",
                                   "externalName": "web.other.svc.cluster.local"}})
    return table


@contextlib.asynccontextmanager
async def stub() -> AsyncIterator[StubResolver]:
    server = DnsServer(Resolver(table(), forward=False), port=0)
    host, port = await server.start()
    try:
        yield StubResolver(f"{host}:{port}", timeout=2.0)
    finally:
        await server.close()


@pytest.mark.parametrize("name, namespace, want", [
    pytest.param("web", "default", "10.96.0.5", id="own-namespace-first"),
    pytest.param("web", "other", "10.96.0.7", id="other-namespace-pod"),
    pytest.param("web.other", "default", "10.96.0.7", id="svc-search-domain"),
    pytest.param("web.default.svc.cluster.local.", "other", "10.96.0.5", id="absolute"),
])
def test_a_name_resolves_through_the_pods_search_list(name, namespace, want) -> None:
    async def main() -> None:
        async with stub() as resolver:
            answer = await resolver.lookup(name, pod_resolv_conf(namespace))
            assert [rr.data for rr in answer.of_type("A")] == [want]

    run(main)


def test_a_headless_answer_truncated_over_udp_comes_whole_over_tcp() -> None:
    async def main() -> None:
        async with stub() as resolver:
            answer = await resolver.lookup("big", pod_resolv_conf("default"))
            assert len(answer.of_type("A")) == 100

    run(main)


def test_an_external_name_answers_its_cname_then_the_targets_address() -> None:
    async def main() -> None:
        async with stub() as resolver:
            answer = await resolver.lookup("alias", pod_resolv_conf("default"))
            assert [(rr.rtype, rr.data) for rr in answer.records] == [
                ("CNAME", "web.other.svc.cluster.local."), ("A", "10.96.0.7")]

    run(main)


def test_a_name_no_candidate_holds_is_not_resolved() -> None:
    async def main() -> None:
        async with stub() as resolver:
            with pytest.raises(NotResolved):
                await resolver.lookup("nope", pod_resolv_conf("default"))

    run(main)


def test_a_silent_server_is_a_stub_timeout() -> None:
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
            silent.bind(("127.0.0.1", 0))
            port = silent.getsockname()[1]
            resolver = StubResolver(f"127.0.0.1:{port}", timeout=0.2, attempts=2)
            with pytest.raises(StubTimeout):
                await asyncio.wait_for(resolver.query("web.default.svc.cluster.local."), 5)

    run(main)


@pytest.mark.parametrize("server, want", [
    pytest.param("127.0.0.1:10053", ("127.0.0.1", 10053), id="v4"),
    pytest.param("[::1]:5353", ("::1", 5353), id="v6"),
    pytest.param("10.0.0.1", ("10.0.0.1", 53), id="bare"),
])
def test_split_address(server, want) -> None:
    assert split_address(server) == want
