"""ApiAccess: how a component actor reaches its cluster's API (URL, token, CA), as plain data.

Every control-plane and node actor receives one `ApiAccess` when it starts and builds its own
`ApiClient` from it, as an external client would (components talk only through the API
server: hub and spoke), except that on the API server's host it uses the server's Unix socket
rather than loopback TLS (local_socket.py). It is a frozen dataclass of strings and bytes, so it
pickles across Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemu.actors.http_transport import HttpTransport
from kubemu.actors.local_socket import socket_dir
from kubemu.cluster.client import ApiClient

__all__ = ["ApiAccess"]


@dataclass(frozen=True)
class ApiAccess:
    server: str  # https://127.0.0.1:6443
    token: str
    ca_pem: bytes

    def client(self, *, user_agent: str) -> ApiClient:
        """A client over HTTPS, or over the Unix socket of an API server on this host."""
        return ApiClient(HttpTransport(self.server, token=self.token, ca_data=self.ca_pem,
                                       local_dir=socket_dir(self.token)),
                         user_agent=user_agent)
