"""HttpTransport over a real loopback aiohttp server, and load_kubeconfig.

The server is a few local routes (echo, a Status error, a chunked watch that notices when
the client leaves), started per test on 127.0.0.1 port 0; the client is the real ApiClient.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import socket
import struct
from contextlib import asynccontextmanager

import orjson
import pytest
import uvloop
from aiohttp import web

from kubemu.actors.certs import client_ssl_context, make_serving_certs, server_ssl_context
from kubemu.actors.http_transport import HttpTransport, load_kubeconfig
from kubemu.cluster.api import errors
from kubemu.cluster.api.request import Request
from kubemu.cluster.client import ApiClient

TOKEN = "s3cret"


class Server:
    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.left = asyncio.Event()  # the watch client closed its connection
        self.app = web.Application()
        self.app.router.add_route("*", "/api/v1/namespaces/prod/configmaps/{name}", self.echo)
        self.app.router.add_get("/api/v1/namespaces/prod/pods/{name}", self.not_found)
        self.app.router.add_get("/api/v1/pods", self.watch)

    async def echo(self, request: web.Request) -> web.Response:
        self.seen.append({"method": request.method, "path": request.path,
                          "query": dict(request.query),
                          "auth": request.headers.get("Authorization"),
                          "content_type": request.headers.get("Content-Type"),
                          "body": (await request.read()).decode()})
        return web.json_response({"metadata": {"name": request.match_info["name"]}})

    async def not_found(self, request: web.Request) -> web.Response:
        err = errors.NotFound.of("pods", "", request.match_info["name"])
        return web.Response(status=404, body=err.body(), content_type="application/json")

    async def watch(self, request: web.Request) -> web.StreamResponse:
        assert request.query["watch"] == "true"
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)
        events = b"".join(orjson.dumps({"type": "ADDED", "object": {
            "metadata": {"name": f"p{i}", "resourceVersion": str(i)}}}) + b"\n"
            for i in range(3))
        for cut in range(0, len(events), 25):  # chunks that split lines anywhere
            await resp.write(events[cut:cut + 25])
        try:
            await asyncio.Event().wait()  # keep the stream open until the client leaves
        finally:
            self.left.set()
        return resp


@asynccontextmanager
async def serving():
    server = Server()
    runner = web.AppRunner(server.app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    transport = HttpTransport(f"http://127.0.0.1:{port}/", token=TOKEN, timeout=5)
    try:
        yield server, ApiClient(transport)
    finally:
        await transport.close()
        await runner.cleanup()


async def test_requests_carry_path_query_body_and_bearer_token():
    async with serving() as (server, client):
        got = await client.patch("v1", "ConfigMap", "cfg", {"data": {"a": "1"}},
                                 namespace="prod", field_manager="me")
        assert got == {"metadata": {"name": "cfg"}}
    assert server.seen == [{"method": "PATCH", "path": "/api/v1/namespaces/prod/configmaps/cfg",
                            "query": {"fieldManager": "me"}, "auth": f"Bearer {TOKEN}",
                            "content_type": "application/merge-patch+json",
                            "body": '{"data":{"a":"1"}}'}]


async def test_query_values_arrive_unmangled():
    query = {"continue": "eyJ+a/b=", "labelSelector": "app in (a,b),tier!=db"}
    async with serving() as (server, client):
        await client.raw("GET", "/api/v1/namespaces/prod/configmaps/x", query=query)
    assert server.seen[0]["query"] == query


async def test_status_error_body_becomes_its_api_error():
    async with serving() as (_, client):
        with pytest.raises(errors.NotFound, match='pods "web" not found'):
            await client.get("v1", "Pod", "web", namespace="prod")


async def test_watch_streams_whole_lines_and_closing_it_drops_the_connection():
    async with serving() as (server, client):
        events = client.watch("v1", "Pod")
        names = [(await anext(events))["object"]["metadata"]["name"] for _ in range(3)]
        assert names == ["p0", "p1", "p2"]
        assert not server.left.is_set()
        await events.aclose()
        await asyncio.wait_for(server.left.wait(), 2)


KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: {current}
clusters:
- name: kubemu
  cluster: {{server: "http://127.0.0.1:6443"}}
- name: other
  cluster: {{server: "https://10.0.0.1"}}
contexts:
- name: kubemu
  context: {{cluster: kubemu, user: admin}}
- name: other
  context: {{cluster: other, user: filed}}
users:
- name: admin
  user: {{token: abc}}
- name: filed
  user: {{tokenFile: {token_file}}}
"""


@pytest.mark.parametrize("current, expected", [
    pytest.param("kubemu", ("http://127.0.0.1:6443", "abc"), id="inline-token"),
    pytest.param("other", ("https://10.0.0.1", "from-file"), id="token-file"),
])
def test_load_kubeconfig_reads_the_current_context(tmp_path, current, expected):
    (tmp_path / "token").write_text("from-file\n")
    path = tmp_path / "config"
    path.write_text(KUBECONFIG.format(current=current, token_file=tmp_path / "token"))
    assert load_kubeconfig(path) == expected


def test_load_kubeconfig_refuses_a_missing_context(tmp_path):
    path = tmp_path / "config"
    path.write_text(KUBECONFIG.format(current="gone", token_file="x"))
    with pytest.raises(ValueError, match="context 'gone' not found"):
        load_kubeconfig(path)


async def test_a_transport_from_a_kubeconfig_trusts_the_ca_it_names(tmp_path):
    """A kubemu kubeconfig carries the cluster's CA inline, as kubectl's does; a client built
    from it verifies the server against that CA (and nothing else)."""
    certs = make_serving_certs(cluster="t", hosts=["127.0.0.1"])
    server = Server()
    runner = web.AppRunner(server.app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(certs))
    await site.start()
    port = runner.addresses[0][1]
    path = tmp_path / "config"
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: t
clusters:
- name: t
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority-data: {base64.b64encode(certs.ca_pem).decode()}
contexts:
- name: t
  context: {{cluster: t, user: admin}}
users:
- name: admin
  user: {{token: {TOKEN}}}
""")
    client = ApiClient(HttpTransport.from_kubeconfig(path, timeout=5))
    try:
        got = await client.get("v1", "ConfigMap", "cfg", namespace="prod")
        assert got == {"metadata": {"name": "cfg"}}
        assert server.seen[0]["auth"] == f"Bearer {TOKEN}"
    finally:
        await client.close()
        await runner.cleanup()


def test_a_tls_connect_reset_mid_handshake_does_not_break_a_later_connection():
    """On uvloop, as Ray runs actors: a TLS connect whose peer resets it during the handshake
    (an API server killed as a client connects) fails, and a watch opened afterwards -- on the
    descriptor number the failed connect had -- keeps receiving once the failed connect's
    socket is collected, and new requests still succeed."""
    uvloop.run(_reset_then_watch())


async def _reset_then_watch() -> None:
    loop = asyncio.get_running_loop()
    certs = make_serving_certs(cluster="t", hosts=["127.0.0.1"])
    watches: list[asyncio.Queue[bytes]] = []  # the lines to send, per watch

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        watches.append(lines := asyncio.Queue())
        await resp.write(b"{}\n")
        while True:
            await resp.write(await lines.get())

    app = web.Application()
    app.router.add_get("/api/v1/pods", stream)
    runner = web.AppRunner(app, shutdown_timeout=1)  # the streams never end by themselves
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(certs)).start()
    url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    first = HttpTransport(url, ca_data=certs.ca_pem, timeout=5)
    second = HttpTransport(url, ca_data=certs.ca_pem, timeout=5)
    resetting = socket.socket()
    resetting.bind(("127.0.0.1", 0))
    resetting.listen()
    try:
        # the first transport connects (as an actor's client does)
        watch = await first.request(Request("GET", "/api/v1/pods", query={"watch": "true"}))
        assert await asyncio.wait_for(anext(aiter(watch.stream)), 5) == b"{}\n"

        failed = socket.socket()
        failed.setblocking(False)
        await loop.sock_connect(failed, resetting.getsockname())
        accepted, _ = resetting.accept()
        accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        accepted.close()  # a reset before the handshake completes
        with pytest.raises(OSError):
            await loop.create_connection(asyncio.Protocol, sock=failed,
                                         ssl=client_ssl_context(certs.ca_pem),
                                         server_hostname="127.0.0.1")
        later = await second.request(Request("GET", "/api/v1/pods", query={"watch": "true"}))
        assert await asyncio.wait_for(anext(aiter(later.stream)), 5) == b"{}\n"
        del failed
        gc.collect()
        watches[-1].put_nowait(b'{"n":2}\n')
        assert await asyncio.wait_for(anext(aiter(later.stream)), 5) == b'{"n":2}\n'
        await later.stream.aclose()
        await watch.stream.aclose()
    finally:
        resetting.close()
        await first.close()
        await second.close()
        await runner.cleanup()
