"""Local sockets: the API server's second door for components on its own host.

Users, kubectl and client libraries reach the API server over HTTPS, as they reach
kube-apiserver. Component actors on the API server's host (node pools, the scheduler, the
controller manager, the DNS) make a dozen requests per pod and hold hundreds of watches; over
loopback TLS, encrypting and framing those cost the API server about half of each request's
transport time (bench: 300 vs 145 us of server CPU per 2 KiB answer, HTTPS against a Unix
socket). So each API server replica also listens on a Unix socket, and a component's client
uses one when its host has one (bearer token still required; the directory is the user's
alone, mode 0700). A component on another host, or on a host whose replica is down, finds no
live socket and uses HTTPS, as before.

The directory is host-local, named after a digest of the cluster's token (new at every
`kubemu up`: two clusters on one host, or one started twice, never share sockets) and the Ray
node the process runs on (hosts that share a file system, as network namespaces on one machine
do, still reach each other only over the network).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import ray

__all__ = ["socket_dir", "socket_path"]


def socket_dir(token: str) -> Path:
    """This host's directory for the sockets of the cluster with this token."""
    digest = hashlib.sha256(f"{token}\n{_ray_node()}".encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"kubemu-{os.getuid()}" / digest


def socket_path(token: str, index: int) -> Path:
    """Where API server replica `index` listens, created with its parents (mode 0700)."""
    directory = socket_dir(token)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.parent.chmod(0o700)
    return directory / f"apiserver-{index}.sock"


def _ray_node() -> str:
    """The Ray node this process runs on ("" outside Ray)."""
    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
