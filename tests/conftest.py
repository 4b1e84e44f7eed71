"""Shared fixtures: the session's Ray and cluster (tests/cluster_fixtures.py) for tests/e2e and
tests/chaos, one instance per run whichever folders it covers."""

pytest_plugins = ["tests.cluster_fixtures"]
