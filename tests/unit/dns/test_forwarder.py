"""Forwarder: aiodns against a tiny upstream on 127.0.0.1 ("127.0.0.1:<port>", which c-ares
accepts): answers and rcodes as the resolver expects them, TTL-honouring positive and
negative caching on a manual clock, LRU eviction, shared in-flight queries, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from dnslib import RCODE
from kubemu.cluster.clock import ManualClock
from kubemu.dns.forwarder import Forwarder, UpstreamRR
from kubemu.dns.metrics import DnsMetrics

from tests.unit.dns.upstream import Canned, Upstream

ZONE = {
    ("a.example.", "A"): Canned(answers=["a.example. 60 A 192.0.2.1", "a.example. 30 A 192.0.2.2"]),
    ("six.example.", "AAAA"): Canned(answers=["six.example. 60 AAAA 2001:db8::1"]),
    ("www.example.", "A"): Canned(answers=["www.example. 300 CNAME a.example.",
                                           "a.example. 60 A 192.0.2.1"]),
    ("_h._tcp.example.", "SRV"): Canned(answers=["_h._tcp.example. 60 SRV 1 2 80 a.example."]),
    ("t.example.", "TXT"): Canned(answers=['t.example. 60 TXT "hello world"']),
    ("m.example.", "MX"): Canned(answers=["m.example. 60 MX 10 mail.example."]),
    ("1.2.0.192.in-addr.arpa.", "PTR"): Canned(answers=[
        "1.2.0.192.in-addr.arpa. 60 PTR a.example."]),
    ("zero.example.", "A"): Canned(answers=["zero.example. 0 A 192.0.2.9"]),
    ("broken.example.", "A"): Canned(rcode=RCODE.SERVFAIL),
    ("closed.example.", "A"): Canned(rcode=RCODE.REFUSED),
}


def run(test: Callable[[Forwarder, Upstream, ManualClock, DnsMetrics], Awaitable[None]],
        **options) -> None:
    """Runs `test` with an upstream, a forwarder pointed at it, a manual clock and metrics."""
    async def main() -> None:
        upstream = Upstream(ZONE)
        server = await upstream.start()
        clock, metrics = ManualClock(), DnsMetrics()
        forwarder = Forwarder([server], clock=clock, metrics=metrics, timeout=1.0, tries=1,
                              **options)
        try:
            await asyncio.wait_for(test(forwarder, upstream, clock, metrics), 20)
        finally:
            await forwarder.close()
            upstream.close()
    asyncio.run(main())


def plain(records) -> list[tuple]:
    return [(r.name, r.rtype, r.data) for r in records]


@pytest.mark.parametrize(("name", "rtype", "want"), [
    pytest.param("a.example", "A", [("a.example.", "A", "192.0.2.1"),
                                    ("a.example.", "A", "192.0.2.2")], id="a-two-records"),
    pytest.param("SIX.Example.", "AAAA", [("six.example.", "AAAA", "2001:db8::1")],
                 id="aaaa-any-case-with-dot"),
    pytest.param("www.example", "A", [("www.example.", "CNAME", "a.example."),
                                      ("a.example.", "A", "192.0.2.1")], id="cname-chain-kept"),
    pytest.param("_h._tcp.example", "SRV", [("_h._tcp.example.", "SRV",
                                             (1, 2, 80, "a.example."))], id="srv"),
    pytest.param("t.example", "TXT", [("t.example.", "TXT", "hello world")], id="txt"),
    pytest.param("m.example", "MX", [("m.example.", "MX", (10, "mail.example."))], id="mx"),
    pytest.param("1.2.0.192.in-addr.arpa.", "PTR",
                 [("1.2.0.192.in-addr.arpa.", "PTR", "a.example.")], id="reverse-ptr"),
])
def test_upstream_records_come_back_as_rrs_with_noerror(name, rtype, want) -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics) -> None:
        records, rcode = await fwd.resolve(name, rtype)
        assert rcode == 0
        assert plain(records) == want
        assert all(isinstance(r, UpstreamRR) and r.ttl > 0 for r in records)
    run(test)


@pytest.mark.parametrize(("name", "rtype", "want"), [
    pytest.param("nowhere.example", "A", ([], 3), id="nxdomain-empty-with-rcode-3"),
    pytest.param("six.example", "A", ([], 0), id="nodata-empty-with-noerror"),
    pytest.param("broken.example", "A", (None, 2), id="upstream-servfail-is-failure"),
    pytest.param("closed.example", "A", (None, 5), id="upstream-refused-passes-through"),
    pytest.param("a.example", "CAA", (None, 4), id="type-without-rr-form-is-notimp"),
])
def test_denials_and_failures_map_to_the_rcode_the_resolver_expects(name, rtype, want) -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics) -> None:
        assert await fwd.resolve(name, rtype) == want
    run(test)


def test_unreachable_upstream_is_servfail_not_an_exception() -> None:
    async def main() -> None:
        up = Upstream()
        server = await up.start()
        up.close()  # nothing listens there any more: c-ares sees a refused port or a timeout
        fwd = Forwarder([server], timeout=0.2, tries=1)
        try:
            assert await asyncio.wait_for(fwd.resolve("a.example", "A"), 10) == (None, 2)
            assert not fwd.cached("a.example", "A")
        finally:
            await fwd.close()
    asyncio.run(main())


def test_positive_answer_is_cached_for_its_smallest_ttl_and_counts_down() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock: ManualClock, metrics) -> None:
        first, _ = await fwd.resolve("a.example", "A")
        assert {r.ttl for r in first} == {30}          # the smaller TTL of the answer
        clock.advance(10)
        again, _ = await fwd.resolve("A.EXAMPLE.", "A")
        assert plain(again) == plain(first) and {r.ttl for r in again} == {20}
        assert up.queries[("a.example.", "A")] == 1
        clock.advance(19)
        assert fwd.cached("a.example", "A")
        clock.advance(2)
        assert not fwd.cached("a.example", "A")
        hits = metrics.registry.get_sample_value("kubemu_dns_cache_hits_total",
                                                 {"type": "success"})
        assert hits == 1
        assert metrics.registry.get_sample_value("kubemu_dns_cache_misses_total") == 1
    run(test)


def test_expired_entry_is_asked_upstream_again_and_ttl_zero_lives_min_ttl() -> None:
    # TTL 0 answers are not kept by c-ares's own cache, so every miss reaches the upstream.
    async def test(fwd: Forwarder, up: Upstream, clock: ManualClock, metrics) -> None:
        records, _ = await fwd.resolve("zero.example", "A")
        assert [r.ttl for r in records] == [5]
        await fwd.resolve("zero.example", "A")
        assert up.queries[("zero.example.", "A")] == 1
        clock.advance(5.5)
        await fwd.resolve("zero.example", "A")
        assert up.queries[("zero.example.", "A")] == 2
    run(test, min_ttl=5)


def test_nxdomain_is_cached_for_the_negative_ttl_and_counted_as_denial() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock: ManualClock, metrics) -> None:
        assert await fwd.resolve("gone.example", "A") == ([], 3)
        clock.advance(9)
        assert await fwd.resolve("gone.example", "A") == ([], 3)
        assert up.queries[("gone.example.", "A")] == 1
        clock.advance(2)
        assert await fwd.resolve("gone.example", "A") == ([], 3)
        assert up.queries[("gone.example.", "A")] == 2
        assert metrics.registry.get_sample_value("kubemu_dns_cache_hits_total",
                                                 {"type": "denial"}) == 1
    run(test, negative_ttl=10)


def test_failures_are_not_cached() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics) -> None:
        assert await fwd.resolve("broken.example", "A") == (None, 2)
        assert not fwd.cached("broken.example", "A")
        assert fwd.entries == 0
    run(test)


def test_cache_evicts_the_least_recently_used_entry_beyond_its_size() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics) -> None:
        await fwd.resolve("a.example", "A")
        await fwd.resolve("six.example", "AAAA")
        await fwd.resolve("a.example", "A")            # a is now the most recently used
        await fwd.resolve("t.example", "TXT")          # evicts six
        assert fwd.entries == 2
        assert fwd.cached("a.example", "A") and fwd.cached("t.example", "TXT")
        assert not fwd.cached("six.example", "AAAA")
        assert metrics.registry.get_sample_value("kubemu_dns_cache_entries") == 2
    run(test, cache_size=2)


def test_concurrent_misses_for_one_name_share_one_upstream_query() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics) -> None:
        release = up.hold("a.example.")
        waiters = [asyncio.ensure_future(fwd.resolve("a.example", "A")) for _ in range(5)]
        await up.asked("a.example.")
        release.set()
        results = await asyncio.gather(*waiters)
        assert all(plain(r[0]) == plain(results[0][0]) and r[1] == 0 for r in results)
        assert up.queries[("a.example.", "A")] == 1
    run(test)


def test_a_cancelled_caller_does_not_cancel_the_shared_query() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics) -> None:
        release = up.hold("a.example.")
        first = asyncio.ensure_future(fwd.resolve("a.example", "A"))
        second = asyncio.ensure_future(fwd.resolve("a.example", "A"))
        await up.asked("a.example.")
        first.cancel()
        release.set()
        records, rcode = await second
        assert rcode == 0 and len(records) == 2
    run(test)


def test_forward_metrics_count_upstream_answers_by_rcode() -> None:
    async def test(fwd: Forwarder, up: Upstream, clock, metrics: DnsMetrics) -> None:
        await fwd.resolve("a.example", "A")
        await fwd.resolve("nowhere.example", "A")
        get = metrics.registry.get_sample_value
        assert get("kubemu_dns_forward_responses_total", {"rcode": "NOERROR"}) == 1
        assert get("kubemu_dns_forward_responses_total", {"rcode": "NXDOMAIN"}) == 1
        assert get("kubemu_dns_forward_duration_seconds_count") == 2
    run(test)
