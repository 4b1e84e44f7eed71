"""Chaos fixtures: the e2e session cluster (tests/e2e/conftest.py), reused as it is.

Chaos tests kill actors of the one shared cluster, so each must end by checking that every
actor it killed is back and serving: the next test (chaos or e2e) finds a healthy cluster.
The fixtures are imported, not moved (tests/e2e/conftest.py is being edited meanwhile), so a
run of this folder starts its own session cluster; `pytest tests/e2e tests/chaos` in one
run would start two, until they move to tests/conftest.py.
"""

from tests.e2e.conftest import ApiCluster, api_cluster, ns, ray_session  # noqa: F401
