"""E2E fixtures: one local Ray instance for the whole session (Ray takes seconds to start).

Every e2e test that needs Ray asks for `ray_session`; tests isolate themselves by cluster name
(each cluster is its own Ray namespace), never by restarting Ray.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import ray
import yaml


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """Ray on this machine for the session: 2 CPUs, no dashboard; shut down at the end."""
    if ray.is_initialized():  # someone (a plugin, an outer harness) already connected
        yield
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, namespace="kubemu-e2e",
             configure_logging=True, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


@dataclass
class ApiCluster:
    """A store and two API servers on the session's Ray, with a kubeconfig for clients."""

    name: str
    server: str
    token: str
    kubeconfig: str
    ca_file: str

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess:
        """Run real kubectl against the cluster; fails the test with its stderr on error."""
        proc = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args],
                              input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}): "
                        f"{proc.stderr.strip()}")
        return proc


@pytest.fixture(scope="session")
def api_cluster(ray_session, tmp_path_factory) -> Iterator[ApiCluster]:
    """One API-server cluster for every e2e test that needs one (two API servers sharing a
    port over a 3-replica store)."""
    from kubemu.actors.apiserver import start_apiservers, stop_apiservers
    from kubemu.actors.certs import make_serving_certs
    from kubemu.actors.store_replica import start_store, stop_store

    name = f"api-{uuid.uuid4().hex[:6]}"
    home = tmp_path_factory.mktemp("api-cluster")
    port = free_port()
    token = secrets.token_urlsafe(24)
    certs = make_serving_certs(cluster=name, hosts=["127.0.0.1"])

    async def start() -> list:
        await start_store(cluster=name, replicas=3, data_dir=str(home / "store"))
        return await start_apiservers(cluster=name, store_replicas=3, count=2, port=port,
                                      token=token, certs=certs)

    handles = asyncio.run(start())
    server = f"https://127.0.0.1:{port}"
    kubeconfig = home / "kubeconfig"
    ca_file = home / "ca.crt"
    ca_file.write_bytes(certs.ca_pem)
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "e2e",
        "clusters": [{"name": "e2e", "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(certs.ca_pem).decode()}}],
        "users": [{"name": "e2e", "user": {"token": token}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}]}))
    try:
        yield ApiCluster(name=name, server=server, token=token, kubeconfig=str(kubeconfig),
                         ca_file=str(ca_file))
    finally:
        asyncio.run(stop_apiservers(handles))
        stop_store(cluster=name, replicas=3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
