"""Host listeners: real TCP sockets for NodePorts on a node's own loopback address, so `curl
http://<node InternalIP>:<nodePort>/` from the host reaches a pod through the node's
kube-proxy; and for LoadBalancer ingress IPs, which every node listens on (`shared`).

`HostListeners(address, forward)` keeps one listening socket per port given to `sync(ports)`
(opening new ones, closing the ones no longer wanted, so a deleted Service frees its port).
Each connection is read as one HTTP/1.x request (request line and headers, bounded in size
and time); `forward(port, client_ip)` carries it over the overlay and returns the reply dict
of the node hop (`{"ok": True, "pod": ..., "node": ...}` or `{"ok": False, "error":
"refused"|"timeout", ...}`), which becomes a 200 with that JSON, a 502 for a refused
connection, or a 504 for a dropped one. Addresses in 127.0.0.0/8 need no setup on Linux.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

import orjson

__all__ = ["HostListeners"]

log = logging.getLogger(__name__)

_HEADER_LIMIT = 16 * 1024
_READ_TIMEOUT = 5.0
_STATUS = {"refused": (502, "Bad Gateway"), "timeout": (504, "Gateway Timeout")}

Forward = Callable[[int, str], Awaitable[dict]]


class HostListeners:
    def __init__(self, address: str, forward: Forward, *, shared: bool = False) -> None:
        """`shared`: every node listens on this address (a LoadBalancer IP): the sockets
        use SO_REUSEPORT and the kernel spreads connections over the nodes, as a cloud
        load balancer spreads them over its targets."""
        self.address = address
        self._forward = forward
        self._shared = shared
        self._servers: dict[int, asyncio.base_events.Server] = {}

    @property
    def ports(self) -> set[int]:
        return set(self._servers)

    async def sync(self, ports: Iterable[int]) -> None:
        wanted = set(ports)
        for port in sorted(set(self._servers) - wanted):
            server = self._servers.pop(port)
            server.close()
            await server.wait_closed()
        for port in sorted(wanted - set(self._servers)):
            try:
                self._servers[port] = await asyncio.start_server(
                    lambda r, w, p=port: self._serve(r, w, p), self.address, port,
                    reuse_address=True, reuse_port=self._shared)
            except OSError as exc:  # taken by something else on this host: say so, go on
                log.warning("cannot listen on %s:%d: %s", self.address, port, exc)

    async def close(self) -> None:
        await self.sync(())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     port: int) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            writer.close()
            return
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        try:
            reply = await self._forward(port, peer[0])
        except Exception as exc:  # the hop failed: the client sees a gateway error
            reply = {"ok": False, "error": "timeout", "message": str(exc)}
        status, text = (200, "OK") if reply.get("ok") else _STATUS.get(
            reply.get("error", "timeout"), (504, "Gateway Timeout"))
        body = orjson.dumps(reply) + b"\n"
        writer.write(f"HTTP/1.1 {status} {text}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                     + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
