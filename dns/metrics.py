"""Prometheus metrics of the cluster DNS server, named like CoreDNS's under `kubemu_dns_`.

CoreDNS exports `coredns_dns_requests_total`, `coredns_dns_responses_total`,
`coredns_dns_request_duration_seconds` and `coredns_cache_{hits,misses}_total`; kubemu keeps
the same shapes under its own prefix so dashboards translate one to one:

- `kubemu_dns_requests_total{proto,type}`: queries received, by transport (udp|tcp) and
  question type (A, AAAA, SRV, ...; `other` for types outside a fixed set, so a client
  cannot blow up the label space).
- `kubemu_dns_responses_total{proto,rcode}`: responses sent, by rcode name (NOERROR,
  NXDOMAIN, SERVFAIL, ...).
- `kubemu_dns_request_duration_seconds{proto}`: time from receiving a query to sending its
  answer (forwarded ones included); CoreDNS's buckets (0.25 ms doubling to ~8 s).
- `kubemu_dns_dropped_total{proto,reason}`: queries that got no answer (`malformed`: not
  even a header; `oversized`/`empty`: a bad TCP frame; `error`: an internal failure).
- `kubemu_dns_cache_hits_total{type}` (success|denial), `kubemu_dns_cache_misses_total`,
  `kubemu_dns_cache_entries`: the forwarder's cache.
- `kubemu_dns_forward_responses_total{rcode}`, `kubemu_dns_forward_duration_seconds`: the
  upstream queries the forwarder made.

Every `DnsMetrics` owns its own `CollectorRegistry` unless one is given, so several servers
in one process (tests, a node pool) never collide on the global registry. The hot path only
bumps plain dict counters and histogram bucket counts (a fraction of a microsecond; a
prometheus-client child costs ~5 us per query, more than answering it); `DnsMetrics` is a
custom collector that turns them into metric families when scraped. Single-threaded: the
server's event loop is the only writer. `query_type` and `response_code` read the labels
from the wire bytes without parsing the whole message.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE", "RCODE_NAMES", "DnsMetrics", "query_type", "response_code"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
"""The Content-Type of `DnsMetrics.render()` for the HTTP endpoint."""

RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH",
               10: "NOTZONE"}

_QTYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
                28: "AAAA", 33: "SRV", 35: "NAPTR", 64: "SVCB", 65: "HTTPS", 255: "ANY",
                257: "CAA"}
_BUCKETS = tuple(0.00025 * 2 ** i for i in range(16))


class DnsMetrics:
    """The DNS server's counters and histograms, rendered in the Prometheus text format."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._responses: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._dropped: defaultdict[tuple[str, str], int] = defaultdict(int)
        self._durations: dict[str, _Histogram] = {}
        self._hits: defaultdict[str, int] = defaultdict(int)
        self._misses = 0
        self._entries = 0
        self._forwards: defaultdict[str, int] = defaultdict(int)
        self._forward_duration = _Histogram()
        self.registry.register(self)

    def answered(self, proto: str, qtype: str, rcode: str, seconds: float) -> None:
        """One query answered: its transport, question type, response rcode and latency."""
        self._requests[proto, qtype] += 1
        self._responses[proto, rcode] += 1
        histogram = self._durations.get(proto)
        if histogram is None:
            histogram = self._durations[proto] = _Histogram()
        histogram.observe(seconds)

    def dropped(self, proto: str, qtype: str, reason: str) -> None:
        """One query received and left without an answer (`reason` says why)."""
        self._requests[proto, qtype] += 1
        self._dropped[proto, reason] += 1

    def cache_hit(self, kind: str) -> None:
        """A forwarder cache hit; `kind` is `success` or `denial` (NXDOMAIN/NODATA)."""
        self._hits[kind] += 1

    def cache_miss(self) -> None:
        self._misses += 1

    def cache_entries(self, count: int) -> None:
        self._entries = count

    def forwarded(self, rcode: str, seconds: float) -> None:
        """One upstream query finished with `rcode` after `seconds`."""
        self._forwards[rcode] += 1
        self._forward_duration.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (serve with `CONTENT_TYPE`)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        """The metric families (the prometheus-client collector protocol)."""
        yield _counter("kubemu_dns_requests", "DNS queries received.", ["proto", "type"],
                       self._requests)
        yield _counter("kubemu_dns_responses", "DNS responses sent.", ["proto", "rcode"],
                       self._responses)
        duration = HistogramMetricFamily("kubemu_dns_request_duration_seconds",
                                         "Time from a query's arrival to its answer.",
                                         labels=["proto"])
        for proto, histogram in sorted(self._durations.items()):
            duration.add_metric([proto], histogram.buckets(), histogram.total)
        yield duration
        yield _counter("kubemu_dns_dropped", "DNS queries left unanswered.",
                       ["proto", "reason"], self._dropped)
        yield _counter("kubemu_dns_cache_hits", "Forwarder cache hits.", ["type"],
                       {(k,): v for k, v in self._hits.items()})
        yield CounterMetricFamily("kubemu_dns_cache_misses", "Forwarder cache misses.",
                                  value=self._misses)
        yield GaugeMetricFamily("kubemu_dns_cache_entries", "Forwarder cache entries.",
                                value=self._entries)
        yield _counter("kubemu_dns_forward_responses", "Upstream answers by rcode.", ["rcode"],
                       {(k,): v for k, v in self._forwards.items()})
        forward = HistogramMetricFamily("kubemu_dns_forward_duration_seconds",
                                        "Upstream query latency.")
        forward.add_metric([], self._forward_duration.buckets(), self._forward_duration.total)
        yield forward


class _Histogram:
    """Per-bucket counts (not cumulative) and the sum; cumulated when scraped."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(_BUCKETS) + 1)
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*map(repr, _BUCKETS), "+Inf"), self.counts):
            running += count
            out.append((bound, running))
        return out


def _counter(name: str, doc: str, labels: list[str], values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def query_type(query: bytes) -> str:
    """The name of the first question's type, read from the wire (`other` when unknown or
    unreadable); never raises."""
    if len(query) < 12 or not (query[4] or query[5]):
        return "other"
    offset, end = 12, len(query)
    while offset < end:
        length = query[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0:  # a compression pointer ends the name
            offset += 2
            break
        offset += 1 + length
    else:
        return "other"
    if offset + 2 > end:
        return "other"
    return _QTYPE_NAMES.get(int.from_bytes(query[offset:offset + 2], "big"), "other")


def response_code(response: bytes) -> str:
    """The rcode name of a wire response's header (`other` for a short message)."""
    if len(response) < 4:
        return "other"
    return RCODE_NAMES.get(response[3] & 0x0F, "other")
