"""DnsServer over real sockets on 127.0.0.1: the real Records + Resolver behind it, queries
built with dnslib and made by aiodns, TCP pipelining, idle timeout, bad frames, UDP garbage,
forwarding through the Forwarder to a tiny upstream, overload, failures and metrics.
Some tests run on uvloop too (the production loop of Ray actors)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiodns
import pytest
import uvloop
from dnslib import QTYPE, RCODE, DNSRecord
from kubemu.dns.forwarder import Forwarder
from kubemu.dns.metrics import DnsMetrics, query_type, response_code
from kubemu.dns.records import Records
from kubemu.dns.resolver import Resolver
from kubemu.dns.server import DnsServer

from tests.unit.dns.upstream import Canned, Upstream

DEADLINE = 10.0
UPSTREAM = {("a.example.", "A"): Canned(answers=["a.example. 60 A 192.0.2.1"])}
LOOPS = [pytest.param(asyncio.new_event_loop, id="asyncio"),
         pytest.param(uvloop.new_event_loop, id="uvloop")]


def records() -> Records:
    table = Records()
    table.update_service({"metadata": {"name": "web", "namespace": "default"},
                          "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.5",
                                   "clusterIPs": ["10.96.0.5"],
                                   "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    table.update_service({"metadata": {"name": "ext", "namespace": "default"},
                          "spec": {"type": "ExternalName", "externalName": "a.example"}})
    table.update_service({"metadata": {"name": "big", "namespace": "default"},
                          "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": []}})
    table.update_slice({"metadata": {"name": "big-1", "namespace": "default",
                                     "labels": {"kubernetes.io/service-name": "big"}},
                        "addressType": "IPv4", "ports": [],
                        "endpoints": [{"addresses": [f"10.244.1.{i}"],
                                       "conditions": {"ready": True}} for i in range(1, 101)]})
    return table


@contextlib.asynccontextmanager
async def cluster_dns(*, resolver=None, forward: bool = True,
                      **options) -> AsyncIterator[tuple[DnsServer, Upstream, DnsMetrics]]:
    """A started DnsServer on an ephemeral port, forwarding to a tiny upstream."""
    upstream = Upstream(UPSTREAM)
    address = await upstream.start()
    metrics = DnsMetrics()
    forwarder = Forwarder([address], metrics=metrics, timeout=1.0, tries=1) if forward else None
    server = DnsServer(resolver or Resolver(records()), port=0, forwarder=forwarder,
                       metrics=metrics, **options)
    await server.start()
    try:
        yield server, upstream, metrics
    finally:
        await server.close()
        if forwarder is not None:
            await forwarder.close()
        upstream.close()


def run(main: Callable[[], Awaitable[None]], loop_factory=asyncio.new_event_loop) -> None:
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(asyncio.wait_for(main(), 30))


def query(name: str, rtype: str = "A", *, qid: int | None = None) -> bytes:
    q = DNSRecord.question(name, rtype)
    if qid is not None:
        q.header.id = qid
    return q.pack()


class UdpClient(asyncio.DatagramProtocol):
    """A UDP socket connected to the server; responses queue up in arrival order."""

    def __init__(self) -> None:
        self.responses: asyncio.Queue[bytes] = asyncio.Queue()

    @classmethod
    async def to(cls, server: DnsServer) -> tuple[asyncio.DatagramTransport, UdpClient]:
        loop = asyncio.get_running_loop()
        return await loop.create_datagram_endpoint(cls, remote_addr=server.address)

    def datagram_received(self, data: bytes, addr) -> None:
        self.responses.put_nowait(data)

    async def next(self) -> DNSRecord:
        return DNSRecord.parse(await asyncio.wait_for(self.responses.get(), DEADLINE))


async def ask_udp(server: DnsServer, data: bytes) -> DNSRecord:
    transport, client = await UdpClient.to(server)
    try:
        transport.sendto(data)
        return await client.next()
    finally:
        transport.close()


async def read_frame(reader: asyncio.StreamReader) -> DNSRecord:
    size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), DEADLINE), "big")
    return DNSRecord.parse(await asyncio.wait_for(reader.readexactly(size), DEADLINE))


def frame(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def addresses(msg: DNSRecord, rtype: str = "A") -> list[str]:
    return sorted(str(rr.rdata) for rr in msg.rr if QTYPE[rr.rtype] == rtype)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_udp_query_is_answered_from_the_record_table(loop_factory) -> None:
    async def main() -> None:
        async with cluster_dns() as (server, _, _):
            answer = await ask_udp(server, query("Web.Default.svc.cluster.local", qid=4242))
            assert answer.header.id == 4242 and answer.header.aa
            assert addresses(answer) == ["10.96.0.5"]
    run(main, loop_factory)


def test_aiodns_resolves_through_the_server_over_udp() -> None:
    async def main() -> None:
        async with cluster_dns() as (server, _, _):
            client = aiodns.DNSResolver([f"127.0.0.1:{server.port}"], timeout=2, tries=1)
            try:
                found = await client.query_dns("web.default.svc.cluster.local", "A")
                assert [r.data.addr for r in found.answer] == ["10.96.0.5"]
                srv = await client.query_dns("_http._tcp.web.default.svc.cluster.local", "SRV")
                assert [(r.data.port, r.data.target) for r in srv.answer] == [
                    (80, "web.default.svc.cluster.local")]
                forwarded = await client.query_dns("a.example", "A")
                assert [r.data.addr for r in forwarded.answer] == ["192.0.2.1"]
                with pytest.raises(aiodns.error.DNSError) as missing:
                    await client.query_dns("nope.default.svc.cluster.local", "A")
                assert missing.value.args[0] == aiodns.error.ARES_ENOTFOUND
            finally:
                await client.close()
    run(main)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_tcp_serves_several_pipelined_queries_on_one_connection(loop_factory) -> None:
    async def main() -> None:
        async with cluster_dns() as (server, _, _):
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(frame(query("web.default.svc.cluster.local", qid=1))
                         + frame(query("a.example", qid=2))     # forwarded upstream
                         + frame(query("nope.default.svc.cluster.local", qid=3)))
            answers = {m.header.id: m for m in [await read_frame(reader) for _ in range(3)]}
            assert addresses(answers[1]) == ["10.96.0.5"]
            assert addresses(answers[2]) == ["192.0.2.1"]
            assert answers[3].header.rcode == RCODE.NXDOMAIN
            writer.write(frame(query("web.default.svc.cluster.local", qid=4)))
            assert (await read_frame(reader)).header.id == 4    # the connection stays open
            writer.close()
    run(main, loop_factory)


def test_large_headless_answer_sets_tc_over_udp_and_comes_whole_over_tcp() -> None:
    async def main() -> None:
        async with cluster_dns() as (server, _, _):
            big = query("big.default.svc.cluster.local")
            truncated = await ask_udp(server, big)
            assert truncated.header.tc and len(truncated.rr) < 100
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(frame(big))
            whole = await read_frame(reader)
            assert not whole.header.tc and len(addresses(whole)) == 100
            writer.close()
    run(main)


def test_idle_tcp_connection_is_closed_after_the_timeout() -> None:
    async def main() -> None:
        async with cluster_dns(tcp_idle_timeout=0.2) as (server, _, _):
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(frame(query("web.default.svc.cluster.local", qid=9)))
            assert (await read_frame(reader)).header.id == 9
            assert await asyncio.wait_for(reader.read(), DEADLINE) == b""   # EOF: closed
            writer.close()
    run(main)


@pytest.mark.parametrize("garbage", [
    pytest.param(b"\x00\x00", id="zero-length-frame"),
    pytest.param(b"\xff\xff" + bytes(100), id="oversized-frame"),
    pytest.param(frame(b"hello"), id="message-shorter-than-a-header"),
    pytest.param(b"\x00\x40" + bytes(10), id="frame-cut-short-then-idle"),
])
def test_bad_tcp_input_closes_that_connection_and_the_next_client_is_served(garbage) -> None:
    async def main() -> None:
        async with cluster_dns(tcp_idle_timeout=0.5) as (server, _, _):
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(garbage)
            assert await asyncio.wait_for(reader.read(), DEADLINE) == b""
            writer.close()
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(frame(query("web.default.svc.cluster.local", qid=7)))
            assert addresses(await read_frame(reader)) == ["10.96.0.5"]
            writer.close()
    run(main)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_udp_garbage_never_stops_the_server(loop_factory) -> None:
    async def main() -> None:
        rng = random.Random(8)
        good = query("web.default.svc.cluster.local")
        async with cluster_dns() as (server, _, metrics):
            transport, client = await UdpClient.to(server)
            junk = [b"", b"\x00", bytes(11), good[:20], good[:12] + b"\xc0\x0c" * 8]
            junk += [rng.randbytes(rng.randrange(1, 600)) for _ in range(300)]
            for datagram in junk:
                transport.sendto(datagram)
            transport.sendto(query("web.default.svc.cluster.local", qid=31337))
            while (answer := await client.next()).header.id != 31337:
                pass    # FORMERR and friends for the junk that had a header
            assert addresses(answer) == ["10.96.0.5"]
            dropped = metrics.registry.get_sample_value(
                "kubemu_dns_dropped_total", {"proto": "udp", "reason": "malformed"})
            assert dropped >= 3
            transport.close()
    run(main, loop_factory)


def test_slow_upstream_does_not_delay_other_udp_queries() -> None:
    async def main() -> None:
        async with cluster_dns() as (server, upstream, _):
            release = upstream.hold("a.example.")
            transport, client = await UdpClient.to(server)
            transport.sendto(query("a.example", qid=1))
            await upstream.asked("a.example.")
            transport.sendto(query("web.default.svc.cluster.local", qid=2))
            assert (await client.next()).header.id == 2
            release.set()
            forwarded = await client.next()
            assert forwarded.header.id == 1 and addresses(forwarded) == ["192.0.2.1"]
            transport.close()
    run(main)


def test_external_name_answers_its_cname_and_the_upstream_address() -> None:
    async def main() -> None:
        async with cluster_dns() as (server, _, _):
            answer = await ask_udp(server, query("ext.default.svc.cluster.local"))
            assert [str(rr.rdata) for rr in answer.rr if rr.rtype == QTYPE.CNAME] == [
                "a.example."]
            assert addresses(answer) == ["192.0.2.1"]
    run(main)


@pytest.mark.parametrize(("options", "rcode"), [
    pytest.param({"forward": False}, RCODE.SERVFAIL, id="no-forwarder-servfail"),
    pytest.param({"max_forwards": 0}, RCODE.REFUSED, id="over-the-limit-refused"),
])
def test_forwards_the_server_cannot_take_get_an_immediate_error(options, rcode) -> None:
    async def main() -> None:
        async with cluster_dns(**options) as (server, upstream, _):
            answer = await ask_udp(server, query("a.example"))
            assert answer.header.rcode == rcode and not answer.rr
            assert upstream.queries[("a.example.", "A")] == 0
    run(main)


class Exploding:
    """A stand-in resolver that fails on every query."""

    def answer(self, query: bytes, *, tcp: bool = False):
        raise RuntimeError("boom")

    def forwarded(self, forward, upstream, rcode):
        raise RuntimeError("boom")


def test_resolver_exception_answers_servfail_over_udp_and_tcp() -> None:
    async def main() -> None:
        async with cluster_dns(resolver=Exploding()) as (server, _, _):
            answer = await ask_udp(server, query("web.default.svc.cluster.local", qid=77))
            assert (answer.header.id, answer.header.rcode) == (77, RCODE.SERVFAIL)
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(frame(query("web.default.svc.cluster.local", qid=78)))
            answer = await read_frame(reader)
            assert (answer.header.id, answer.header.rcode) == (78, RCODE.SERVFAIL)
            writer.close()
    run(main)


def test_metrics_count_queries_by_type_and_rcode_and_render_as_text() -> None:
    async def main() -> None:
        async with cluster_dns() as (server, _, metrics):
            await ask_udp(server, query("web.default.svc.cluster.local"))
            await ask_udp(server, query("_http._tcp.web.default.svc.cluster.local", "SRV"))
            await ask_udp(server, query("nope.default.svc.cluster.local"))
            await ask_udp(server, query("a.example"))
            text = metrics.render().decode()
            assert 'kubemu_dns_requests_total{proto="udp",type="A"} 3.0' in text
            assert 'kubemu_dns_requests_total{proto="udp",type="SRV"} 1.0' in text
            assert 'kubemu_dns_responses_total{proto="udp",rcode="NOERROR"} 3.0' in text
            assert 'kubemu_dns_responses_total{proto="udp",rcode="NXDOMAIN"} 1.0' in text
            assert 'kubemu_dns_request_duration_seconds_count{proto="udp"} 4.0' in text
            assert "kubemu_dns_cache_misses_total 1.0" in text
    run(main)


def test_port_zero_binds_udp_and_tcp_on_one_port_and_close_frees_it() -> None:
    async def main() -> None:
        server = DnsServer(Resolver(records()), port=0)
        host, port = await server.start()
        assert port != 0 and server.address == (host, port)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(frame(query("web.default.svc.cluster.local", qid=5)))
        assert (await read_frame(reader)).header.id == 5
        assert addresses(await ask_udp(server, query("web.default.svc.cluster.local"))) == [
            "10.96.0.5"]
        await server.close()
        assert await asyncio.wait_for(reader.read(), DEADLINE) == b""  # connection closed
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection(host, port)
    run(main)


@pytest.mark.parametrize(("data", "want"), [
    pytest.param(query("web.default.svc.cluster.local", "SRV"), "SRV", id="srv"),
    pytest.param(query("x.example", "AAAA"), "AAAA", id="aaaa"),
    pytest.param(query("x.example", "NULL"), "other", id="unlisted-type-is-other"),
    pytest.param(query("x.example")[:-3], "other", id="cut-before-the-type"),
    pytest.param(query("x.example")[:12], "other", id="header-only"),
    pytest.param(b"\x00" * 4 + b"\x00\x01" + bytes(6) + b"\xc0\x0c\x00\x10", "TXT",
                 id="compression-pointer-name"),
    pytest.param(b"", "other", id="empty"),
])
def test_metrics_read_the_question_type_from_the_wire(data: bytes, want: str) -> None:
    assert query_type(data) == want


def test_metrics_read_the_rcode_from_the_header() -> None:
    reply = DNSRecord.question("x.example").reply()
    reply.header.rcode = RCODE.NXDOMAIN
    assert response_code(reply.pack()) == "NXDOMAIN"
    assert response_code(b"\x00") == "other"


def test_each_metrics_object_has_its_own_registry() -> None:
    first, second = DnsMetrics(), DnsMetrics()
    first.answered("udp", "A", "NOERROR", 0.001)
    assert b'kubemu_dns_requests_total{proto="udp",type="A"} 1.0' in first.render()
    assert b"kubemu_dns_requests_total{" not in second.render()
