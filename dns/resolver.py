"""The cluster DNS resolver: query bytes in, response bytes out, CoreDNS ``kubernetes``-like.

``Resolver.answer`` is pure (no sockets, no clock): the server hands it a datagram or a TCP
message and sends back what it returns. It never raises on input. Semantics follow CoreDNS's
kubernetes plugin behind miekg/dns (see ``wire`` for admission, FORMERR and truncation):

- In zone (``records.lookup(...).in_zone``): AA set, RA set when forwarding is on (recursion is
  available then), RD/CD copied, TTL ``ttl``. NXDOMAIN or NODATA carry the zone's SOA in
  AUTHORITY; an SOA/NS query at the zone apex gets the SOA / ``ns.dns.<zone>.`` as its answer.
  Any other type (MX, ANY, ...) is CoreDNS's "fake A lookup": NODATA or NXDOMAIN, no records.
  AXFR/IXFR and classes other than IN are REFUSED (no transfers; only IN data is served).
- ExternalName: the CNAME is the answer. For A/AAAA the target is chased: inside the zone from
  the table (up to 8 links, loops stop), outside it with ``Forward(question=<target>,
  chain=<CNAMEs>)`` so the server resolves the target upstream and ``forwarded`` appends it.
- SRV answers carry their in-zone targets' A/AAAA records in ADDITIONAL.
- EDNS0: an OPT (size 1232, DO copied) answers an OPT; version != 0 is BADVERS (no question,
  as CoreDNS). UDP responses fit max(512, client size); TCP ones 65535 (``wire.fit``).
- Out of zone: ``Forward`` when forwarding is on, else REFUSED; ``forwarded`` builds the reply
  from the upstream records (AA clear, RA set; SERVFAIL when the upstream failed).

Precomputed answers: a response is a pure function of the query bytes after the 2-byte id, the
transport and ``records.version``, so that is the cache key: a hit costs a dict lookup and one
concatenation with the client's id, the qname keeps the client's case for free, and no key
normalisation can ever serve a wrong answer. The cache is dropped whenever the version moves and
is bounded by entries and bytes (oldest out first). Only answers from well-formed queries are
cached, so garbage cannot evict real entries. Forwards are never cached (the server's forwarder
caches upstream answers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from dnslib import DNSLabel, DNSRecord
from kubemu.dns import wire

log = logging.getLogger(__name__)

_LOOKUP_TYPES = frozenset({"A", "AAAA", "SRV", "PTR", "CNAME", "TXT"})
_MAX_CHAIN = 8
_PLAIN = re.compile(rb"[A-Za-z0-9_*-]*")


class RecordTable(Protocol):
    """What the resolver needs of ``kubemu.dns.records.Records``."""

    version: int
    zone: str

    def lookup(self, name: str, rtype: str) -> Any: ...


@dataclass(frozen=True)
class Question:
    """A question to ask upstream: the name as the client spelled it (with the dot), its type."""

    name: str
    rtype: str    # "A", "MX", ... ("TYPE<n>" for types without a mnemonic)
    qtype: int

    @property
    def qname(self) -> str:
        """The name, under dnslib's ``DNSQuestion`` attribute name."""
        return self.name


@dataclass(frozen=True, eq=False)
class Forward:
    """An out-of-zone query (or an ExternalName's target) the server must resolve upstream."""

    question: Question
    query: DNSRecord                 # the client's query: id, question as asked, EDNS
    tcp: bool = False
    chain: tuple[Any, ...] = field(default=())   # CNAME RRs already answered (ExternalName)


class Resolver:
    """Answers DNS queries from a record table; see the module docstring for the semantics."""

    def __init__(self, records: RecordTable, *, ttl: int = 5, forward: bool = True,
                 cache_entries: int = 10_000, cache_bytes: int = 32 << 20,
                 wall: Callable[[], float] | None = None) -> None:
        """``wall`` (epoch seconds) dates the SOA serial as CoreDNS does; without it the serial
        is ``records.version``."""
        self._records = records
        self._ttl = ttl
        self._forward = forward
        self._wall = wall
        self._max_entries = cache_entries
        self._max_bytes = cache_bytes
        self._udp: dict[bytes, bytes] = {}
        self._tcp: dict[bytes, bytes] = {}
        self._cached_bytes = 0
        self._version: int | None = None
        self._serial = 0
        self.hits = 0
        self.misses = 0

    def answer(self, query: bytes, *, tcp: bool = False) -> bytes | Forward | None:
        """The response to ``query``: bytes, a ``Forward`` for the server, or None (silence)."""
        if type(query) is not bytes:
            query = bytes(query)   # bytearray/memoryview: make it hashable for the cache
        if len(query) < 12:
            return None
        version = self._records.version
        if version != self._version:
            self._reset(version)
        cached = (self._tcp if tcp else self._udp).get(query[2:])
        if cached is not None:
            self.hits += 1
            return query[:2] + cached
        self.misses += 1
        try:
            result, cacheable = self._resolve(query, tcp)
        except Exception:   # a bug must not kill the server: SERVFAIL, as CoreDNS does
            log.exception("dns: failed to answer a query")
            return wire.header_error(query, wire.SERVFAIL)
        if cacheable and isinstance(result, bytes):
            self._store(query[2:], result[2:], tcp)
        return result

    @property
    def cached_answers(self) -> int:
        """How many precomputed responses the cache holds (UDP and TCP)."""
        return len(self._udp) + len(self._tcp)

    def forwarded(self, forward: Forward, upstream: list[Any] | None, rcode: int) -> bytes:
        """The response to a forwarded query from the upstream's records (None: it failed)."""
        msg = forward.query
        chain = list(forward.chain)
        if upstream is None:   # the upstream's own error passes through, else SERVFAIL
            rcode = wire.NOERROR if chain else (rcode or wire.SERVFAIL)
        response = wire.reply(msg, rcode=rcode, aa=bool(chain), ra=True)
        qname = msg.q.qname
        for rr in chain:
            response.add_answer(self._encode(rr, qname))
        for rr in upstream or ():
            try:
                response.add_answer(self._encode(rr, qname))
            except (ValueError, TypeError) as exc:
                log.debug("dns: dropping upstream record %r: %s", rr, exc)
        return self._finish(response, msg, forward.tcp)

    # -- the slow path ------------------------------------------------------------------------

    def _resolve(self, query: bytes, tcp: bool) -> tuple[bytes | Forward | None, bool]:
        verdict = wire.admit(query)
        if verdict == wire.IGNORE:
            return None, False
        if verdict is not None:
            return wire.header_error(query, verdict), False
        try:
            msg = wire.parse_query(query)
        except wire.Malformed:
            return wire.header_error(query, wire.FORMERR), False
        edns = wire.edns_of(msg)
        if edns is not None and edns.version != 0:
            response = wire.reply(msg, rcode=wire.BADVERS, aa=False, ra=self._forward,
                                  question=False)
            response.add_ar(wire.opt_record(edns, rcode=wire.BADVERS))
            return bytes(response.pack()), True
        question = msg.q
        if question.qclass != wire.CLASS_IN:
            return self._finish(self._reply(msg, wire.REFUSED, aa=False), msg, tcp), True
        name = _name_text(question.qname)
        rtype = wire.qtype_name(question.qtype)
        lookup = self._records.lookup(name, rtype if rtype in _LOOKUP_TYPES else "A")
        apex = self._apex(question.qname)
        if not (lookup.in_zone or apex):
            if not self._forward:
                return self._finish(self._reply(msg, wire.REFUSED, aa=False), msg, tcp), True
            return Forward(Question(name, rtype, question.qtype), msg, tcp), False
        if rtype in ("AXFR", "IXFR"):
            return self._finish(self._reply(msg, wire.REFUSED, aa=False), msg, tcp), True
        result = self._in_zone(msg, lookup, rtype, apex, tcp)
        if isinstance(result, Forward):
            return result, False
        return self._finish(result, msg, tcp), True

    def _in_zone(self, msg: DNSRecord, lookup: Any, rtype: str, apex: str | None,
                 tcp: bool) -> DNSRecord | Forward:
        qname = msg.q.qname
        response = self._reply(msg, wire.NOERROR, aa=True)
        if apex is not None and rtype in ("SOA", "NS"):
            if rtype == "SOA":
                response.add_answer(self._soa(qname, apex))
            else:
                zone = apex.lower().rstrip(".")
                response.add_answer(wire.encode_rr(qname, "NS", f"ns.dns.{zone}.", self._ttl))
            return response
        answers = list(lookup.answers) if rtype in _LOOKUP_TYPES else []
        if answers and answers[0].rtype == "CNAME" and rtype in ("A", "AAAA"):
            answers, target = self._chase(answers, rtype)
            if target is not None and self._forward:
                question = Question(target, rtype, wire.qtype_number(rtype))
                return Forward(question, msg, tcp, tuple(answers))
        if not answers:
            exists = lookup.exists or apex is not None
            response.header.rcode = wire.NOERROR if exists else wire.NXDOMAIN
            response.add_auth(self._soa(qname, apex or self._zone_of(qname)))
            return response
        for rr in answers:
            response.add_answer(self._encode(rr, qname))
        if rtype == "SRV":
            for rr in self._srv_additional(answers):
                response.add_ar(self._encode(rr, qname))
        return response

    def _chase(self, answers: list[Any], rtype: str) -> tuple[list[Any], str | None]:
        """Follow an ExternalName's CNAME inside the zone; return the records and, when the
        chain leaves the zone, the out-of-zone target to resolve upstream."""
        chain = list(answers)
        seen = {answers[0].name.lower()}
        while len(chain) <= _MAX_CHAIN:
            target = chain[-1].data
            if target.lower() in seen:
                return chain, None   # a CNAME loop: answer what we have
            seen.add(target.lower())
            found = self._records.lookup(target, rtype)
            if not found.in_zone:
                return chain, target
            chain.extend(found.answers)
            if not found.answers or found.answers[-1].rtype != "CNAME":
                return chain, None
        return chain, None

    def _srv_additional(self, answers: list[Any]) -> list[Any]:
        extra: list[Any] = []
        seen: set[tuple[str, str, Any]] = set()
        for srv in answers:
            if srv.rtype != "SRV":
                continue
            for rtype in ("A", "AAAA"):
                found = self._records.lookup(srv.data[3], rtype)
                for rr in found.answers if found.in_zone else ():
                    if rr.rtype == rtype and (rr.name, rr.rtype, rr.data) not in seen:
                        seen.add((rr.name, rr.rtype, rr.data))
                        extra.append(rr)
        return extra

    # -- building blocks ----------------------------------------------------------------------

    def _reply(self, msg: DNSRecord, rcode: int, *, aa: bool) -> DNSRecord:
        return wire.reply(msg, rcode=rcode, aa=aa, ra=self._forward)

    def _finish(self, response: DNSRecord, msg: DNSRecord, tcp: bool) -> bytes:
        edns = wire.edns_of(msg)
        if edns is not None:
            response.add_ar(wire.opt_record(edns, rcode=response.header.rcode))
        return wire.fit(response, wire.size_limit(edns, tcp=tcp))

    def _encode(self, rr: Any, qname: DNSLabel) -> Any:
        # The owner keeps the client's spelling when it is the asked name (as servers do).
        owner = qname if DNSLabel(rr.name) == qname else rr.name
        return wire.encode_rr(owner, rr.rtype, rr.data, getattr(rr, "ttl", None) or self._ttl)

    def _soa(self, qname: DNSLabel, zone: str) -> Any:
        # The owner is the zone in the client's case, as CoreDNS does.
        count = len(DNSLabel(zone).label)
        owner = DNSLabel(list(qname.label[-count:])) if count else zone
        return wire.soa_rr(owner, zone, serial=self._serial, ttl=self._ttl)

    def _apex(self, qname: DNSLabel) -> str | None:
        """Our zone when ``qname`` is its apex, else None."""
        zone = self._records.zone
        return zone if qname == DNSLabel(zone) else None

    def _zone_of(self, qname: DNSLabel) -> str:
        """The zone a name falls in, for the SOA of a negative answer."""
        for zone in ("in-addr.arpa", "ip6.arpa"):
            if qname.matchSuffix(zone):
                return zone
        return self._records.zone

    def _reset(self, version: int) -> None:
        self._udp.clear()
        self._tcp.clear()
        self._cached_bytes = 0
        self._version = version
        self._serial = int(self._wall()) if self._wall is not None else version

    def _store(self, key: bytes, value: bytes, tcp: bool) -> None:
        size = len(key) + len(value)
        if size > self._max_bytes // 4:
            return
        cache = self._tcp if tcp else self._udp
        self._cached_bytes += size
        cache[key] = value
        while (len(self._udp) + len(self._tcp) > self._max_entries
               or self._cached_bytes > self._max_bytes):
            victim = self._udp if len(self._udp) >= len(self._tcp) else self._tcp
            old_key = next(iter(victim))
            self._cached_bytes -= len(old_key) + len(victim.pop(old_key))


def _name_text(qname: DNSLabel) -> str:
    """A wire name as presentation text: bytes that are not printable ASCII, and dots or
    backslashes inside a label, become \\DDD escapes, so no label can pose as two."""
    return ".".join(label.decode("ascii") if _PLAIN.fullmatch(label) else _escape(label)
                    for label in qname.label) + "."


def _escape(label: bytes) -> str:
    return "".join(chr(b) if 33 <= b <= 126 and b not in (46, 92) else f"\\{b:03d}"
                   for b in label)
