"""Shared fixtures: the session's Ray and cluster (tests/cluster_fixtures.py) for tests/e2e and
tests/chaos, one instance per run whichever folders it covers. Chaos tests kill actors of that
shared cluster (and leave it healthy, with restarted actors), so they run after every other
test of the session: the e2e tests see the cluster as a user first meets it."""

from __future__ import annotations

pytest_plugins = ["tests.cluster_fixtures"]


def pytest_collection_modifyitems(session, config, items) -> None:
    items.sort(key=lambda item: "/tests/chaos/" in str(item.path).replace("\\", "/"))
