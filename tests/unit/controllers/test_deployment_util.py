"""Deployment helpers: pod-template-hash, revision annotations, fenceposts, templates."""

from __future__ import annotations

import pytest
from kubemu.cluster.controllers import deployment_util as util


def deployment(replicas: int = 4, *, surge: object = "25%", unavailable: object = "25%",
               annotations: dict | None = None, strategy: str = "RollingUpdate") -> dict:
    spec: dict = {"replicas": replicas, "strategy": {"type": strategy}}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "annotations": annotations or {}}, "spec": spec}


def rs(annotations: dict | None = None) -> dict:
    return {"metadata": {"name": "web-x", "annotations": dict(annotations or {})},
            "spec": {"replicas": 1}}


TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}


def test_fnv32a_matches_the_reference_vectors() -> None:
    assert util._fnv32a(b"") == 0x811C9DC5
    assert util._fnv32a(b"a") == 0xE40C292C
    assert util._fnv32a(b"foobar") == 0xBF9CF968


def test_safe_encode_maps_digits_into_the_vowel_free_alphabet() -> None:
    assert util.safe_encode("0123456789") == "456789bcdf"


def test_hash_is_stable_key_order_free_and_changes_with_collision_count() -> None:
    reordered = {"spec": TEMPLATE["spec"], "metadata": TEMPLATE["metadata"]}
    first = util.compute_hash(TEMPLATE)
    assert first == util.compute_hash(reordered)
    assert set(first) <= set("456789bcdf")
    assert util.compute_hash(TEMPLATE, 0) != first
    assert util.compute_hash(TEMPLATE, 1) != util.compute_hash(TEMPLATE, 0)
    other = {**TEMPLATE, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}
    assert util.compute_hash(other) != first


@pytest.mark.parametrize("a,b,equal", [
    pytest.param(TEMPLATE, {"metadata": {"labels": {"app": "web", "pod-template-hash": "x"}},
                            "spec": TEMPLATE["spec"]}, True, id="hash-label-ignored"),
    pytest.param({"metadata": {"labels": {"pod-template-hash": "x"}}, "spec": {}},
                 {"metadata": {}, "spec": {}}, True, id="empty-and-missing-labels-equal"),
    pytest.param(TEMPLATE, {"metadata": {"labels": {"app": "db"}}, "spec": TEMPLATE["spec"]},
                 False, id="other-label-differs"),
    pytest.param(TEMPLATE, {**TEMPLATE, "spec": {"containers": [{"name": "c",
                                                                 "image": "nginx:2"}]}},
                 False, id="image-differs"),
])
def test_equal_ignore_hash(a: dict, b: dict, equal: bool) -> None:
    assert util.equal_ignore_hash(a, b) is equal


@pytest.mark.parametrize("surge,unavailable,replicas,expected", [
    pytest.param("25%", "25%", 4, (1, 1), id="defaults-of-4"),
    pytest.param("25%", "25%", 10, (3, 2), id="surge-rounds-up-unavailable-down"),
    pytest.param(0, "10%", 3, (0, 1), id="both-zero-after-rounding-means-one-unavailable"),
    pytest.param(2, 0, 3, (2, 0), id="ints-as-given"),
    pytest.param("100%", 0, 3, (3, 0), id="full-surge"),
])
def test_resolve_fenceposts(surge: object, unavailable: object, replicas: int,
                            expected: tuple[int, int]) -> None:
    assert util.resolve_fenceposts(surge, unavailable, replicas) == expected


@pytest.mark.parametrize("d,surge,unavailable", [
    pytest.param(deployment(4, unavailable="100%", surge=0), 0, 4, id="unavailable-capped"),
    pytest.param(deployment(0), 0, 0, id="zero-replicas-nothing-unavailable"),
    pytest.param(deployment(4, strategy="Recreate"), 0, 0, id="recreate-has-no-fenceposts"),
])
def test_max_surge_and_unavailable_of_a_deployment(d: dict, surge: int,
                                                   unavailable: int) -> None:
    assert (util.max_surge(d), util.max_unavailable(d)) == (surge, unavailable)


def test_new_rs_gets_revision_replicas_annotations_and_the_deployments_own() -> None:
    d = deployment(4, annotations={"team": "a", util.LAST_APPLIED: "{}", util.REVISION: "7",
                                   "kubernetes.io/change-cause": "set image"})
    new = rs()
    assert util.set_new_rs_annotations(d, new, 3, exists=False)
    assert new["metadata"]["annotations"] == {
        "team": "a", "kubernetes.io/change-cause": "set image", util.REVISION: "3",
        util.DESIRED_REPLICAS: "4", util.MAX_REPLICAS: "5"}
    assert not util.set_new_rs_annotations(d, new, 3, exists=True)


def test_rollback_moves_the_old_revision_into_history() -> None:
    d = deployment()
    old = rs({util.REVISION: "1"})
    assert util.set_new_rs_annotations(d, old, 3, exists=True)
    assert old["metadata"]["annotations"][util.REVISION] == "3"
    assert old["metadata"]["annotations"][util.REVISION_HISTORY] == "1"
    util.set_new_rs_annotations(d, old, 5, exists=True)
    assert old["metadata"]["annotations"][util.REVISION_HISTORY] == "1,3"


def test_a_higher_revision_is_never_lowered() -> None:
    new = rs({util.REVISION: "9"})
    assert not util.set_new_rs_annotations(deployment(), new, 4, exists=True)
    assert new["metadata"]["annotations"] == {util.REVISION: "9"}


def test_revision_history_is_bounded() -> None:
    history = ",".join(str(n) for n in range(1000, 1400))  # 1999 characters
    assert util._append_history(history, "1400").split(",")[-1] == "1400"
    assert len(util._append_history(history, "1400")) <= util.MAX_REV_HISTORY_CHARS


def test_max_revision_ignores_garbage() -> None:
    assert util.max_revision([rs({util.REVISION: "2"}), rs({util.REVISION: "x"}), rs(),
                              None]) == 2
