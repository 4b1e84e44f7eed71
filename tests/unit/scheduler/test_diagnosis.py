"""The FailedScheduling text: upstream FitError.Error(), byte for byte."""

from __future__ import annotations

import pytest
from kubemu.cluster.scheduler.diagnosis import Diagnosis, fit_error_message
from kubemu.cluster.scheduler.framework import Code, Status


def rejected(*reasons: str) -> Status:
    return Status(Code.UNSCHEDULABLE, list(reasons))


@pytest.mark.parametrize(("num", "statuses", "kwargs", "text"), [
    pytest.param(2, [rejected("Insufficient cpu", "Insufficient memory"),
                     rejected("Insufficient cpu")], {},
                 "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
                 id="every-reason-of-a-node-counts"),
    pytest.param(13, [rejected("b")] * 10 + [rejected("a")] * 3, {},
                 "0/13 nodes are available: 10 b, 3 a.", id="sorted-as-formatted-strings"),
    pytest.param(5, [rejected("Insufficient cpu")],
                 {"absent_status": Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                          ["node(s) didn't satisfy plugin(s) [NodeAffinity]"])},
                 "0/5 nodes are available: 1 Insufficient cpu, "
                 "4 node(s) didn't satisfy plugin(s) [NodeAffinity].",
                 id="absent-nodes-share-one-status"),
    pytest.param(3, [rejected("ignored")], {"prefilter_msg": "pod affinity terms conflict"},
                 "0/3 nodes are available: pod affinity terms conflict.",
                 id="prefilter-message-alone"),
    pytest.param(1, [rejected("Insufficient cpu")],
                 {"postfilter_msg": "preemption: 0/1 nodes are available: 1 No preemption "
                                    "victims found for incoming pod."},
                 "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                 "available: 1 No preemption victims found for incoming pod.",
                 id="postfilter-suffix"),
    pytest.param(0, [], {}, "0/0 nodes are available:", id="nothing-to-say"),
])
def test_fit_error_message(num: int, statuses: list, kwargs: dict, text: str) -> None:
    assert fit_error_message(num, statuses, **kwargs) == text


def test_diagnosis_collects_rejecting_plugins() -> None:
    diagnosis = Diagnosis()
    diagnosis.add_plugin_status(rejected("x").with_plugin("NodeResourcesFit"))
    diagnosis.add_plugin_status(Status(Code.ERROR, ["boom"], "Broken"))
    diagnosis.node_to_status["n1"] = rejected("Insufficient cpu")
    assert diagnosis.unschedulable_plugins == {"NodeResourcesFit"}
    assert diagnosis.message(1) == "0/1 nodes are available: 1 Insufficient cpu."
