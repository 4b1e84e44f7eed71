"""The eviction subresource (policy/v1 Eviction) against PodDisruptionBudget statuses written
by hand: which pods a budget guards, unhealthyPodEvictionPolicy, stale budgets, dry run."""

from __future__ import annotations

import pytest

PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"


async def _pod(api, name: str, *, phase: str = "Running", ready: bool = True) -> dict:
    await api.json("POST", PODS, {"metadata": {"name": name, "labels": {"app": "db"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                   expect=201)
    await api.json("POST", f"{PODS}/{name}/binding", {"target": {"name": "n1"}}, expect=201)
    pod = await api.json("GET", f"{PODS}/{name}")
    pod["status"]["phase"] = phase
    pod["status"]["conditions"].append({"type": "Ready", "status": str(ready)})
    return await api.json("PUT", f"{PODS}/{name}/status", pod)


async def _budget(api, name: str = "db", *, status: dict, generation_seen: int = 1,
                  **spec: object) -> dict:
    pdb = await api.json("POST", PDBS, {"metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": {"app": "db"}}, **spec}}, expect=201)
    pdb["status"] = {"observedGeneration": generation_seen, **status}
    return await api.json("PUT", f"{PDBS}/{name}/status", pdb)


def _eviction(name: str, **extra: object) -> dict:
    return {"apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": name, "namespace": "default"}, **extra}


async def _evicted(api, name: str) -> bool:
    resp = await api.call("GET", f"{PODS}/{name}")
    return resp.status == 404 or b"deletionTimestamp" in resp.body


ALLOWS_NONE = {"disruptionsAllowed": 0, "currentHealthy": 2, "desiredHealthy": 2,
               "expectedPods": 3}
SHORT = {"disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 2, "expectedPods": 3}


@pytest.mark.parametrize(("policy", "status", "code"), [
    pytest.param("AlwaysAllow", SHORT, 201, id="always-allow-evicts-unready-even-when-short"),
    pytest.param("IfHealthyBudget", ALLOWS_NONE, 201,
                 id="if-healthy-budget-evicts-unready-while-budget-met"),
    pytest.param("IfHealthyBudget", SHORT, 429, id="if-healthy-budget-guards-when-short"),
    pytest.param(None, SHORT, 429, id="default-policy-is-if-healthy-budget"),
])
async def test_an_unready_pod_follows_the_unhealthy_pod_eviction_policy(api, policy, status,
                                                                       code):
    await _pod(api, "sick", ready=False)
    spec = {"unhealthyPodEvictionPolicy": policy} if policy else {}
    await _budget(api, minAvailable=2, status=status, **spec)
    await api.json("POST", f"{PODS}/sick/eviction", _eviction("sick"), expect=code)
    assert await _evicted(api, "sick") == (code == 201)
    after = await api.json("GET", f"{PDBS}/db")
    assert after["status"]["disruptionsAllowed"] == 0  # an unready pod costs nothing
    assert "disruptedPods" not in after["status"]


@pytest.mark.parametrize(("phase",), [
    pytest.param("Pending", id="pending"),
    pytest.param("Succeeded", id="succeeded"),
    pytest.param("Failed", id="failed"),
])
async def test_pods_that_do_not_run_ignore_the_budget(api, phase):
    await _pod(api, "p", phase=phase)
    await _budget(api, minAvailable=5, status=SHORT)
    await api.json("POST", f"{PODS}/p/eviction", _eviction("p"), expect=201)
    assert await _evicted(api, "p")


async def test_a_budget_not_yet_observed_refuses_with_a_retry_hint(api):
    await _pod(api, "p")
    await _budget(api, generation_seen=0, maxUnavailable=1,
                  status={"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2,
                          "expectedPods": 3})
    refused = await api.json("POST", f"{PODS}/p/eviction", _eviction("p"), expect=429)
    assert refused["message"] == ("Cannot evict pod as it would violate the pod's disruption "
                                  "budget.")
    assert refused["details"]["causes"][0]["message"] == \
        "The disruption budget db is still being processed by the server."
    assert refused["details"]["retryAfterSeconds"] == 10


async def test_the_last_allowed_disruption_turns_the_condition_false(api):
    await _pod(api, "p")
    await _budget(api, maxUnavailable=1, status={
        "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
        "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason":
                        "SufficientPods", "message": "", "observedGeneration": 1,
                        "lastTransitionTime": "2027-01-01T00:00:00Z"}]})
    await api.json("POST", f"{PODS}/p/eviction", _eviction("p"), expect=201)
    after = (await api.json("GET", f"{PDBS}/db"))["status"]
    assert after["disruptionsAllowed"] == 0 and list(after["disruptedPods"]) == ["p"]
    cond = after["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")


async def test_a_pod_under_two_budgets_cannot_be_evicted(api):
    await _pod(api, "p")
    allows = {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2,
              "expectedPods": 3}
    await _budget(api, "one", maxUnavailable=1, status=allows)
    await _budget(api, "two", maxUnavailable=1, status=allows)
    failed = await api.json("POST", f"{PODS}/p/eviction", _eviction("p"), expect=500)
    assert "more than one PodDisruptionBudget" in failed["message"]


async def test_a_dry_run_eviction_changes_nothing(api):
    await _pod(api, "p")
    await _budget(api, maxUnavailable=1, status={
        "disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3})
    await api.json("POST", f"{PODS}/p/eviction", _eviction("p"), query={"dryRun": "All"},
                   expect=201)
    assert not await _evicted(api, "p")
    assert (await api.json("GET", f"{PDBS}/db"))["status"]["disruptionsAllowed"] == 1


async def test_an_eviction_naming_another_pod_is_rejected(api):
    await _pod(api, "p")
    await api.json("POST", f"{PODS}/p/eviction", _eviction("q"), expect=400)


async def test_a_pod_without_a_budget_is_evicted_with_its_delete_options(api):
    await _pod(api, "p")
    await api.json("POST", f"{PODS}/p/eviction",
                   _eviction("p", deleteOptions={"gracePeriodSeconds": 0}), expect=201)
    assert (await api.call("GET", f"{PODS}/p")).status == 404
