"""StubResolver: a client of the cluster DNS that resolves names the way a pod's libc does.

`lookup(name, conf)` walks `conf.candidates(name)` (the resolv.conf search list and ndots, as
glibc's `res_search`) and asks one server for each candidate in turn: an answer with records
of the asked type ends the walk; NXDOMAIN, NODATA and SERVFAIL move on to the next candidate
(glibc keeps searching on those); a server that does not answer at all ends the walk with
`StubTimeout`, as glibc's TRY_AGAIN does. Each query goes over UDP with a random id (the
reply must match it and the question), without EDNS (512-byte answers) unless the
resolv.conf says `options edns0`, as glibc; a truncated (TC) reply is asked again over TCP,
as every stub does. The answer's records are returned as `RR`s in wire order, so a CNAME chain
(an ExternalName) comes first and the target's addresses after it.

The server is given as "host:port" (the cluster DNS's host port: a pod's nameserver,
10.96.0.10, is a ClusterIP the host cannot reach, so the caller substitutes the address the
DNS actor serves on). No cache: every lookup sees the table as it is now.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from dnslib import EDNS0, QTYPE, DNSRecord
from kubemu.dns.names import RR
from kubemu.dns.resolvconf import ResolvConf

__all__ = ["NotResolved", "StubAnswer", "StubResolver", "StubTimeout", "split_address"]

_NOERROR = 0
_EDNS_SIZE = 1232  # glibc's with `options edns0`


class NotResolved(LookupError):
    """No candidate name has a record of the asked type (NXDOMAIN or NODATA everywhere)."""


class StubTimeout(TimeoutError):
    """The server did not answer a query within the stub's attempts."""


@dataclass(frozen=True)
class StubAnswer:
    """One response: its name, rcode (0 NOERROR, 3 NXDOMAIN, ...) and answer records."""

    name: str
    rcode: int
    records: tuple[RR, ...] = ()

    def of_type(self, rtype: str) -> list[RR]:
        return [rr for rr in self.records if rr.rtype == rtype]


class StubResolver:
    """Queries one DNS server over UDP (TCP on truncation); see the module docstring."""

    def __init__(self, server: str, *, timeout: float = 2.0, attempts: int = 2,
                 rng: random.Random | None = None) -> None:
        self.host, self.port = split_address(server)
        self.timeout, self.attempts = timeout, attempts
        self._rng = rng or random.Random()

    async def lookup(self, name: str, conf: ResolvConf, rtype: str = "A") -> StubAnswer:
        """The first candidate of `name` (per `conf`) with `rtype` records; NotResolved when
        none has any, StubTimeout when the server is silent."""
        edns = any(option == "edns0" for option in conf.options)
        for candidate in conf.candidates(name):
            answer = await self.query(candidate, rtype, edns=edns)
            if answer.rcode == _NOERROR and answer.of_type(rtype):
                return answer
        raise NotResolved(f"Could not resolve host: {name}")

    async def query(self, name: str, rtype: str = "A", *, edns: bool = False) -> StubAnswer:
        """One question to the server: UDP, then TCP if the reply is truncated."""
        query = DNSRecord.question(name, rtype)
        query.header.id = self._rng.randrange(1 << 16)
        if edns:
            query.add_ar(EDNS0(udp_len=_EDNS_SIZE))
        packet = query.pack()
        reply = await self._udp(packet, query)
        if reply.header.tc:
            reply = await self._tcp(packet, query)
        return StubAnswer(name, reply.header.rcode, tuple(_rr(r) for r in reply.rr))

    async def _udp(self, packet: bytes, query: DNSRecord) -> DNSRecord:
        loop = asyncio.get_running_loop()
        for _ in range(self.attempts):
            replies: asyncio.Queue[bytes] = asyncio.Queue()
            transport, _ = await loop.create_datagram_endpoint(
                lambda q=replies: _Collect(q), remote_addr=(self.host, self.port))
            try:
                transport.sendto(packet)
                async with asyncio.timeout(self.timeout):
                    while True:
                        reply = _matching(await replies.get(), query)
                        if reply is not None:
                            return reply
            except TimeoutError:
                continue
            finally:
                transport.close()
        raise StubTimeout(f"no answer from {self.host}:{self.port} for {query.q.qname}")

    async def _tcp(self, packet: bytes, query: DNSRecord) -> DNSRecord:
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(len(packet).to_bytes(2, "big") + packet)
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    reply = _matching(await reader.readexactly(size), query)
                finally:
                    writer.close()
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            raise StubTimeout(f"no TCP answer from {self.host}:{self.port}: {exc}") from exc
        if reply is None:
            raise StubTimeout(f"a TCP answer from {self.host}:{self.port} that does not match")
        return reply


def split_address(server: str) -> tuple[str, int]:
    """"host:port", "[v6]:port" or a bare host (port 53) as (host, port)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    host, sep, port = server.rpartition(":")
    if not sep or ":" in host:
        return server, 53
    return host, int(port)


class _Collect(asyncio.DatagramProtocol):
    def __init__(self, replies: asyncio.Queue[bytes]) -> None:
        self._replies = replies

    def datagram_received(self, data: bytes, addr: object) -> None:
        self._replies.put_nowait(data)


def _matching(data: bytes, query: DNSRecord) -> DNSRecord | None:
    """The reply when it answers `query` (same id, same question), else None."""
    try:
        reply = DNSRecord.parse(data)
    except Exception:  # noqa: BLE001 - dnslib raises several types on garbage
        return None
    if reply.header.id != query.header.id or not reply.header.qr:
        return None
    if reply.questions and (str(reply.q.qname).lower() != str(query.q.qname).lower()
                            or reply.q.qtype != query.q.qtype):
        return None
    return reply


def _rr(record: object) -> RR:
    rtype = QTYPE.get(record.rtype, str(record.rtype))
    rdata = record.rdata
    if rtype == "SRV":
        data: str | tuple = (rdata.priority, rdata.weight, rdata.port, str(rdata.target))
    elif rtype == "TXT":
        data = b"".join(rdata.data).decode(errors="replace")
    else:
        data = str(rdata)
    return RR(str(record.rname).lower(), rtype, data)

