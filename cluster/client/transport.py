"""Transport: how the API client reaches an API server, swappable (as httpx's transports are).

The client speaks only `Request` / `Response` (kubemu.cluster.api.request), so the same client
code runs over HTTP (actors/http_transport.py, for actors and users) or straight into the
router in-process (`RouterTransport`, for unit tests and the deterministic simulation).
A watch answers a `Response` whose `stream` yields newline-terminated JSON event lines; the
consumer closes the stream with `aclose()` when it stops reading, which is how a transport
learns to drop the connection. `close()` releases whatever the transport holds.
"""

from __future__ import annotations

from typing import Protocol

from kubemu.cluster.api.request import Request, Response

__all__ = ["Transport", "RouterTransport", "Handler"]


class Transport(Protocol):
    async def request(self, req: Request) -> Response:
        """Send one request; a watch's events come back in `Response.stream`."""
        ...

    async def close(self) -> None:
        """Release connections; the transport is not used afterwards."""
        ...


class Handler(Protocol):
    """What `RouterTransport` needs of the router: one async `handle`."""

    async def handle(self, req: Request) -> Response: ...


class RouterTransport:
    """In-process transport: each request is a direct `await router.handle(req)`; with a
    `token`, each carries `authorization: Bearer <token>` as an HTTP client's would."""

    def __init__(self, router: Handler, *, token: str | None = None) -> None:
        self.router = router
        self._token = token

    async def request(self, req: Request) -> Response:
        if self._token:
            req.headers = {**req.headers, "authorization": f"Bearer {self._token}"}
        return await self.router.handle(req)

    async def close(self) -> None:
        return None
