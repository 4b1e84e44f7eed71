"""DNS wire format for the cluster DNS resolver: strict query parsing, record encoding, truncation.

dnslib does the byte work; this module adds what a server needs on top of it and keeps the
resolver free of byte fiddling:

- Admission works on the raw 12-byte header first, the way miekg/dns (CoreDNS's server library)
  does in its default accept function: a response (QR set) is ignored, an opcode other than
  QUERY gets NOTIMP, QDCOUNT != 1 or more records than a query carries (ANCOUNT > 1,
  NSCOUNT > 1, ARCOUNT > 2) get FORMERR. Error responses are built from the raw header alone
  (id, opcode and RD copied, every section empty), so they exist even when dnslib cannot parse.
- Parsing is strict where dnslib is lenient: bytes left after the last section, labels longer
  than 63 bytes, names longer than 255 bytes and more than one OPT record are FORMERR.
- Truncation follows miekg/dns ``Msg.Truncate``: keep the longest prefix of answer, authority,
  then additional records that fits the limit, keep the OPT record, set TC if anything was left
  out. Sizes count dnslib's name compression because every candidate is really packed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from dnslib import (
    AAAA,
    CNAME,
    EDNS0,
    MX,
    NS,
    PTR,
    QTYPE,
    RR,
    SOA,
    SRV,
    TXT,
    A,
    DNSBuffer,
    DNSHeader,
    DNSQuestion,
    DNSRecord,
)

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
OPCODE_QUERY = 0
TYPE_OPT = 41
CLASS_IN = 1
MIN_UDP_SIZE = 512       # RFC 6891: a smaller advertised payload counts as 512
SERVER_UDP_SIZE = 1232   # what our OPT advertises (the DNS flag day 2020 value)
MAX_TCP_SIZE = 65535     # a TCP message carries a 16-bit length

IGNORE = -1              # admission verdict: stay silent

_QTYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
                28: "AAAA", 33: "SRV", 251: "IXFR", 252: "AXFR", 255: "ANY"}
_QTYPE_NUMBERS = {name: number for number, name in _QTYPE_NAMES.items()}


class Malformed(ValueError):
    """The query has a header but its body is not a well-formed DNS query."""


@dataclass(frozen=True)
class Edns:
    """The client's OPT record: its UDP payload size, EDNS version and DO bit."""

    size: int
    version: int
    do: bool


def admit(query: bytes) -> int | None:
    """Judge a query by its raw header: None to go on, IGNORE, or the rcode to refuse it with."""
    bits = query[2] << 8 | query[3]
    if bits & 0x8000:
        return IGNORE
    if (bits >> 11) & 0xF != OPCODE_QUERY:
        return NOTIMP
    qd, an, ns, ar = struct.unpack_from("!HHHH", query, 4)
    if qd != 1 or an > 1 or ns > 1 or ar > 2:
        return FORMERR
    return None


def header_error(query: bytes, rcode: int) -> bytes:
    """An error response made from the query's 12-byte header only: id, opcode and RD kept."""
    bits = query[2] << 8 | query[3]
    flags = 0x8000 | (bits & 0x7800) | (bits & 0x0100) | (rcode & 0xF)
    return query[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


def parse_query(query: bytes) -> DNSRecord:
    """Parse a query strictly; raise Malformed for anything dnslib rejects or tolerates wrongly."""
    buffer = DNSBuffer(query)
    try:
        header = DNSHeader.parse(buffer)
        questions = [DNSQuestion.parse(buffer) for _ in range(header.q)]
        answers = [RR.parse(buffer) for _ in range(header.a)]
        auth = [RR.parse(buffer) for _ in range(header.auth)]
        additional = [RR.parse(buffer) for _ in range(header.ar)]
    except Exception as exc:   # dnslib raises DNSError, but also struct/Unicode/Index errors
        raise Malformed(str(exc)) from exc
    if buffer.offset != len(query):
        raise Malformed(f"{len(query) - buffer.offset} bytes after the last section")
    for question in questions:
        labels = question.qname.label
        if any(len(label) > 63 for label in labels) or sum(len(x) + 1 for x in labels) + 1 > 255:
            raise Malformed("label or name too long")
    if sum(1 for rr in additional if rr.rtype == TYPE_OPT) > 1:
        raise Malformed("more than one OPT record")
    return DNSRecord(header, questions, answers, auth=auth, ar=additional)


def edns_of(msg: DNSRecord) -> Edns | None:
    """The query's EDNS parameters, or None when it carries no OPT record."""
    for rr in msg.ar:
        if rr.rtype == TYPE_OPT:
            return Edns(size=rr.rclass, version=(rr.ttl >> 16) & 0xFF, do=bool(rr.ttl & 0x8000))
    return None


def size_limit(edns: Edns | None, *, tcp: bool) -> int:
    """The largest response the client takes: 64 KiB over TCP, else its EDNS size (>= 512)."""
    if tcp:
        return MAX_TCP_SIZE
    return min(max(edns.size, MIN_UDP_SIZE), MAX_TCP_SIZE) if edns else MIN_UDP_SIZE


def opt_record(edns: Edns, *, rcode: int = NOERROR) -> RR:
    """Our OPT record for a response to an EDNS query (upper rcode bits, DO copied)."""
    return EDNS0(udp_len=SERVER_UDP_SIZE, ext_rcode=rcode >> 4, flags="do" if edns.do else "")


def reply(msg: DNSRecord, *, rcode: int, aa: bool, ra: bool, question: bool = True) -> DNSRecord:
    """An empty response to ``msg``: id, opcode, RD and CD copied; the question kept by default."""
    h = msg.header
    header = DNSHeader(id=h.id, qr=1, opcode=h.opcode, aa=int(aa), rd=h.rd, ra=int(ra),
                       cd=h.cd, rcode=rcode & 0xF)
    return DNSRecord(header, list(msg.questions) if question else [])


def qtype_name(qtype: int) -> str:
    """The mnemonic of a query type ("A", "SRV", ...), "TYPE<n>" when unknown (RFC 3597)."""
    name = _QTYPE_NAMES.get(qtype)
    if name is None:
        known = QTYPE.get(qtype)
        name = known if isinstance(known, str) else f"TYPE{qtype}"
    return name


def qtype_number(rtype: str) -> int:
    """The number of a type mnemonic (the inverse of ``qtype_name``)."""
    number = _QTYPE_NUMBERS.get(rtype)
    if number is None:
        number = int(rtype[4:]) if rtype.startswith("TYPE") else getattr(QTYPE, rtype)
    return number


def encode_rr(owner: Any, rtype: str, data: Any, ttl: int) -> RR:
    """A dnslib RR from kubemu's record form (see ``kubemu.dns.records.RR``); ValueError if unknown.

    A/AAAA: address text; CNAME/PTR/NS: target name; TXT: text (split in 255-byte strings);
    SRV: (priority, weight, port, target); MX: (preference, exchange);
    SOA: (mname, rname, serial, refresh, retry, expire, minimum).
    """
    if rtype == "A":
        rdata: Any = A(data)
    elif rtype == "AAAA":
        rdata = AAAA(data)
    elif rtype == "CNAME":
        rdata = CNAME(data)
    elif rtype == "PTR":
        rdata = PTR(data)
    elif rtype == "NS":
        rdata = NS(data)
    elif rtype == "TXT":
        rdata = TXT(_txt_strings(data))
    elif rtype == "SRV":
        priority, weight, port, target = data
        rdata = SRV(priority, weight, port, target)
    elif rtype == "MX":
        preference, exchange = data
        rdata = MX(exchange, preference)
    elif rtype == "SOA":
        mname, rname, *times = data
        rdata = SOA(mname, rname, tuple(times))
    else:
        raise ValueError(f"cannot encode {rtype} records")
    return RR(owner, getattr(QTYPE, rtype), ttl=ttl, rdata=rdata)


def soa_rr(owner: Any, zone: str, *, serial: int, ttl: int) -> RR:
    """The zone's SOA as CoreDNS's kubernetes plugin writes it (TTL min(ttl, 300), minimum ttl)."""
    zone = zone.rstrip(".").lower()
    times = (serial & 0xFFFFFFFF, 7200, 1800, 86400, ttl)
    return RR(owner, QTYPE.SOA, ttl=min(ttl, 300),
              rdata=SOA(f"ns.dns.{zone}.", f"hostmaster.{zone}.", times))


def fit(response: DNSRecord, limit: int) -> bytes:
    """Pack ``response`` within ``limit`` bytes, dropping trailing records and setting TC if needed."""
    data = bytes(response.pack())
    if len(data) <= limit:
        return data
    opt = [rr for rr in response.ar if rr.rtype == TYPE_OPT]
    records = response.rr + response.auth + [rr for rr in response.ar if rr.rtype != TYPE_OPT]
    sections = (len(response.rr), len(response.auth))

    def packed(count: int) -> bytes:
        kept = records[:count]
        na, nauth = min(count, sections[0]), max(0, min(count - sections[0], sections[1]))
        header = DNSHeader(id=response.header.id, bitmap=response.header.bitmap)
        header.tc = 1
        return DNSRecord(header, list(response.questions), kept[:na],
                         auth=kept[na:na + nauth], ar=kept[na + nauth:] + opt).pack()

    low, high = 0, len(records) - 1   # the largest count that fits is in [low, high]
    best = bytes(packed(0))
    while low < high:
        middle = (low + high + 1) // 2
        candidate = packed(middle)
        if len(candidate) <= limit:
            low, best = middle, bytes(candidate)
        else:
            high = middle - 1
    return best


def _txt_strings(data: Any) -> list[bytes]:
    chunks = data if isinstance(data, (list, tuple)) else [data]
    out: list[bytes] = []
    for chunk in chunks:
        raw = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        out.extend(raw[i:i + 255] for i in range(0, len(raw), 255)) if raw else out.append(b"")
    return out
