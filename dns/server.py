"""DnsServer: the cluster DNS server's sockets, UDP and TCP on one port, around a Resolver.

The resolver is pure (`answer(query, tcp=) -> bytes | Forward | None`); this module only
moves bytes, so the hot path is one `answer` call and one `sendto`:
- UDP (an asyncio `DatagramProtocol`, uvloop-friendly): one datagram in, at most one out.
  `None` from the resolver is silence. A `Forward` (an out-of-zone name) is resolved by the
  `Forwarder` in its own task, so a slow upstream never delays other queries; at most
  `max_forwards` run at once, beyond that a forward is answered REFUSED at once (CoreDNS's
  `forward ... max_concurrent` does the same).
- TCP (RFC 7766): 2-byte length-prefixed messages, many per connection, pipelined: local
  answers are written in arrival order, forwarded ones when they complete (clients match by
  id); at most `max_pipeline` forwards pending per connection (reading pauses beyond).
  `tcp_idle_timeout` seconds without a query (or a stalled partial message) closes the
  connection once its pending answers are written. A 0-length frame, a frame longer than
  `max_tcp_query`, or a message the resolver ignores (not even a header: the stream has lost
  its framing) closes the connection.
- Nothing a client sends raises out of a handler: a resolver exception answers SERVFAIL
  (built from the query's header) and is logged.
`start()` binds both transports on one port (port 0: an ephemeral port free for both);
`close()` stops listening, closes connections and cancels forwards. Metrics (`DnsMetrics`)
are optional; labels are read from the wire bytes, not by re-parsing.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from typing import Any, Protocol

from kubemu.dns.forwarder import Forwarder
from kubemu.dns.metrics import DnsMetrics, query_type, response_code

__all__ = ["AnswersQueries", "DnsServer"]

log = logging.getLogger("kubemu.dns.server")

_SERVFAIL, _REFUSED = 2, 5
_UDP_MAX = 65507
_TCP_MAX = 65535
_UDP_RCVBUF = 4 << 20
_BIND_ATTEMPTS = 20


class AnswersQueries(Protocol):
    """What the server needs of a Resolver (`kubemu.dns.resolver.Resolver`)."""

    def answer(self, query: bytes, *, tcp: bool = False) -> Any: ...

    def forwarded(self, forward: Any, upstream: Any, rcode: int) -> bytes: ...


class DnsServer:
    """UDP and TCP DNS on `host:port` answering through `resolver` (module docstring)."""

    def __init__(self, resolver: AnswersQueries, *, host: str = "127.0.0.1", port: int = 10053,
                 forwarder: Forwarder | None = None, metrics: DnsMetrics | None = None,
                 tcp_idle_timeout: float = 10.0, max_forwards: int = 1000,
                 max_pipeline: int = 64, max_tcp_query: int = 4096) -> None:
        self.resolver = resolver
        self.host, self.port = host, port
        self.forwarder = forwarder
        self.metrics = metrics
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_forwards, self.max_pipeline = max_forwards, max_pipeline
        self.max_tcp_query = max_tcp_query
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None
        self._forwards: set[asyncio.Task] = set()
        self._connections: set[asyncio.Task] = set()

    async def start(self) -> tuple[str, int]:
        """Binds UDP and TCP on one port; the (host, port) bound."""
        loop = asyncio.get_running_loop()
        for _ in range(_BIND_ATTEMPTS if self.port == 0 else 1):
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, self.port))
            port = udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port,
                                                       reuse_address=True)
            except OSError as err:
                udp.close()
                if self.port != 0 or err.errno != errno.EADDRINUSE:
                    raise
                continue
            self._udp = udp
            _grow_receive_buffer(udp)
            self.port = port
            return self.host, port
        raise OSError(errno.EADDRINUSE, f"no port free for both UDP and TCP on {self.host}")

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    async def close(self) -> None:
        """Stops listening, closes every TCP connection and cancels pending forwards."""
        if self._tcp is not None:
            self._tcp.close()
        if self._udp is not None:
            self._udp.close()
        tasks = [*self._connections, *self._forwards]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
        self._tcp = self._udp = None

    # -- UDP ----------------------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: Any) -> None:
        started = time.perf_counter()
        result = self._answer(data, tcp=False)
        if result is None:
            self._dropped("udp", data, "malformed")
        elif isinstance(result, bytes):
            self._send_udp(data, result, addr, started)
        elif len(self._forwards) >= self.max_forwards:
            self._send_udp(data, self._complete_now(result, None, _REFUSED), addr, started)
        else:
            self._spawn(self._forward_udp(data, result, addr, started))

    async def _forward_udp(self, query: bytes, forward: Any, addr: Any, started: float) -> None:
        self._send_udp(query, await self._complete(forward), addr, started)

    def _send_udp(self, query: bytes, response: bytes | None, addr: Any,
                  started: float) -> None:
        transport = self._udp
        if response is None or len(response) > _UDP_MAX:
            self._dropped("udp", query, "error")
            return
        if transport is not None and not transport.is_closing():
            transport.sendto(response, addr)
            self._answered("udp", query, response, started)

    # -- TCP ----------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        pending: set[asyncio.Task] = set()
        try:
            while True:
                query = await self._read_frame(reader)
                if query is None:
                    break
                started = time.perf_counter()
                result = self._answer(query, tcp=True)
                if result is None:
                    self._dropped("tcp", query, "malformed")
                    break
                if isinstance(result, bytes):
                    self._write_tcp(writer, query, result, started)
                    if writer.transport.get_write_buffer_size() > _TCP_MAX:
                        await asyncio.wait_for(writer.drain(), self.tcp_idle_timeout)
                    continue
                while len(pending) >= self.max_pipeline:
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                pending.add(self._spawn(self._forward_tcp(writer, query, result, started)))
            if pending:
                await asyncio.wait(pending)
        except (TimeoutError, ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            for forward in pending:
                forward.cancel()
            raise
        except Exception:
            log.exception("DNS TCP connection failed")
        finally:
            self._connections.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError, asyncio.CancelledError):
                pass

    async def _read_frame(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next message, or None to close: idle timeout, EOF, or a bad length."""
        try:
            async with asyncio.timeout(self.tcp_idle_timeout):
                size = int.from_bytes(await reader.readexactly(2), "big")
                if size == 0 or size > self.max_tcp_query:
                    self._dropped("tcp", b"", "empty" if size == 0 else "oversized")
                    return None
                return await reader.readexactly(size)
        except (asyncio.IncompleteReadError, TimeoutError):
            return None

    async def _forward_tcp(self, writer: asyncio.StreamWriter, query: bytes, forward: Any,
                           started: float) -> None:
        self._write_tcp(writer, query, await self._complete(forward), started)

    def _write_tcp(self, writer: asyncio.StreamWriter, query: bytes, response: bytes | None,
                   started: float) -> None:
        if response is None or len(response) > _TCP_MAX:
            self._dropped("tcp", query, "error")
            return
        if not writer.is_closing():
            writer.write(len(response).to_bytes(2, "big") + response)
            self._answered("tcp", query, response, started)

    # -- shared -------------------------------------------------------------------------------

    def _answer(self, query: bytes, *, tcp: bool) -> Any:
        try:
            return self.resolver.answer(query, tcp=tcp)
        except Exception:
            log.exception("resolver failed on a %d-byte query", len(query))
            return _servfail(query)

    async def _complete(self, forward: Any) -> bytes | None:
        """The response to a forwarded query: upstream through the forwarder, SERVFAIL
        without one or when it fails."""
        if self.forwarder is None:
            return self._complete_now(forward, None, _SERVFAIL)
        try:
            question = forward.question
            upstream, rcode = await self.forwarder.resolve(question.name, question.rtype)
        except Exception:
            log.exception("forwarding failed")
            upstream, rcode = None, _SERVFAIL
        return self._complete_now(forward, upstream, rcode)

    def _complete_now(self, forward: Any, upstream: Any, rcode: int) -> bytes | None:
        try:
            return self.resolver.forwarded(forward, upstream, rcode)
        except Exception:
            log.exception("resolver failed to build a forwarded answer")
            return None

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._forwards.add(task)
        task.add_done_callback(self._forwards.discard)
        return task

    def _answered(self, proto: str, query: bytes, response: bytes, started: float) -> None:
        if self.metrics is not None:
            self.metrics.answered(proto, query_type(query), response_code(response),
                                  time.perf_counter() - started)

    def _dropped(self, proto: str, query: bytes, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.dropped(proto, query_type(query), reason)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            self._server._on_datagram(data, addr)
        except Exception:  # never let one datagram stop the endpoint
            log.exception("DNS UDP datagram failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS UDP socket error: %s", exc)


def _servfail(query: bytes) -> bytes | None:
    """A header-only SERVFAIL for `query` (id, opcode and RD copied), None for a short one."""
    if len(query) < 12:
        return None
    flags = 0x8000 | (query[2] & 0x79) << 8 | 0x80 | _SERVFAIL  # QR, opcode+RD, RA, rcode
    return query[:2] + flags.to_bytes(2, "big") + bytes(8)



def _grow_receive_buffer(transport: asyncio.DatagramTransport) -> None:
    sock = transport.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _UDP_RCVBUF)
    except (OSError, AttributeError):
        pass
