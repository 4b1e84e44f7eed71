"""A tiny upstream DNS server for forwarder and server tests (no internet in CI).

`Upstream` answers UDP on 127.0.0.1 from a dict of canned answers built with dnslib, counts
the queries it receives per (name, type), and can hold a name's answers until the test
releases them (a slow upstream without sleeps). c-ares reaches it as "127.0.0.1:<port>".
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, DNSRecord


@dataclass
class Canned:
    rcode: int = RCODE.NOERROR
    answers: list[str] = field(default_factory=list)   # zone-file lines, e.g. "a. 60 A 1.2.3.4"


class Upstream(asyncio.DatagramProtocol):
    """Canned answers keyed by (lower-case FQDN, type name); unknown names are NXDOMAIN."""

    def __init__(self, zone: dict[tuple[str, str], Canned] | None = None) -> None:
        self.zone = dict(zone or {})
        self.queries: Counter[tuple[str, str]] = Counter()
        self.held: dict[str, asyncio.Event] = {}
        self._asked: dict[str, asyncio.Event] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> str:
        """Binds an ephemeral UDP port; the server string for c-ares."""
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0))
        return f"127.0.0.1:{self.transport.get_extra_info('sockname')[1]}"

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.transport is not None:
            self.transport.close()

    def hold(self, name: str) -> asyncio.Event:
        """Answers for `name` wait until the returned event is set."""
        self.held[name.lower()] = event = asyncio.Event()
        return event

    async def asked(self, name: str) -> None:
        """Returns once a query for `name` has arrived."""
        await self._asked.setdefault(name.lower(), asyncio.Event()).wait()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        query = DNSRecord.parse(data)
        name, rtype = str(query.q.qname).lower(), QTYPE[query.q.qtype]
        self.queries[(name, rtype)] += 1
        self._asked.setdefault(name, asyncio.Event()).set()
        task = asyncio.ensure_future(self._reply(query, name, rtype, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply(self, query: DNSRecord, name: str, rtype: str, addr: tuple) -> None:
        event = self.held.get(name)
        if event is not None:
            await event.wait()
        canned = self.zone.get((name, rtype)) or self._other_type(name)
        reply = query.reply()
        reply.header.rcode = canned.rcode
        for line in canned.answers:
            reply.add_answer(*RR.fromZone(line))
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply.pack(), addr)

    def _other_type(self, name: str) -> Canned:
        if any(known == name for known, _ in self.zone):
            return Canned()                       # the name exists: NODATA
        return Canned(rcode=RCODE.NXDOMAIN)
