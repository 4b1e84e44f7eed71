"""claim_candidates: what a claim can act on, read from indexes instead of a namespace walk."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.client.lister import LABEL_INDEX, Cache, Lister, label_index
from kubemu.cluster.controllers.ownership import (
    CONTROLLER_INDEX,
    claim_candidates,
    controller_index,
    controller_of,
)

OWNER_UID = "rs-uid"
LABELS = st.dictionaries(st.sampled_from(("app", "pod-template-hash")),
                         st.sampled_from(("a", "b")), max_size=2)
# (namespace, labels, controller uid or None)
PODS = st.lists(st.tuples(st.sampled_from(("prod", "dev")), LABELS,
                          st.sampled_from((None, OWNER_UID, "other-uid"))), max_size=30)


def owner(selector: dict) -> dict:
    return {"metadata": {"name": "web", "namespace": "prod", "uid": OWNER_UID},
            "spec": {"selector": selector}}


def lister_of(pods: list) -> Lister:
    cache = Cache({CONTROLLER_INDEX: controller_index, LABEL_INDEX: label_index})
    for i, (ns, labels, uid) in enumerate(pods):
        md: dict = {"name": f"p{i:02d}", "namespace": ns, "labels": labels}
        if uid is not None:
            md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                      "name": "x", "uid": uid, "controller": True}]
        cache.upsert({"metadata": md})
    return Lister(cache)


@settings(max_examples=200, deadline=None)
@given(PODS, st.dictionaries(st.sampled_from(("app", "pod-template-hash")),
                             st.sampled_from(("a", "b")), min_size=1, max_size=2))
def test_candidates_hold_every_object_a_claim_acts_on_in_key_order(pods: list,
                                                                   match_labels: dict) -> None:
    lister = lister_of(pods)
    rs = owner({"matchLabels": match_labels})
    selector = selector_from_dict(rs["spec"]["selector"])
    everything = lister.list("prod")
    relevant = [p for p in everything
                if (controller_of(p) or {}).get("uid") == OWNER_UID
                or (controller_of(p) is None and selector.matches(p["metadata"]["labels"]))]
    candidates = claim_candidates(lister, "prod", rs)
    names = [p["metadata"]["name"] for p in candidates]
    assert names == sorted(names)
    assert all(p["metadata"]["namespace"] == "prod" for p in candidates)
    assert {id(p) for p in relevant} <= {id(p) for p in candidates}


def test_a_selector_with_expressions_claims_from_the_whole_namespace() -> None:
    lister = lister_of([("prod", {"app": "a"}, None), ("prod", {}, "other-uid"),
                        ("dev", {"app": "a"}, None)])
    rs = owner({"matchExpressions": [{"key": "app", "operator": "Exists"}]})
    assert claim_candidates(lister, "prod", rs) == lister.list("prod")
