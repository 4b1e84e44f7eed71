"""Strategic merge patch with the payloads kubectl sends (apply, patch, edit)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.patch import json_copy, merge_patch
from kubemu.cluster.api.smp import smp_meta_none, strategic_merge_patch

_POD_SPEC = ("spec", "template", "spec")
_META = {
    ("metadata", "finalizers"): ("merge", None),
    ("metadata", "ownerReferences"): ("merge", "uid"),
    _POD_SPEC + ("containers",): ("merge", "name"),
    _POD_SPEC + ("initContainers",): ("merge", "name"),
    _POD_SPEC + ("containers", "env"): ("merge", "name"),
    _POD_SPEC + ("containers", "ports"): ("merge", "containerPort"),
    _POD_SPEC + ("containers", "volumeMounts"): ("merge", "mountPath"),
    _POD_SPEC + ("volumes",): ("merge,retainKeys", "name"),
    ("spec", "strategy"): ("retainKeys", None),
}


def meta(path: tuple[str, ...]) -> tuple[str | None, str | None]:
    return _META.get(path, (None, None))


def _deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "finalizers": ["a", "b"]},
        "spec": {"replicas": 2,
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"spec": {
                     "containers": [
                         {"name": "a", "image": "nginx:1.25", "args": ["-x", "-y"],
                          "env": [{"name": "E1", "value": "1"}, {"name": "E2", "value": "2"}],
                          "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                         {"name": "b", "image": "redis:7"}],
                     "volumes": [{"name": "data", "emptyDir": {}},
                                 {"name": "cfg", "configMap": {"name": "cfg"}}]}}}}


def _containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def _pod_spec_patch(**fields: Any) -> dict:
    return {"spec": {"template": {"spec": fields}}}


def test_kubectl_apply_image_change_touches_only_that_container() -> None:
    doc = _deployment()
    before = copy.deepcopy(doc)
    patch = _pod_spec_patch(**{"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                               "containers": [{"image": "nginx:1.26", "name": "a"}]})
    out = strategic_merge_patch(doc, patch, meta)
    want = copy.deepcopy(before)
    _containers(want)[0]["image"] = "nginx:1.26"
    assert out == want
    assert doc == before


@pytest.mark.parametrize("patch, path, want", [
    pytest.param(_pod_spec_patch(containers=[{"name": "a", "env": [{"name": "E2", "value": "x"}]}]),
                 ("containers", 0, "env"),
                 [{"name": "E1", "value": "1"}, {"name": "E2", "value": "x"}],
                 id="env-merged-by-name"),
    pytest.param(_pod_spec_patch(containers=[{"name": "a", "env": [
                     {"name": "E1", "$patch": "delete"}]}]),
                 ("containers", 0, "env"), [{"name": "E2", "value": "2"}],
                 id="env-delete-item"),
    pytest.param(_pod_spec_patch(containers=[{"name": "a", "env": [
                     {"name": "E2", "valueFrom": {"fieldRef": {"fieldPath": "x"}},
                      "value": None}]}]),
                 ("containers", 0, "env"),
                 [{"name": "E1", "value": "1"},
                  {"name": "E2", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
                 id="env-null-removes-field-of-item"),
    pytest.param(_pod_spec_patch(containers=[{"name": "a", "ports": [
                     {"containerPort": 443, "name": "https"}]}]),
                 ("containers", 0, "ports"),
                 [{"containerPort": 80}, {"containerPort": 443, "name": "https"}],
                 id="ports-merged-by-container-port"),
    pytest.param(_pod_spec_patch(containers=[{"name": "a", "args": ["-z"]}]),
                 ("containers", 0, "args"), ["-z"], id="args-without-strategy-replaced"),
    pytest.param(_pod_spec_patch(containers=[{"name": "b", "$patch": "delete"}]),
                 ("containers",), None, id="container-delete-item"),
    pytest.param(_pod_spec_patch(containers=[{"$patch": "replace"},
                                             {"name": "c", "image": "busybox"}]),
                 ("containers",), [{"name": "c", "image": "busybox"}],
                 id="list-replace-directive"),
    pytest.param(_pod_spec_patch(volumes=[{"$retainKeys": ["configMap", "name"],
                                           "name": "data", "configMap": {"name": "d"}}]),
                 ("volumes",), [{"name": "data", "configMap": {"name": "d"}},
                                {"name": "cfg", "configMap": {"name": "cfg"}}],
                 id="volume-source-switch-with-retain-keys"),
])
def test_pod_template_lists(patch: dict, path: tuple, want: Any) -> None:
    out = strategic_merge_patch(_deployment(), patch, meta)
    node: Any = out["spec"]["template"]["spec"]
    for step in path:
        node = node[step]
    if want is None:
        assert [c["name"] for c in node] == ["a"]
    else:
        assert node == want


@pytest.mark.parametrize("patch, want", [
    pytest.param({"metadata": {"finalizers": ["c"]}}, ["c", "a", "b"],
                 id="set-union-new-first-as-upstream"),
    pytest.param({"metadata": {"finalizers": ["b", "c"]}}, ["a", "b", "c"],
                 id="set-union-interleaves-by-live-order"),
    pytest.param({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}, ["b"],
                 id="delete-from-primitive-list"),
    pytest.param({"metadata": {"$setElementOrder/finalizers": ["a", "b", "c"],
                               "finalizers": ["c"]}}, ["a", "b", "c"],
                 id="kubectl-apply-adds-last"),
    pytest.param({"metadata": {"$setElementOrder/finalizers": ["b", "c"],
                               "$deleteFromPrimitiveList/finalizers": ["a"],
                               "finalizers": ["c"]}}, ["b", "c"],
                 id="kubectl-apply-replaces-one"),
    pytest.param({"metadata": {"$setElementOrder/finalizers": ["b", "a"]}}, ["b", "a"],
                 id="reorder-only"),
    pytest.param({"metadata": {"finalizers": None}}, None, id="null-deletes-list"),
])
def test_finalizers_merge_as_a_set(patch: dict, want: list | None) -> None:
    out = strategic_merge_patch(_deployment(), patch, meta)
    assert out["metadata"].get("finalizers") == want


def test_new_items_come_first_without_set_element_order() -> None:
    # upstream's ordering: patch items in patch order, server-only items interleaved by their
    # live positions; an item new to the list cannot be compared and goes first
    live = {"l": [{"k": "B"}, {"k": "C"}, {"k": "A"}]}
    patch = {"l": [{"k": "A", "v": 1}, {"k": "B", "v": 1}, {"k": "D"}]}
    out = strategic_merge_patch(live, patch, lambda p: ("merge", "k"))
    assert out["l"] == [{"k": "C"}, {"k": "A", "v": 1}, {"k": "B", "v": 1}, {"k": "D"}]
    added = strategic_merge_patch({"l": [{"k": "a"}]}, {"l": [{"k": "b"}]},
                                  lambda p: ("merge", "k"))
    assert added["l"] == [{"k": "b"}, {"k": "a"}]


def test_kubectl_apply_adding_a_container_keeps_declared_order() -> None:
    patch = _pod_spec_patch(**{
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        "containers": [{"name": "c", "image": "busybox", "env": [{"name": "X", "value": None}]}]})
    out = strategic_merge_patch(_deployment(), patch, meta)
    assert [c["name"] for c in _containers(out)] == ["a", "b", "c"]
    assert _containers(out)[2] == {"name": "c", "image": "busybox", "env": [{"name": "X"}]}


def test_server_only_items_keep_live_positions_around_ordered_ones() -> None:
    live = {"env": [{"name": "E2"}, {"name": "E5"}, {"name": "E1"}, {"name": "E3"}]}
    patch = {"$setElementOrder/env": [{"name": "E1"}, {"name": "E2"}, {"name": "E6"}],
             "env": [{"name": "E3", "$patch": "delete"}, {"name": "E6", "value": "new"}]}
    out = strategic_merge_patch(live, patch, lambda p: ("merge", "name"))
    assert [e["name"] for e in out["env"]] == ["E5", "E1", "E2", "E6"]


@pytest.mark.parametrize("patch, want", [
    pytest.param({"spec": {"replicas": 3}}, {"replicas": 3}, id="scalar-replaced"),
    pytest.param({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}},
                 {"strategy": {"type": "Recreate"}}, id="map-replace-directive"),
    pytest.param({"spec": {"strategy": {"$patch": "delete"}}}, {"strategy": {}},
                 id="map-delete-directive-empties-map-as-upstream"),
    pytest.param({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate",
                                        "rollingUpdate": None}}},
                 {"strategy": {"type": "Recreate"}}, id="retain-keys-drops-others"),
    pytest.param({"spec": {"strategy": {"rollingUpdate": {"maxSurge": None}}}},
                 {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}},
                 id="nested-null-deletes"),
    pytest.param({"spec": {"selector": {"matchLabels": {"app": "web", "x": None}}}},
                 {"selector": {"matchLabels": {"app": "web"}}}, id="new-map-drops-nulls"),
])
def test_maps_and_directives(patch: dict, want: dict) -> None:
    out = strategic_merge_patch(_deployment(), patch, meta)
    for key, value in want.items():
        assert out["spec"][key] == value


def test_meta_none_replaces_every_list() -> None:
    out = strategic_merge_patch(_deployment(), _pod_spec_patch(containers=[{"name": "z"}]),
                                smp_meta_none)
    assert _containers(out) == [{"name": "z"}]
    assert smp_meta_none(("spec",)) == (None, None)


def test_directives_are_never_stored() -> None:
    patch = {"metadata": {"ownerReferences": [{"uid": "u1", "$patch": "delete"},
                                              {"uid": "u2", "kind": "ReplicaSet"}],
                          "$setElementOrder/ownerReferences": [{"uid": "u2"}]},
             "spec": {"template": {"spec": {"initContainers": [
                 {"$patch": "replace"}, {"name": "init", "image": None}]}}}}
    out = strategic_merge_patch(_deployment(), patch, meta)
    assert out["metadata"]["ownerReferences"] == [{"uid": "u2", "kind": "ReplicaSet"}]
    assert out["spec"]["template"]["spec"]["initContainers"] == [{"name": "init"}]
    assert "$" not in repr(out)


@pytest.mark.parametrize("patch, message", [
    pytest.param({"spec": {"$frobnicate": 1}}, 'unknown strategic merge patch directive',
                 id="unknown-directive"),
    pytest.param({"spec": {"strategy": {"$patch": "merge-ish"}}}, "Unknown patch type",
                 id="unknown-map-patch-type"),
    pytest.param(_pod_spec_patch(containers=[{"image": "x"}]),
                 "does not contain declared merge key: name", id="item-without-merge-key"),
    pytest.param(_pod_spec_patch(containers=[{"$patch": "delete"}]),
                 "does not contain declared merge key", id="delete-without-merge-key"),
    pytest.param(_pod_spec_patch(containers=[{"name": "a", "$patch": "merge"}]),
                 "cannot yet be specified", id="merge-directive-in-list"),
    pytest.param(_pod_spec_patch(**{"$setElementOrder/containers": [{"name": "b"},
                                                                     {"name": "a"}],
                                    "containers": [{"name": "a"}, {"name": "b"}]}),
                 "doesn't match its $setElementOrder list", id="order-mismatch"),
    pytest.param({"metadata": {"finalizers": [{"x": 1}]}}, "list element types",
                 id="mixed-element-types"),
    pytest.param({"spec": {"strategy": {"$retainKeys": "type"}}}, "must be a list",
                 id="retain-keys-not-list"),
    pytest.param(["not", "a", "map"], "must be a JSON object", id="patch-not-object"),
])
def test_malformed_patch_is_bad_request(patch: Any, message: str) -> None:
    with pytest.raises(BadRequest) as err:
        strategic_merge_patch(_deployment(), patch, meta)
    assert message in err.value.message


def test_result_shares_nothing_with_inputs() -> None:
    doc = _deployment()
    patch = _pod_spec_patch(containers=[{"name": "c", "args": ["x"]}])
    doc_before, patch_before = copy.deepcopy(doc), copy.deepcopy(patch)
    out = strategic_merge_patch(doc, patch, meta)
    for container in _containers(out):
        container.setdefault("args", []).append("mutated")
    out["metadata"]["labels"]["new"] = "x"
    assert doc == doc_before and patch == patch_before


_KEYS = st.sampled_from(["a", "b", "c", "spec"])
_SCALARS = st.one_of(st.booleans(), st.integers(-3, 3), st.text(max_size=2))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(_SCALARS, max_size=3), st.dictionaries(_KEYS, inner | st.none(), max_size=3)),
    max_leaves=10)


@given(doc=st.dictionaries(_KEYS, _VALUES, max_size=4),
       patch=st.dictionaries(_KEYS, _VALUES | st.none(), max_size=4))
def test_without_list_metadata_smp_equals_json_merge_patch(doc: dict, patch: dict) -> None:
    before = json_copy(doc)
    assert strategic_merge_patch(doc, patch, smp_meta_none) == merge_patch(doc, patch)
    assert doc == before


@given(doc=st.dictionaries(_KEYS, _VALUES, max_size=4),
       patch=st.dictionaries(_KEYS, _VALUES | st.none(), max_size=4))
def test_a_handed_over_document_is_patched_in_place_to_the_same_result(
        doc: dict, patch: dict) -> None:
    """What the API server does with the copy it decodes for a patch: no second copy."""
    for patched in (lambda d: strategic_merge_patch(d, patch, smp_meta_none, owned=True),
                    lambda d: merge_patch(d, patch, owned=True)):
        mine, patch_before = json_copy(doc), json_copy(patch)
        assert patched(mine) == strategic_merge_patch(doc, patch, smp_meta_none)
        assert patch == patch_before


def test_a_handed_over_pod_gets_the_kubelets_status_patch_merged_by_condition_type() -> None:
    pod = {"metadata": {"name": "p"}, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "False"}]}}
    patch = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    from kubemu.cluster.api.schemas import patch_meta

    pod_meta = patch_meta("v1", "Pod")
    want = strategic_merge_patch(pod, patch, pod_meta)
    mine = json_copy(pod)
    out = strategic_merge_patch(mine, patch, pod_meta, owned=True)
    assert out == want and out is mine
    assert [c["status"] for c in out["status"]["conditions"]] == ["True", "True"]
