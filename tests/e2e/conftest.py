"""E2E fixtures: one local Ray instance for the whole session (Ray takes seconds to start).

Every e2e test that needs Ray asks for `ray_session`; tests isolate themselves by cluster name
(each cluster is its own Ray namespace), never by restarting Ray.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

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
