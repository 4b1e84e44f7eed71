"""Request and Response: the API server's HTTP exchange as plain data, with no HTTP library.

The router turns a `Request` into a `Response`; the aiohttp front (actors/) and the client's
in-process transport both speak these, so every API behaviour is testable without sockets.
Header names are lower-case; `query` keeps the first value of each parameter (the API never
repeats one). A watch answers with `stream`: an async iterator of newline-terminated JSON
event lines, closed by the consumer with `aclose()`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

__all__ = ["Request", "Response", "JSON"]

JSON = "application/json"


@dataclass
class Request:
    method: str  # GET, POST, PUT, PATCH, DELETE
    path: str  # "/api/v1/namespaces/default/pods"
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterator[bytes] | None = None  # watch: one JSON event per line
