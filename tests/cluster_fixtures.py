"""Cluster fixtures for the e2e and chaos tests: one local Ray instance and one cluster for the
whole session (Ray takes seconds to start, a cluster a minute), loaded as a plugin by
tests/conftest.py so both folders share them.

Every test that needs Ray asks for `ray_session`; tests isolate themselves by cluster name
(each cluster is its own Ray namespace) or namespace (`ns`), never by restarting Ray. Chaos
tests that kill actors of the shared cluster end by checking the actors are back.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import ray


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
    """A whole cluster on the session's Ray, with a kubeconfig for clients."""

    name: str
    server: str
    token: str
    kubeconfig: str
    ca_file: str
    info: object = None  # bootstrap.ClusterInfo

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 60,
                check: bool = True) -> subprocess.CompletedProcess:
        """Run real kubectl against the cluster; fails the test with its stderr on error."""
        proc = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, *args],
                              input=input, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed ({proc.returncode}): "
                        f"{proc.stderr.strip()}")
        return proc

    def client(self):
        """A fresh ApiClient over HTTPS (use it inside one asyncio.run)."""
        from kubemu.actors.http_transport import HttpTransport
        from kubemu.cluster.client import ApiClient

        return ApiClient(HttpTransport(self.server, token=self.token, ca=self.ca_file))


NODES, ZONES, TIME_SCALE = 6, 3, 10.0


@pytest.fixture(scope="session")
def api_cluster(ray_session, tmp_path_factory) -> Iterator[ApiCluster]:
    """One cluster for every e2e test that needs one: a 3-replica store, two API servers
    sharing a port, two controller managers and two schedulers (each pair leader-elected)
    and 6 nodes in 3 zones, with Kubernetes time running 10x faster (grace periods,
    backoffs, leases)."""
    from kubemu.actors import bootstrap

    name = f"e2e-{uuid.uuid4().hex[:6]}"
    home = tmp_path_factory.mktemp("e2e-cluster")
    info = asyncio.run(bootstrap.up(name=name, home=home, api_port=free_port(),
                                    apiservers=2, nodes=NODES, zones=ZONES,
                                    time_scale=TIME_SCALE, schedulers=2,
                                    controller_managers=2, dns_port=0))
    ca_file = home / "ca.crt"
    ca_file.write_bytes(info.ca_pem)
    try:
        yield ApiCluster(name=name, server=info.server, token=info.token,
                         kubeconfig=str(info.kubeconfig), ca_file=str(ca_file), info=info)
    finally:
        asyncio.run(bootstrap.down(info))


@pytest.fixture
def ns(api_cluster) -> Iterator[str]:
    """A fresh namespace on the session cluster, deleted (without waiting) after the test."""
    name = f"t-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", name)
    yield name
    api_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
