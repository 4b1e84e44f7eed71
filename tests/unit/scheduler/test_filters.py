"""NodeName, NodeUnschedulable and TaintToleration: filter reasons and taint scoring."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.framework import Code, CycleState
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.plugins import NodeName, NodeUnschedulable, TaintToleration

from tests.unit.scheduler.builders import node, pod

CONTROL_PLANE = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def filter_status(plugin, p: dict, info: NodeInfo):
    state = CycleState()
    if hasattr(plugin, "pre_filter"):
        status = plugin.pre_filter(state, p, Snapshot([info]))
        if status.code is Code.SKIP:
            return status
    return plugin.filter(state, p, info)


@pytest.mark.parametrize(("node_name", "code", "reasons"), [
    pytest.param("", Code.SKIP, [], id="no-node-name-skips"),
    pytest.param("n1", Code.SUCCESS, [], id="matching-name"),
    pytest.param("n2", Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                 ["node(s) didn't match the requested node name"], id="other-name"),
])
def test_node_name(node_name: str, code: Code, reasons: list) -> None:
    status = filter_status(NodeName(), pod(node_name=node_name), NodeInfo(node("n1")))
    assert (status.code, status.reasons) == (code, reasons)


@pytest.mark.parametrize(("unschedulable", "tolerations", "ok"), [
    pytest.param(False, [], True, id="schedulable-node"),
    pytest.param(True, [], False, id="cordoned-node"),
    pytest.param(True, [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                         "effect": "NoSchedule"}], True, id="tolerates-unschedulable-taint"),
    pytest.param(True, [{"operator": "Exists"}], True, id="tolerates-everything"),
    pytest.param(True, [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                         "effect": "NoExecute"}], False, id="wrong-effect"),
])
def test_node_unschedulable(unschedulable: bool, tolerations: list, ok: bool) -> None:
    info = NodeInfo(node("n1", unschedulable=unschedulable))
    status = filter_status(NodeUnschedulable(), pod(tolerations=tolerations), info)
    assert status.ok is ok
    if not ok:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) were unschedulable"]


@pytest.mark.parametrize(("taints", "tolerations", "reason"), [
    pytest.param([], [], None, id="no-taints"),
    pytest.param([CONTROL_PLANE], [],
                 "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
                 id="control-plane-empty-value"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoExecute"}], [],
                 "node(s) had untolerated taint {k: v}", id="no-execute"),
    pytest.param([{"key": "k", "value": "v", "effect": "PreferNoSchedule"}], [], None,
                 id="prefer-no-schedule-never-filters"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoSchedule"}],
                 [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}], None,
                 id="equal-toleration"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoSchedule"}],
                 [{"key": "k", "value": "v"}], None, id="empty-operator-and-effect"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoSchedule"}],
                 [{"key": "k", "value": "w"}], "node(s) had untolerated taint {k: v}",
                 id="value-differs"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoSchedule"}],
                 [{"key": "k", "operator": "Exists"}], None, id="exists-any-value"),
    pytest.param([{"key": "k", "value": "v", "effect": "NoSchedule"}],
                 [{"key": "k", "operator": "Exists", "effect": "NoExecute"}],
                 "node(s) had untolerated taint {k: v}", id="effect-differs"),
    pytest.param([{"key": "a", "value": "1", "effect": "NoSchedule"},
                  {"key": "b", "value": "2", "effect": "NoSchedule"}],
                 [{"key": "a", "operator": "Exists"}],
                 "node(s) had untolerated taint {b: 2}", id="first-untolerated-in-node-order"),
])
def test_taint_toleration_filter(taints: list, tolerations: list, reason: str | None) -> None:
    info = NodeInfo(node("n1", taints=taints))
    status = filter_status(TaintToleration(), pod(tolerations=tolerations), info)
    if reason is None:
        assert status.ok
    else:
        assert status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [reason]


def prefer(key: str) -> dict:
    return {"key": key, "value": "x", "effect": "PreferNoSchedule"}


@pytest.mark.parametrize(("tolerations", "expected"), [
    pytest.param([], {"clean": 100, "one": 50, "two": 0}, id="fewer-intolerable-is-better"),
    pytest.param([{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}],
                 {"clean": 100, "one": 100, "two": 0}, id="tolerated-taints-do-not-count"),
    pytest.param([{"operator": "Exists"}], {"clean": 100, "one": 100, "two": 100},
                 id="all-tolerated-all-100"),
    pytest.param([{"key": "a", "operator": "Exists", "effect": "NoSchedule"}],
                 {"clean": 100, "one": 50, "two": 0}, id="no-schedule-toleration-ignored"),
])
def test_taint_toleration_score(tolerations: list, expected: dict) -> None:
    plugin = TaintToleration()
    infos = [NodeInfo(node("clean")), NodeInfo(node("one", taints=[prefer("a")])),
             NodeInfo(node("two", taints=[prefer("a"), prefer("b"),
                                          {"key": "c", "effect": "NoSchedule"}]))]
    p = pod(tolerations=tolerations)
    state = CycleState()
    assert plugin.pre_score(state, p, infos).ok
    scores = {info.name: plugin.score(state, p, info) for info in infos}
    plugin.normalize_scores(state, p, scores)
    assert scores == expected
