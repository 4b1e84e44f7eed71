"""NodeAffinity: nodeSelector, required terms (operators, ORed terms, matchFields), the
PreFilter narrowing by node name, and preferred-term scoring."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.framework import PREFILTER_NODES, Code, CycleState
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.plugins import NodeAffinity

from tests.unit.scheduler.builders import expr, node, pod, required_terms

REASON = "node(s) didn't match Pod's node affinity/selector"
LABELS = {"zone": "a", "disk": "ssd", "cores": "8"}


def term(*expressions: dict, fields: list | None = None) -> dict:
    out: dict = {}
    if expressions:
        out["matchExpressions"] = list(expressions)
    if fields:
        out["matchFields"] = fields
    return out


@pytest.mark.parametrize(("spec_pod", "ok"), [
    pytest.param(pod(node_selector={"zone": "a"}), True, id="selector-match"),
    pytest.param(pod(node_selector={"zone": "b"}), False, id="selector-other-value"),
    pytest.param(pod(node_selector={"gpu": ""}), False, id="selector-missing-key"),
    pytest.param(pod(affinity=required_terms(term(expr("zone", "In", "a", "b")))), True,
                 id="in"),
    pytest.param(pod(affinity=required_terms(term(expr("zone", "NotIn", "a")))), False,
                 id="not-in"),
    pytest.param(pod(affinity=required_terms(term(expr("gpu", "NotIn", "x")))), True,
                 id="not-in-missing-key-matches"),
    pytest.param(pod(affinity=required_terms(term(expr("disk", "Exists")))), True, id="exists"),
    pytest.param(pod(affinity=required_terms(term(expr("disk", "DoesNotExist")))), False,
                 id="does-not-exist"),
    pytest.param(pod(affinity=required_terms(term(expr("cores", "Gt", "4")))), True, id="gt"),
    pytest.param(pod(affinity=required_terms(term(expr("cores", "Lt", "8")))), False, id="lt"),
    pytest.param(pod(affinity=required_terms(term(expr("zone", "Gt", "1")))), False,
                 id="gt-on-non-integer-label"),
    pytest.param(pod(affinity=required_terms(term(expr("cores", "Gt", "4", "5")))), False,
                 id="invalid-term-matches-nothing"),
    pytest.param(pod(affinity=required_terms(term(expr("zone", "In", "a"),
                                                  expr("disk", "In", "hdd")))), False,
                 id="expressions-are-anded"),
    pytest.param(pod(affinity=required_terms(term(expr("zone", "In", "b")),
                                             term(expr("disk", "In", "ssd")))), True,
                 id="terms-are-ored"),
    pytest.param(pod(affinity=required_terms(term())), False, id="empty-term-matches-nothing"),
    pytest.param(pod(affinity=required_terms(
        term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]))),
        False, id="match-fields-not-in"),
    pytest.param(pod(affinity=required_terms(
        term(fields=[{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]))),
        False, id="match-fields-needs-exactly-one-value"),
    pytest.param(pod(node_selector={"zone": "a"},
                     affinity=required_terms(term(expr("disk", "In", "hdd")))), False,
                 id="selector-and-affinity-both-required"),
])
def test_required_node_affinity(spec_pod: dict, ok: bool) -> None:
    plugin = NodeAffinity()
    info = NodeInfo(node("n1", labels=LABELS))
    state = CycleState()
    assert plugin.pre_filter(state, spec_pod, Snapshot([info])).ok
    status = plugin.filter(state, spec_pod, info)
    assert status.ok is ok
    if not ok:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [REASON]


def test_pod_without_selector_or_affinity_skips_filter() -> None:
    assert NodeAffinity().pre_filter(CycleState(), pod(), Snapshot([])).code is Code.SKIP


def names_in(*names: str) -> dict:
    return {"key": "metadata.name", "operator": "In", "values": list(names)}


@pytest.mark.parametrize(("terms", "narrowed", "code"), [
    pytest.param([term(fields=[names_in("n1")])], {"n1"}, Code.SUCCESS, id="one-term-names-node"),
    pytest.param([term(fields=[names_in("n1")]), term(fields=[names_in("n3")])], {"n1", "n3"},
                 Code.SUCCESS, id="terms-union"),
    pytest.param([term(fields=[names_in("n2"), names_in("n2")])], {"n2"}, Code.SUCCESS,
                 id="requirements-intersect"),
    pytest.param([term(fields=[names_in("n1")]), term(expr("zone", "In", "a"))], None,
                 Code.SUCCESS, id="term-without-names-keeps-all-nodes"),
    pytest.param([term(fields=[names_in("n1"), names_in("n2")])], None,
                 Code.UNSCHEDULABLE_AND_UNRESOLVABLE, id="conflicting-names"),
])
def test_prefilter_narrows_to_named_nodes(terms: list, narrowed: set | None, code: Code) -> None:
    state = CycleState()
    status = NodeAffinity().pre_filter(state, pod(affinity=required_terms(*terms)), Snapshot([]))
    assert status.code is code
    assert state.get(PREFILTER_NODES) == narrowed
    if code is not Code.SUCCESS:
        assert status.reasons == ["pod affinity terms conflict"]


def preferred(*weighted: tuple[int, dict]) -> dict:
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": w, "preference": t} for w, t in weighted]}}


def test_preferred_terms_score_by_weight_normalized() -> None:
    plugin = NodeAffinity()
    infos = [NodeInfo(node("ssd-a", labels={"disk": "ssd", "zone": "a"})),
             NodeInfo(node("ssd-b", labels={"disk": "ssd", "zone": "b"})),
             NodeInfo(node("hdd-b", labels={"disk": "hdd", "zone": "b"}))]
    p = pod(affinity=preferred((8, term(expr("disk", "In", "ssd"))),
                               (2, term(expr("zone", "In", "a"))),
                               (0, term(expr("disk", "Exists")))))
    state = CycleState()
    assert plugin.pre_score(state, p, infos).ok
    scores = {info.name: plugin.score(state, p, info) for info in infos}
    assert scores == {"ssd-a": 10, "ssd-b": 8, "hdd-b": 0}
    plugin.normalize_scores(state, p, scores)
    assert scores == {"ssd-a": 100, "ssd-b": 80, "hdd-b": 0}


def test_pod_without_preferred_terms_skips_score() -> None:
    assert NodeAffinity().pre_score(CycleState(), pod(), []).code is Code.SKIP
