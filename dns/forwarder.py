"""Forwarder: resolves out-of-zone names upstream with aiodns (c-ares), behind a TTL cache.

CoreDNS's `forward . /etc/resolv.conf` plus `cache`: `resolve(name, rtype)` returns
`(records, rcode)` for `Resolver.forwarded`:
- NOERROR with the answer section's records (a CNAME chain included) -> `([RR...], 0)`;
  NODATA -> `([], 0)`; NXDOMAIN -> `([], 3)`;
- an upstream failure (timeout, refused connection, SERVFAIL, REFUSED, ...) -> `(None,
  rcode)`, rcode the upstream's when it sent one, else SERVFAIL.
- a type the resolver cannot encode from an `RR` (anything but A, AAAA, CNAME, PTR, SRV,
  TXT, MX, NS, SOA) -> `(None, NOTIMP)`, without asking upstream.

Caching, as CoreDNS's `cache` plugin: positive answers live for their smallest record TTL,
denials (NXDOMAIN, NODATA) for `negative_ttl` (c-ares reports a denial as an error, without
the SOA whose minimum would give it a TTL); every TTL is clamped to [`min_ttl`, `max_ttl`]
(CoreDNS: 5 s .. 3600 s). Failures are not cached. As CoreDNS's cache does, every record
of an answer carries the entry's remaining TTL (`UpstreamRR.ttl`, which the resolver writes
instead of its own), so a client never caches an upstream record longer than upstream said. The cache is an LRU of `cache_size`
entries keyed by (lower-case name, type); time comes from an injected clock (the wall's
monotonic clock by default: upstream TTLs are real seconds, never scaled). Concurrent
misses for one key share one upstream query. Note that c-ares keeps its own TTL-honouring
cache underneath (pycares exposes no option to turn it off); it only saves upstream trips.

Default servers are the host's, as c-ares reads /etc/resolv.conf; `servers` entries may
carry a port (`"127.0.0.1:5353"`, `"[::1]:5353"`), which c-ares accepts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiodns
import pycares
from kubemu.cluster.clock import Clock, WallClock
from kubemu.dns.metrics import RCODE_NAMES
from kubemu.dns.records import RR

if TYPE_CHECKING:
    from kubemu.dns.metrics import DnsMetrics

__all__ = ["FORWARDED_TYPES", "Forwarder", "UpstreamRR"]

log = logging.getLogger("kubemu.dns.forwarder")

FORWARDED_TYPES = ("A", "AAAA", "CNAME", "PTR", "SRV", "TXT", "MX", "NS", "SOA")
_NOERROR, _FORMERR, _SERVFAIL, _NXDOMAIN, _NOTIMP, _REFUSED = 0, 1, 2, 3, 4, 5
_ERROR_RCODES = {  # aiodns error -> (records or None for a failure, rcode)
    aiodns.error.ARES_ENODATA: ((), _NOERROR),
    aiodns.error.ARES_ENOTFOUND: ((), _NXDOMAIN),
    aiodns.error.ARES_EFORMERR: (None, _FORMERR),
    aiodns.error.ARES_ESERVFAIL: (None, _SERVFAIL),
    aiodns.error.ARES_ENOTIMP: (None, _NOTIMP),
    aiodns.error.ARES_EREFUSED: (None, _REFUSED),
}
_RECORD_TYPES = {pycares.QUERY_TYPE_A: "A", pycares.QUERY_TYPE_AAAA: "AAAA",
                 pycares.QUERY_TYPE_CNAME: "CNAME", pycares.QUERY_TYPE_PTR: "PTR",
                 pycares.QUERY_TYPE_SRV: "SRV", pycares.QUERY_TYPE_TXT: "TXT",
                 pycares.QUERY_TYPE_MX: "MX", pycares.QUERY_TYPE_NS: "NS",
                 pycares.QUERY_TYPE_SOA: "SOA"}

_Result = tuple[tuple[RR, ...] | None, int]


@dataclass(frozen=True, slots=True)
class UpstreamRR(RR):
    """A record learnt upstream: an `RR` with the TTL left to it (seconds)."""

    ttl: int = 0


class Forwarder:
    """Upstream resolution with a TTL-honouring LRU cache (see the module docstring)."""

    def __init__(self, servers: list[str] | None = None, *, cache_size: int = 10_000,
                 clock: Clock | None = None, metrics: DnsMetrics | None = None,
                 min_ttl: float = 5.0, max_ttl: float = 3600.0, negative_ttl: float = 30.0,
                 timeout: float = 2.0, tries: int = 2) -> None:
        self.servers = list(servers) if servers else None
        self.cache_size = cache_size
        self._clock = clock or WallClock()
        self._metrics = metrics
        self._min_ttl, self._max_ttl, self._negative_ttl = min_ttl, max_ttl, negative_ttl
        self._timeout, self._tries = timeout, tries
        self._cache: OrderedDict[tuple[str, str], tuple[float, _Result]] = OrderedDict()
        self._inflight: dict[tuple[str, str], asyncio.Future[_Result]] = {}
        self._aiodns: aiodns.DNSResolver | None = None

    async def resolve(self, name: str, rtype: str) -> tuple[list[RR] | None, int]:
        """`(records, rcode)` for `name` (any case, dot optional) and type `rtype`."""
        rtype = rtype.upper()
        if rtype not in FORWARDED_TYPES:
            return None, _NOTIMP
        key = (name.lower().rstrip(".") + ".", rtype)
        cached = self._lookup(key)
        if cached is not None:
            return _listed(cached)
        if self._metrics is not None:
            self._metrics.cache_miss()
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._query(key))
            self._inflight[key] = pending
            pending.add_done_callback(lambda _f, k=key: self._inflight.pop(k, None))
        return _listed(await asyncio.shield(pending))

    def cached(self, name: str, rtype: str) -> bool:
        """True while a live cache entry holds `name`/`rtype` (for tests and debugging)."""
        entry = self._cache.get((name.lower().rstrip(".") + ".", rtype.upper()))
        return entry is not None and entry[0] > self._clock.now()

    @property
    def entries(self) -> int:
        """How many answers the cache holds (live or not yet found expired)."""
        return len(self._cache)

    async def close(self) -> None:
        """Cancels upstream queries in flight and releases the c-ares channel."""
        for pending in list(self._inflight.values()):
            pending.cancel()
        if self._aiodns is not None:
            await self._aiodns.close()
            self._aiodns = None

    def _lookup(self, key: tuple[str, str]) -> _Result | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, result = entry
        left = expires - self._clock.now()
        if left <= 0:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        if self._metrics is not None:
            self._metrics.cache_hit("success" if result[0] else "denial")
        return _with_ttl(result, left)

    async def _query(self, key: tuple[str, str]) -> _Result:
        name, rtype = key
        started = time.perf_counter()
        ttl: float | None = None
        try:
            answer = await self._channel().query_dns(name.rstrip(".") or ".", rtype)
            result: _Result = (tuple(rr for rr in map(_rr, answer.answer) if rr is not None),
                               _NOERROR)
            ttls = [r.ttl for r in answer.answer if r.type in _RECORD_TYPES]
            ttl = min(ttls) if ttls else self._negative_ttl
        except aiodns.error.DNSError as err:
            code = err.args[0] if err.args else None
            records, rcode = _ERROR_RCODES.get(code, (None, _SERVFAIL))
            if records is not None:
                ttl = self._negative_ttl
            result = (records, rcode)
        except Exception as err:  # noqa: BLE001 - a bad name or a c-ares failure: SERVFAIL
            log.debug("upstream query %s %s failed: %r", name, rtype, err)
            result = (None, _SERVFAIL)
        if self._metrics is not None:
            self._metrics.forwarded(RCODE_NAMES.get(result[1], "other"),
                                    time.perf_counter() - started)
        if ttl is None:
            return result
        ttl = min(max(ttl, self._min_ttl), self._max_ttl)
        self._store(key, result, ttl)
        return _with_ttl(result, ttl)

    def _store(self, key: tuple[str, str], result: _Result, ttl: float) -> None:
        self._cache[key] = (self._clock.now() + ttl, result)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if self._metrics is not None:
            self._metrics.cache_entries(len(self._cache))

    def _channel(self) -> aiodns.DNSResolver:
        if self._aiodns is None:
            self._aiodns = aiodns.DNSResolver(self.servers, timeout=self._timeout,
                                              tries=self._tries)
        return self._aiodns


def _with_ttl(result: _Result, ttl: float) -> _Result:
    records, rcode = result
    if not records:
        return result
    seconds = max(1, int(ttl))
    return tuple(UpstreamRR(rr.name, rr.rtype, rr.data, seconds) for rr in records), rcode


def _listed(result: _Result) -> tuple[list[RR] | None, int]:
    records, rcode = result
    return (None if records is None else list(records)), rcode


def _rr(record: pycares.DNSRecord) -> RR | None:
    rtype = _RECORD_TYPES.get(record.type)
    if rtype is None:
        return None
    name, data = _dotted(record.name), record.data
    if rtype in ("A", "AAAA"):
        return RR(name, rtype, data.addr)
    if rtype == "CNAME":
        return RR(name, rtype, _dotted(data.cname))
    if rtype == "PTR":
        return RR(name, rtype, _dotted(data.dname))
    if rtype == "SRV":
        return RR(name, rtype, (data.priority, data.weight, data.port, _dotted(data.target)))
    if rtype == "MX":
        return RR(name, rtype, (data.priority, _dotted(data.exchange)))
    if rtype == "NS":
        return RR(name, rtype, _dotted(data.nsdname))
    if rtype == "SOA":
        return RR(name, rtype, (_dotted(data.mname), _dotted(data.rname), data.serial,
                                data.refresh, data.retry, data.expire, data.minimum))
    raw = bytes(data.data)
    try:
        return RR(name, rtype, raw.decode("utf-8"))
    except UnicodeDecodeError:
        return RR(name, rtype, (raw,))


def _dotted(name: str) -> str:
    return name.lower().rstrip(".") + "."
