"""DefaultTolerationSeconds admission through the API: every created pod tolerates the
not-ready and unreachable NoExecute taints for 300 s unless it already tolerates them."""

from __future__ import annotations

import pytest

from .manifests import deployment

PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"


def _default(key: str) -> dict:
    return {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}


@pytest.mark.parametrize("given,expected", [
    pytest.param(None, [_default(NOT_READY), _default(UNREACHABLE)], id="none-given-both-added"),
    pytest.param([{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                 [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"},
                  _default(NOT_READY), _default(UNREACHABLE)], id="user-tolerations-kept"),
    pytest.param([{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                   "tolerationSeconds": 6000}],
                 [{"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                   "tolerationSeconds": 6000}, _default(NOT_READY)],
                 id="own-unreachable-toleration-wins"),
    pytest.param([{"key": NOT_READY, "operator": "Exists"}],
                 [{"key": NOT_READY, "operator": "Exists"}, _default(UNREACHABLE)],
                 id="any-effect-toleration-counts"),
    pytest.param([{"operator": "Exists"}], [{"operator": "Exists"}],
                 id="wildcard-tolerates-everything"),
    pytest.param([{"operator": "Exists", "effect": "NoSchedule"}],
                 [{"operator": "Exists", "effect": "NoSchedule"}, _default(NOT_READY),
                  _default(UNREACHABLE)], id="wildcard-of-other-effect-does-not-count"),
])
async def test_created_pods_get_default_not_ready_and_unreachable_tolerations(
        api, given: list | None, expected: list) -> None:
    spec: dict = {"containers": [{"name": "c", "image": "nginx"}]}
    if given is not None:
        spec["tolerations"] = given
    pod = await api.json("POST", PODS, {"metadata": {"name": "p"}, "spec": spec}, expect=201)
    assert pod["spec"]["tolerations"] == expected
    stored = await api.json("GET", f"{PODS}/p")
    assert stored["spec"]["tolerations"] == expected


async def test_pod_templates_are_not_admitted(api) -> None:
    created = await api.json("POST", DEPLOYS, deployment(), expect=201)
    assert "tolerations" not in created["spec"]["template"]["spec"]
