"""Runtime: how kubemu finds Ray and names its actors.

Every cluster lives in its own Ray namespace `kubemu-{cluster}`, so two clusters (or two tests)
on one Ray instance never see each other's actors; inside it the store replicas are `store-{id}`.
`ensure_ray` starts a local Ray instance (no dashboard, usage stats off) only when the process
is not already connected, so a driver, a test fixture or a CLI command may call it freely.
"""

from __future__ import annotations

import os
from typing import Any

import ray

__all__ = ["namespace", "store_actor_name", "init_local", "ensure_ray"]


def namespace(cluster: str) -> str:
    """The Ray namespace holding every actor of `cluster`."""
    return f"kubemu-{cluster}"


def store_actor_name(replica_id: int) -> str:
    return f"store-{replica_id}"


def init_local(*, namespace: str | None = None, num_cpus: int | None = None,
               **options: Any) -> None:
    """Start (or join, with `address=...`) Ray for local use: no dashboard, usage stats off."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(namespace=namespace, num_cpus=num_cpus, include_dashboard=False,
             ignore_reinit_error=True, **options)


def ensure_ray() -> None:
    """Connect to Ray unless this process already is (an actor, a driver, a test fixture)."""
    if not ray.is_initialized():
        init_local()
