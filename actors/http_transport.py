"""HttpTransport: the API client's transport over HTTP (aiohttp), as actors and users use it.

One aiohttp ClientSession per transport, created lazily inside the running event loop (a
session belongs to the loop that made it; a transport first used from another loop gets a new
one). Every request carries `Authorization: Bearer <token>` when a token is set. A plain
request reads the whole body under `timeout`; a watch (query `watch=true` or `1`) answers at
once with a stream that yields newline-terminated JSON lines as they arrive, however the
server chunks them, with no overall deadline (the server ends watches through
`timeoutSeconds`); closing that stream (`aclose()`) closes the HTTP response, which is how the
server learns the watcher left. Connection failures surface as aiohttp / OS exceptions; the
client's callers (informers) retry them. `load_kubeconfig` reads the server and token of the
current context, which is what `kubemu up` writes.

On uvloop (Ray runs async actors on it) a TLS connect that fails during its handshake -- the
API server killed as the client connects -- leaves the Python socket holding a descriptor
libuv has already closed; when that socket is collected it closes the number again, by then
another live connection's (a watch then hangs silently, and new connects fail with "File
descriptor N is used by transport"). `guard_tls_connects` wraps the loop's
`create_connection` so a failed connect detaches its socket.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from kubemu.cluster.api.request import Request, Response

__all__ = ["HttpTransport", "load_kubeconfig", "default_kubeconfig_path", "guard_tls_connects"]


class HttpTransport:
    """`Transport` over HTTP(S) to `base_url` (e.g. `http://127.0.0.1:6443`)."""

    def __init__(self, base_url: str, *, token: str | None = None, ca: str | None = None,
                 ca_data: bytes | str | None = None, timeout: float = 30.0) -> None:
        """`ca` is a CA file, `ca_data` the CA's PEM itself (what actors receive)."""
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._ssl: ssl.SSLContext | None = None
        if ca or ca_data:
            pem = ca_data.decode() if isinstance(ca_data, bytes) else ca_data
            self._ssl = ssl.create_default_context(cafile=ca, cadata=pem)
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike | None = None, *,
                        timeout: float = 30.0) -> HttpTransport:
        """The current context's server and token, trusting its cluster's CA
        (`certificate-authority-data` or `certificate-authority`) when it names one."""
        from kubemu.actors.kubeconfig import kubeconfig_ca

        path = Path(path) if path is not None else default_kubeconfig_path()
        server, token = load_kubeconfig(path)
        return cls(server, token=token, ca_data=kubeconfig_ca(path), timeout=timeout)

    async def request(self, req: Request) -> Response:
        session = self._client()
        watch = req.query.get("watch") in ("true", "1")
        timeout = (aiohttp.ClientTimeout(total=None, sock_connect=self._timeout) if watch
                   else aiohttp.ClientTimeout(total=self._timeout))
        headers = dict(req.headers)
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
        resp = await session.request(
            req.method, self.base_url + req.path, params=req.query or None, headers=headers,
            data=req.body or None, timeout=timeout,
            **({"ssl": self._ssl} if self._ssl is not None else {}))
        out = Response(status=resp.status, content_type=resp.content_type,
                       headers={k.lower(): v for k, v in resp.headers.items()})
        if watch and 200 <= resp.status < 300:
            out.stream = _LineStream(resp)
            return out
        try:
            out.body = await resp.read()
        finally:
            resp.release()
        return out

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # no connection cap: every open watch holds a connection, and a cap would let
            # watches starve ordinary requests
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
            self._loop = loop
            guard_tls_connects(loop)
        return self._session


def guard_tls_connects(loop: asyncio.AbstractEventLoop) -> None:
    """On a uvloop loop, detach the socket of every `create_connection(sock=...)` that fails
    (libuv owns its descriptor by then, or has closed it); once per loop, a no-op elsewhere
    (asyncio closes the socket itself)."""
    if not type(loop).__module__.startswith("uvloop") or getattr(loop, "_kubemu_guarded", False):
        return
    original = loop.create_connection

    async def create_connection(*args: Any, sock: socket.socket | None = None,
                                **kwargs: Any) -> Any:
        try:
            return await original(*args, sock=sock, **kwargs)
        except BaseException:
            if sock is not None and sock.fileno() != -1:
                sock.detach()
            raise

    loop.create_connection = create_connection  # type: ignore[method-assign]
    loop._kubemu_guarded = True  # type: ignore[attr-defined]


def default_kubeconfig_path() -> Path:
    """$KUBECONFIG (its first entry), else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path.home() / ".kube" / "config"


def load_kubeconfig(path: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """(server URL, bearer token or None) of the kubeconfig's current context."""
    path = Path(path) if path is not None else default_kubeconfig_path()
    config = yaml.safe_load(path.read_text()) or {}
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or ()}
    current = config.get("current-context")
    if not current:
        if len(contexts) != 1:
            raise ValueError(f"{path}: no current-context set")
        current = next(iter(contexts))
    if current not in contexts:
        raise ValueError(f"{path}: context {current!r} not found")
    context = contexts[current]
    cluster = _named(config, "clusters", "cluster", context.get("cluster"), path)
    user = _named(config, "users", "user", context.get("user"), path) if context.get("user") \
        else {}
    server = cluster.get("server")
    if not server:
        raise ValueError(f"{path}: cluster {context.get('cluster')!r} has no server")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    return server, token or None


def _named(config: dict, section: str, field: str, name: str | None, path: Path) -> dict:
    for entry in config.get(section) or ():
        if entry.get("name") == name:
            return entry.get(field) or {}
    raise ValueError(f"{path}: {field} {name!r} not found in {section}")


class _LineStream:
    """A watch response body as whole lines; `aclose()` (also when never iterated) closes
    the response."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self._lines: deque[bytes] = deque()
        self._pending = b""
        self._done = False

    def __aiter__(self) -> _LineStream:
        return self

    async def __anext__(self) -> bytes:
        while not self._lines:
            if self._done:
                raise StopAsyncIteration
            try:
                chunk = await self._resp.content.readany()
            except BaseException:
                self._resp.close()
                raise
            if not chunk:
                self._done = True
                self._resp.release()
                if self._pending.strip():
                    self._lines.append(self._pending + b"\n")
                self._pending = b""
                continue
            *complete, self._pending = (self._pending + chunk).split(b"\n")
            self._lines.extend(line + b"\n" for line in complete if line.strip())
        return self._lines.popleft()

    def abort(self) -> None:
        """Close the connection under a reader: its pending read fails or ends."""
        self._resp.close()

    async def aclose(self) -> None:
        self._done = True
        self._lines.clear()
        self._resp.close()
