"""Rollout arithmetic: rolling steps, proportional scaling, recreate, history pruning."""

from __future__ import annotations

import pytest
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.controllers import deployment_rollout as rollout
from kubemu.cluster.controllers import deployment_util as util

T0 = 1_800_000_000.0


def deployment(replicas: int, *, surge: object = 0, unavailable: object = 0,
               strategy: str = "RollingUpdate", history: int | None = 10) -> dict:
    spec: dict = {"replicas": replicas, "strategy": {"type": strategy},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "c", "image": "v2"}]}}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    if history is not None:
        spec["revisionHistoryLimit"] = history
    return {"metadata": {"name": "web", "generation": 1}, "spec": spec, "status": {}}


def rs(name: str, replicas: int, *, available: int | None = None, age: int = 0,
       revision: int | None = None, desired: int | None = None, max_replicas: int | None = None,
       image: str = "v1", actual: int | None = None) -> dict:
    annotations = {}
    if revision is not None:
        annotations[util.REVISION] = str(revision)
    if desired is not None:
        annotations[util.DESIRED_REPLICAS] = str(desired)
    if max_replicas is not None:
        annotations[util.MAX_REPLICAS] = str(max_replicas)
    status = {"replicas": replicas if actual is None else actual,
              "availableReplicas": replicas if available is None else available,
              "observedGeneration": 1}
    return {"metadata": {"name": name, "uid": f"uid-{name}", "annotations": annotations,
                         "generation": 1, "creationTimestamp": rfc3339(T0 + age)},
            "spec": {"replicas": replicas, "template": {
                "metadata": {"labels": {"app": "web", "pod-template-hash": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": status}


def sizes(scales: list[rollout.Scale]) -> dict[str, int]:
    return {s.rs["metadata"]["name"]: s.replicas for s in scales}


def test_new_rs_is_the_oldest_with_the_deployments_template() -> None:
    d = deployment(3)
    twins = [rs("b", 0, age=20, image="v2"), rs("a", 0, age=10, image="v2"), rs("o", 3)]
    assert rollout.find_new_rs(d, twins)["metadata"]["name"] == "a"
    assert rollout.find_new_rs(d, [rs("o", 3)]) is None


@pytest.mark.parametrize("replicas,surge,new,old,target", [
    pytest.param(10, 2, 0, 10, 2, id="grows-by-the-surge"),
    pytest.param(10, 2, 2, 10, 2, id="at-the-ceiling-waits"),
    pytest.param(10, 2, 2, 8, 4, id="room-after-old-shrank"),
    pytest.param(10, 5, 8, 3, 10, id="never-past-desired"),
    pytest.param(3, 0, 5, 0, 3, id="too-big-shrinks-to-desired"),
])
def test_new_rs_target(replicas: int, surge: int, new: int, old: int, target: int) -> None:
    d = deployment(replicas, surge=surge, unavailable=1)
    new_rs, old_rs = rs("new", new, image="v2"), rs("old", old)
    assert rollout.new_rs_target(d, [old_rs, new_rs], new_rs) == target


@pytest.mark.parametrize("replicas,unavailable,old,new,expected", [
    pytest.param(10, 2, [rs("o", 8)], rs("n", 4, available=0), {},
                 id="unavailable-new-pods-use-up-the-budget"),
    pytest.param(10, 2, [rs("o", 10)], rs("n", 2, available=2), {"o": 6},
                 id="down-to-the-floor"),
    pytest.param(10, 0, [rs("o", 10)], rs("n", 1, available=1), {"o": 9},
                 id="one-for-one-without-unavailability"),
    pytest.param(4, 1, [rs("o1", 2, available=0, age=0), rs("o2", 2, age=5)],
                 rs("n", 1, available=0, age=9), {"o1": 1},
                 id="unhealthy-replicas-go-first"),
    pytest.param(4, 1, [rs("o", 2, available=3)], rs("n", 3, available=2), {"o": 1},
                 id="stale-status-above-spec-is-capped"),
    pytest.param(4, 1, [rs("o1", 1, age=0), rs("o2", 2, age=5)], rs("n", 2, available=2,
                                                                      age=9),
                 {"o1": 0, "o2": 1}, id="oldest-first"),
])
def test_scale_down_old_keeps_availability(replicas: int, unavailable: int, old: list[dict],
                                           new: dict, expected: dict[str, int]) -> None:
    d = deployment(replicas, surge=1, unavailable=unavailable)
    scales = rollout.scale_down_old(d, [*old, new], old, new)
    assert sizes(scales) == expected
    after = {**{r["metadata"]["name"]: r["spec"]["replicas"] for r in old}, **expected}
    kept = sum(min(rollout.available(r), after[r["metadata"]["name"]]) for r in old)
    before = sum(rollout.available(r) for r in [*old, new])
    assert kept + rollout.available(new) >= min(replicas - unavailable, before)


# Upstream's TestScale cases (sync_test.go): the max-replicas annotation holds the old size.
@pytest.mark.parametrize("replicas,new,old,expected", [
    pytest.param(10, rs("v2", 2, age=10, max_replicas=5, desired=5),
                 [rs("v1", 3, max_replicas=5, desired=5)], {"v2": 4, "v1": 6},
                 id="5-to-10"),
    pytest.param(3, rs("v2", 2, age=10, max_replicas=5, desired=5),
                 [rs("v1", 3, max_replicas=5, desired=5)], {"v1": 2, "v2": 1},
                 id="5-to-3"),
    pytest.param(4, rs("v3", 1, age=20, max_replicas=3, desired=3),
                 [rs("v2", 1, age=10, max_replicas=3, desired=3),
                  rs("v1", 1, max_replicas=3, desired=3)], {"v3": 2, "v2": 1, "v1": 1},
                 id="leftover-to-the-newest-of-equals"),
    pytest.param(0, rs("v2", 2, age=10, max_replicas=5, desired=5),
                 [rs("v1", 3, max_replicas=5, desired=5)], {"v1": 0, "v2": 0},
                 id="to-zero"),
    pytest.param(7, rs("v2", 5, age=10, desired=5, max_replicas=5),
                 [rs("v1", 0, max_replicas=5)], {"v2": 7}, id="single-active-takes-all"),
    pytest.param(5, rs("v2", 5, age=10, desired=3, max_replicas=4), [], {"v2": 5},
                 id="stale-annotation-is-refreshed-at-the-same-size"),
])
def test_proportional_scale(replicas: int, new: dict, old: list[dict],
                            expected: dict[str, int]) -> None:
    d = deployment(replicas)
    assert rollout.is_scaling_event(d, new, old)
    assert sizes(rollout.proportional_scale(d, new, old)) == expected


def test_saturated_new_rs_takes_everything_from_old() -> None:
    d = deployment(3)
    new = rs("n", 3, available=3, desired=3, age=10)
    assert sizes(rollout.proportional_scale(d, new, [rs("o", 2)])) == {"o": 0}


def test_recreate_waits_for_old_pods() -> None:
    new, old = rs("n", 0, image="v2"), [rs("o", 0, actual=0)]
    running = {"uid-o": [{"status": {"phase": "Running"}}], "uid-n": []}
    finished = {"uid-o": [{"status": {"phase": "Succeeded"}}]}
    assert rollout.old_pods_running(new, old, running)
    assert not rollout.old_pods_running(new, old, finished)
    assert rollout.old_pods_running(new, [rs("o", 0, actual=1)], {})
    assert sizes(rollout.recreate_scale_down([rs("o", 2), rs("p", 0)])) == {"o": 0}


def test_history_limit_prunes_oldest_scaled_down_revisions() -> None:
    old = [rs("r1", 0, revision=1), rs("r2", 0, revision=2), rs("r3", 1, revision=3),
           rs("r4", 0, revision=4, actual=1), rs("r5", 0, revision=5)]
    d = deployment(3, history=1)
    assert [r["metadata"]["name"] for r in rollout.rss_to_prune(d, old)] == ["r1", "r2"]
    assert rollout.rss_to_prune(deployment(3, history=None), old) == []
    assert rollout.rss_to_prune(deployment(3, history=5), old) == []
