"""ApiAccess: how a component actor reaches its cluster's API (URL, token, CA), as plain data.

Every control-plane and node actor receives one `ApiAccess` when it starts and builds its own
`ApiClient` over HTTPS from it, exactly as an external client would: components talk only
through the API server (hub and spoke). It is a frozen dataclass of strings and bytes, so it
pickles across Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemu.actors.http_transport import HttpTransport
from kubemu.cluster.client import ApiClient

__all__ = ["ApiAccess"]


@dataclass(frozen=True)
class ApiAccess:
    server: str  # https://127.0.0.1:6443
    token: str
    ca_pem: bytes

    def client(self, *, user_agent: str) -> ApiClient:
        return ApiClient(HttpTransport(self.server, token=self.token, ca_data=self.ca_pem),
                         user_agent=user_agent)
